"""The job engine of a fleet: procrastinate (3.x) on the bot's own PostgreSQL.

Why procrastinate: it keeps its jobs in the database the bot already runs (no broker to operate), it runs
the jobs of one `lock` one at a time in the order they were deferred (a chat's updates, a wallet's trades),
`queueing_lock` refuses a second waiting job of the same key (a job deferred twice), and its periodic tasks are
deferred once per tick whatever the number of workers. The bot adds nothing of its own on top of that but
the wiring below.

Every process of a fleet builds the same `App` (bot.app) and registers the same tasks on its `Jobs` (`task`);
a process in the worker role then runs them (`work`). Tasks are registered at run time, with the services
they close over, not at import: the composition root stays the one place that builds things.

Its schema is procrastinate's own, applied once by `ensure_schema` (under the migration lock, at start).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

from bot.storage.db import CONNECTIONS, libpq_url, split_connections, usable
from bot.storage.migrate import LOCK_KEY

log = logging.getLogger(__name__)

AT_ONCE = 32  # jobs one worker process runs at once: updates of different chats, timed jobs (a quote waits on the node)
# Connections of the engine's pool: each of the AT_ONCE running jobs borrows one to finish, the fetch loop one, every
# webhook's defer one. At 4, two web+worker processes on bench/scale.py answered 36 updates/s (no faster than one);
# at 16, 66 updates/s (the numbers: docs/benchmarks.md); now 12, its share of a process's 30 (bench/scale.py's later
# runs, with INDEXBOT_DATABASE_CONNECTIONS set per fleet size).
POOL_SIZE = split_connections(CONNECTIONS)[1]  # the engine's share of a process's default connections
STALLED_SECONDS = 30.0  # a worker without a heartbeat for this long is dead: its jobs are retried
# Fault tests and drills only: a shorter wait before a dead worker's jobs are retried (seconds), so a test need not
# wait 30 s; a production fleet leaves it unset (too short a value retries the jobs of a worker that is merely busy).
STALLED_ENV = "INDEXBOT_JOBS_STALLED_SECONDS"
KEEP_FINISHED_HOURS = 24  # finished jobs kept this long (a stalled run retried later still sees its successor), then deleted
SHUTDOWN_GRACE_SECONDS = 10.0  # at stop, running jobs get this long to finish
# A job deferred for later is not announced when its time comes: idle workers look this often (a timed job runs
# within this much of its time; each look is one indexed query per worker)
POLL_SECONDS = 0.5


def stalled_seconds() -> float:
    """STALLED_SECONDS, or the fault tests' INDEXBOT_JOBS_STALLED_SECONDS."""
    text = os.environ.get(STALLED_ENV, "").strip()
    try:
        value = float(text) if text else STALLED_SECONDS
    except ValueError:
        raise ValueError(f"{STALLED_ENV} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"{STALLED_ENV} must be above 0, got {text!r}")
    return value


class Jobs:
    """procrastinate's app for one process: open it, register tasks, defer jobs, run a worker."""

    def __init__(self, database_url: str, *, pool_size: int = POOL_SIZE, stalled: float = STALLED_SECONDS) -> None:
        self.conninfo = libpq_url(database_url)  # libpq's form, with its password: never logged
        logging.getLogger("psycopg.pool").setLevel(logging.WARNING)  # a line per connection borrowed, at INFO
        # Each of procrastinate's queries is one statement (a function of its schema), so its connections run in
        # autocommit: a query is one round trip, not BEGIN, the query and COMMIT (a caller wanting a transaction
        # opens one: `connection()`). A connection is checked before it is lent by `usable`, without the empty query
        # psycopg_pool's check sends each time.
        connector = procrastinate.PsycopgConnector(conninfo=self.conninfo, min_size=1, max_size=pool_size,
                                                   configure=_autocommit, pool_factory=_pool)
        self.app = procrastinate.App(connector=connector)
        self.stalled = stalled
        self._opened = False

    async def open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.app.close_async()

    async def ensure_schema(self, *extra: str) -> None:
        """Apply procrastinate's schema to a database that has none, once however many processes start together:
        under the migrations' advisory lock (bot.storage.migrate), in one transaction; then the `extra` statements
        (idempotent: `CREATE INDEX IF NOT EXISTS`) of what the bot keeps in procrastinate's tables."""
        schema = self.app.schema_manager.get_schema()
        async with self.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
                row = await cursor.fetchone()
                if row is not None and not row[0]:
                    log.info("jobs: applying procrastinate's schema")
                    await conn.execute(schema)
                for statement in extra:
                    await conn.execute(statement)

    def task(self, name: str, run: Callable[..., Awaitable[Any]], **options: Any) -> None:
        """Register `run(**kwargs)` as task `name` (JSON keyword arguments), e.g. `retry=`, `queue=`."""
        self.app.task(name=name, **options)(run)  # type: ignore[no-untyped-call]

    async def defer(self, name: str, *, lock: str | None = None, queueing_lock: str | None = None,
                    schedule_at: datetime | None = None, priority: int = 0, connection: Any = None,
                    **kwargs: Any) -> int | None:
        """Defer a job of task `name`; None when a job with the same `queueing_lock` is already waiting. With
        `connection` (a psycopg connection in a transaction of the caller's), the job is inserted in that transaction
        and a job already waiting raises AlreadyEnqueued: the failed statement has ended the transaction, which must
        not be committed as if nothing happened."""
        options: dict[str, Any] = {"lock": lock, "queueing_lock": queueing_lock, "priority": priority}
        if schedule_at is not None:
            options["schedule_at"] = schedule_at
        if connection is not None:
            return await self.app.configure_task(name, connection=connection, **options).defer_async(**kwargs)
        try:
            return await self.app.configure_task(name, **options).defer_async(**kwargs)
        except AlreadyEnqueued:
            return None

    def connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A connection of procrastinate's pool (autocommit: statements that must share a transaction with its tables
        run in `conn.transaction()`)."""
        return self.app.connector.pool.connection()  # type: ignore[attr-defined, no-any-return]

    async def work(self, *, concurrency: int = AT_ONCE, queues: list[str] | None = None, name: str | None = None) -> None:
        """Run the jobs of `queues` (all: None) until cancelled; beside it, every `stalled / 2` seconds, the jobs of
        workers that died are retried (`retry_stalled`), and finished jobs older than a day are deleted."""
        options: dict[str, Any] = {"queues": queues} if queues is not None else {}
        if name is not None:
            options["name"] = name
        upkeep = asyncio.create_task(self._upkeep())
        try:
            await self.app.run_worker_async(
                concurrency=concurrency, install_signal_handlers=False, stalled_worker_timeout=self.stalled,
                update_heartbeat_interval=self.stalled / 3, shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
                fetch_job_polling_interval=POLL_SECONDS,
                **options,
            )
        finally:
            await cancelled(upkeep)

    async def _upkeep(self) -> None:
        pruned_at = 0.0
        while True:
            await asyncio.sleep(self.stalled / 2)
            try:
                retried = await self.retry_stalled()
                if retried:
                    log.warning("jobs: %d job(s) of a worker that stopped answering retried", retried)
                if time.monotonic() - pruned_at > 3600:
                    pruned_at = time.monotonic()
                    await self.app.job_manager.delete_old_jobs(KEEP_FINISHED_HOURS, include_cancelled=True)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("jobs: stalled jobs could not be retried")

    async def retry_stalled(self) -> int:
        """Put the jobs of dead workers back to 'todo' (procrastinate's documented recipe); how many. Every worker
        runs it: a job another worker retried first is skipped."""
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled))
        retried = 0
        for job in stalled:
            assert job.id is not None
            try:
                await manager.retry_job(job)
                retried += 1
            except (ConnectorException, psycopg.Error):  # retried by another worker meanwhile: no longer 'doing'
                log.debug("jobs: stalled job %s was retried elsewhere", job.id)
        return retried


def _pool(**options: Any) -> psycopg_pool.AsyncConnectionPool:
    """procrastinate's pool, its connections checked by `usable` (a round trip fewer per query than its own check)."""
    return psycopg_pool.AsyncConnectionPool(**{**options, "check": _check})


async def _autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)


async def _check(conn: psycopg.AsyncConnection[Any]) -> None:
    if not usable(conn):
        await conn.close()  # the pool replaces a closed connection; one merely refused would be lent again
        raise psycopg.OperationalError("the server ended this pooled connection")


async def cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel a worker task and wait for it to end."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
