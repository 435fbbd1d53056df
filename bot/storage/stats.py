"""What the database holds that an operator watches, read when Prometheus scrapes (bot/frontends/web/ops.py).

Aggregates only (counts and ages), never a row's content. The same Core queries on SQLite and PostgreSQL.

Costs: the outbox reads go through its partial indexes (`outbox_due` for pending rows, `outbox_in_flight` for
sending ones), so they cost what is queued, not what was ever sent. Intents by state counts the whole table (every
state, the finished ones too, so a rate of `mined` is trades per second): a sequential scan of the intents, a few
milliseconds per hundred thousand. On PostgreSQL, the job engine's jobs by queue and status (procrastinate's own
table, whose finished jobs the workers delete after a day: bot.jobs.engine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, text

from bot.storage.db import Database
from bot.storage.schema import intents, outbox

QUEUED = ("pending", "sending")  # the outbox states still to be settled; the others are history


@dataclass(frozen=True)
class Stats:
    outbox: dict[tuple[str, str], int]  # (platform, state) -> messages, for the states in QUEUED
    outbox_lag: dict[str, float]  # platform -> seconds the oldest message due (pending, due_at passed) has waited
    intents: dict[str, int]  # state -> intents
    jobs: dict[tuple[str, str], int]  # (queue, status) -> the job engine's jobs; empty on SQLite (no engine)


async def read(db: Database, clock: Callable[[], float]) -> Stats:
    """One reading (three short reads, no transaction: each is consistent in itself, which is all a gauge needs)."""
    now = int(clock())
    queued = await db.fetch_all(
        select(outbox.c.platform, outbox.c.state, func.count())
        .where(outbox.c.state.in_(QUEUED)).group_by(outbox.c.platform, outbox.c.state)
    )
    oldest = await db.fetch_all(
        select(outbox.c.platform, func.min(outbox.c.due_at))
        .where(outbox.c.state == "pending", outbox.c.due_at <= now).group_by(outbox.c.platform)
    )
    by_state = await db.fetch_all(select(intents.c.state, func.count()).group_by(intents.c.state))
    return Stats(
        outbox={(row[0], row[1]): int(row[2]) for row in queued},
        outbox_lag={row[0]: float(now - int(row[1])) for row in oldest},
        intents={row[0]: int(row[1]) for row in by_state},
        jobs=await _engine_jobs(db),
    )


ENGINE_JOBS = text("SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY queue_name, status")


async def _engine_jobs(db: Database) -> dict[tuple[str, str], int]:
    """procrastinate's jobs by queue and status, where it runs (PostgreSQL, its schema applied at start)."""
    if db.dialect != "postgresql" or not await db.scalar("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"):
        return {}
    return {(row[0], row[1]): int(row[2]) for row in await db.fetch_all(ENGINE_JOBS)}


async def ping(db: Database) -> None:
    """`SELECT 1`: raises unless the database answers."""
    await db.scalar("SELECT 1")
