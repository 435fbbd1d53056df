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
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import make_url

from bot.storage.migrate import LOCK_KEY

log = logging.getLogger(__name__)

STALLED_SECONDS = 30.0  # a worker without a heartbeat for this long is dead: its jobs are retried


def conninfo(database_url: str) -> str:
    """libpq's form of the bot's PostgreSQL URL (procrastinate talks to psycopg directly)."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Jobs:
    """procrastinate's app for one process: open it, register tasks, defer jobs, run a worker."""

    def __init__(self, database_url: str, *, pool_size: int = 4, stalled_seconds: float = STALLED_SECONDS) -> None:
        """`stalled_seconds`: how long a worker may go without a heartbeat before its jobs count as stalled
        (`retry_stalled`); fault tests shorten it."""
        self.stalled_seconds = stalled_seconds
        connector = procrastinate.PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=pool_size)
        self.app = procrastinate.App(connector=connector)
        self._opened = False

    async def open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.app.close_async()

    async def ensure_schema(self) -> None:
        """Apply procrastinate's schema to a database that has none, once however many processes start together:
        under the migrations' advisory lock (bot.storage.migrate), in one transaction."""
        schema = self.app.schema_manager.get_schema()
        async with self.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
                row = await cursor.fetchone()
                if row is not None and not row[0]:
                    log.info("jobs: applying procrastinate's schema")
                    await conn.execute(schema)

    def task(self, name: str, run: Callable[..., Awaitable[Any]], **options: Any) -> None:
        """Register `run(**kwargs)` as task `name` (JSON keyword arguments), e.g. `retry=`, `queue=`."""
        self.app.task(name=name, **options)(run)  # type: ignore[no-untyped-call]

    async def defer(self, name: str, *, lock: str | None = None, queueing_lock: str | None = None,
                    schedule_at: datetime | None = None, priority: int = 0, **kwargs: Any) -> int | None:
        """Defer a job of task `name`; None when a job with the same `queueing_lock` is already waiting."""
        options: dict[str, Any] = {"lock": lock, "queueing_lock": queueing_lock, "priority": priority}
        if schedule_at is not None:
            options["schedule_at"] = schedule_at
        try:
            return await self.app.configure_task(name, **options).defer_async(**kwargs)
        except AlreadyEnqueued:
            return None

    async def work(self, *, concurrency: int = 8, queues: list[str] | None = None, name: str | None = None) -> None:
        """Run the jobs of `queues` (all: None) until cancelled; jobs of a worker that died are retried."""
        options: dict[str, Any] = {"queues": queues} if queues is not None else {}
        if name is not None:
            options["name"] = name
        await self.app.run_worker_async(
            concurrency=concurrency, install_signal_handlers=False, stalled_worker_timeout=self.stalled_seconds,
            update_heartbeat_interval=self.stalled_seconds / 3, **options,
        )

    async def retry_stalled(self) -> int:
        """Put the jobs of dead workers back to 'todo' (procrastinate's documented recipe); how many."""
        stalled = list(await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_seconds))
        for job in stalled:
            assert job.id is not None
            await self.app.job_manager.retry_job(job)
        return len(stalled)


async def cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel a worker task and wait for it to end."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
