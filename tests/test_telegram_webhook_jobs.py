"""The PostgreSQL side of Telegram by webhook at the level of its connections (real PostgreSQL, real procrastinate,
the real route and sink; no chat library call leaves the process): an update and its job are committed together,
pooled connections the server ended are replaced without a failed request, and a one-statement transaction keeps
its lock when it takes one. bench/pg_cost.py counts what these save per update.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest
from sqlalchemy import func, select, text
from telegram.ext import Application

from bot.frontends.adapters.telegram_webhook import TASK, Webhook, WebhookUpdates
from bot.frontends.web.server import WebServer, bind
from bot.frontends.web.telegram_webhook import SECRET_HEADER, WebhookIngress
from bot.jobs.engine import Jobs
from bot.storage.db import Database
from bot.storage.schema import telegram_updates, users
from bot.storage.telegram_updates import TelegramUpdateRows

SECRET = "jobs-webhook-secret"
REFUSE_21 = [  # the database refuses the job of update 21 (as a full disk or a dropped connection would)
    "CREATE FUNCTION refuse_21() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.args->>'update_id' = '21' THEN RAISE EXCEPTION 'the job of update 21 refused'; END IF; RETURN NEW; END $$",
    "CREATE TRIGGER refuse_21 BEFORE INSERT ON procrastinate_jobs FOR EACH ROW EXECUTE FUNCTION refuse_21()",
]


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[tuple[Database, Jobs]]:
    db = await Database.open(pg_url)
    jobs = Jobs(pg_url, pool_size=2)
    try:
        await jobs.open()
        await jobs.ensure_schema()
        yield db, jobs
    finally:
        await jobs.close()
        async with db.transaction() as tx:  # procrastinate's schema is no migration: pg_url's reset keeps only ours
            await tx.execute("DROP TRIGGER IF EXISTS refuse_21 ON procrastinate_jobs")
            await tx.execute("DROP FUNCTION IF EXISTS refuse_21")
            await tx.execute("DELETE FROM procrastinate_jobs")
        await db.close()


def update(update_id: int, chat: int = 5) -> dict[str, Any]:
    command = {"type": "bot_command", "offset": 0, "length": 6}
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1, "text": "/quote", "entities": [command],
                                                "chat": {"id": chat, "type": "private"},
                                                "from": {"id": chat, "is_bot": False, "first_name": "A"}}}


async def post(url: str, body: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as session, \
            session.post(url, data=json.dumps(body).encode(), headers={SECRET_HEADER: SECRET}) as response:
        return response.status


async def jobs_of(db: Database, update_id: int) -> list[tuple[str, str | None]]:
    rows = await db.fetch_all("SELECT status, lock FROM procrastinate_jobs WHERE task_name = :task "
                              "AND args->>'update_id' = :id", {"task": TASK, "id": str(update_id)})
    return [(str(r.status), r.lock) for r in rows]


async def test_an_update_is_stored_exactly_when_its_job_is(pg: tuple[Database, Jobs]) -> None:
    """The row and its job are one commit: a job the database refuses leaves no row behind (a 503: Telegram posts it
    again), where a row committed first would wait for a job until someone deferred one."""
    db, jobs = pg
    rows = TelegramUpdateRows(db)
    ingress = WebhookIngress("/telegram", SECRET, rows)
    application = Application.builder().token("123:secret").build()
    updates = WebhookUpdates(Webhook("https://bot.example/telegram", SECRET, 1, rows, ingress, jobs), application)
    ingress.attach(updates)
    async with db.transaction() as tx:
        for statement in REFUSE_21:
            await tx.execute(statement)
    server = WebServer(bind("127.0.0.1", 0), "", ingress.routes())
    await server.start()
    url = f"http://127.0.0.1:{server.sock.getsockname()[1]}/telegram"
    try:
        assert await post(url, update(21)) == 503
        assert await db.scalar(select(func.count()).select_from(telegram_updates)) == 0
        assert await jobs_of(db, 21) == []
        assert await post(url, update(22)) == 200
        assert await jobs_of(db, 22) == [("todo", "telegram:5:5")]
        await db.execute("DROP TRIGGER refuse_21 ON procrastinate_jobs")
        assert await post(url, update(21)) == 200  # Telegram's next post
        assert await post(url, update(21)) == 200  # and a copy: found waiting, its job not doubled
        assert await jobs_of(db, 21) == [("todo", "telegram:5:5")]
        assert [w.update_id for w in await rows.unhandled()] == [21, 22]
    finally:
        await server.stop()


async def test_pooled_connections_the_server_ended_are_replaced_unnoticed(pg: tuple[Database, Jobs]) -> None:
    """A restart or pg_terminate_backend ends every session: the next checkout of each pool (SQLAlchemy's and
    procrastinate's) finds the connection ended without asking the server, and lends a new one."""
    db, jobs = pg
    pids = [await db.scalar("SELECT pg_backend_pid()")]  # the pooled connection each pool lends next
    async with jobs.connection() as conn:
        pids.append((await (await conn.execute("SELECT pg_backend_pid()")).fetchall())[0][0])
    async with await psycopg.AsyncConnection.connect(db.engine.url.set(drivername="postgresql")
                                                      .render_as_string(hide_password=False), autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        for _ in range(200):  # gone once the server says so
            left = await (await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                                              (pids,))).fetchone()
            if left == (0,):
                break
            await asyncio.sleep(0.01)
    assert await db.fetch_all(select(users.c.id)) == []
    async with db.transaction(single=True) as tx:
        await tx.execute(telegram_updates.insert().values(update_id=2, body="{}", received_at=0))
    assert await jobs.defer(TASK, queueing_lock="telegram:update:2", update_id=2) is not None


async def test_a_single_statement_transaction_that_locks_holds_the_lock(pg: tuple[Database, Jobs], pg_url: str) -> None:
    """`single` runs in autocommit on PostgreSQL, but a lock taken first opens a transaction that holds it until the
    statement is done; a second statement is refused, as on SQLite."""
    db, _ = pg
    await db.execute(telegram_updates.insert().values(update_id=3, body="{}", received_at=0))
    other = await Database.open(pg_url)
    try:
        async with db.transaction(single=True) as tx:
            await tx.lock(select(telegram_updates.c.update_id).where(telegram_updates.c.update_id == 3))
            with pytest.raises(Exception, match="could not obtain lock"):
                async with other.transaction() as elsewhere:
                    await elsewhere.fetch_all(text("SELECT 1 FROM telegram_updates WHERE update_id = 3 FOR UPDATE NOWAIT"))
            await tx.execute(telegram_updates.update().values(handled_at=1).where(telegram_updates.c.update_id == 3))
        assert await other.scalar(select(telegram_updates.c.handled_at).where(telegram_updates.c.update_id == 3)) == 1
        with pytest.raises(RuntimeError, match="second statement"):
            async with db.transaction(single=True) as tx:
                await tx.execute(telegram_updates.update().values(handled_at=2))
                await tx.execute(telegram_updates.update().values(handled_at=3))
    finally:
        await other.close()
