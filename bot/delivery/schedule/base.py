"""What both schedules share: the daily points snapshot job (its trigger, its day, its catch-up at start) and the
logging wrapper every job runs in.

The snapshot job is the same on either engine: `points:snapshot` at `config.points.snapshot_at` (UTC); a run that
fails is logged and the loop carries on; the next day's run (or `indexbot points snapshot`) resumes it, and the
ledger credits a day once however often it runs, so a double run is harmless too.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock_time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, date, datetime, time, timedelta
from contextvars import ContextVar
from typing import Any, Protocol

from apscheduler.triggers.cron import CronTrigger

from bot.metrics import job_run

log = logging.getLogger("bot.delivery.schedule")

SNAPSHOT_JOB = "points:snapshot"
GRACE = timedelta(hours=1)  # a run missed by less than this (the bot was down or busy) still runs
# When the run under way was due, where the engine knows it (a durable job): a run retried late is still that run
RUN_DUE: ContextVar[datetime | None] = ContextVar("RUN_DUE", default=None)


class Snapshot(Protocol):
    """What the job needs of `bot.points.snapshot.Snapshotter`."""

    def run(self, day: date | None = None) -> Awaitable[Any]: ...


class SnapshotJob:
    """The `points:snapshot` job's own parts: when it is due, which day it credits, what runs after it."""

    def __init__(self, snapshot: Snapshot | None, snapshot_at: time, clock: Callable[[], float] = clock_time.time) -> None:
        self._snapshot = snapshot
        self._snapshot_at = snapshot_at
        self._trigger = CronTrigger(hour=snapshot_at.hour, minute=snapshot_at.minute, timezone=UTC)
        self._clock = clock
        self._running: asyncio.Task[Any] | None = None  # the snapshot in flight, cancelled by stop()
        self._rebuilders: list[Callable[[], Awaitable[None]]] = []
        self._after_snapshot: list[Callable[[], Awaitable[None]]] = []

    def after_snapshot(self, then: Callable[[], Awaitable[None]]) -> None:
        """Register what runs after each successful points snapshot (the digests of newly credited users)."""
        self._after_snapshot.append(then)

    def rebuild(self, make_jobs: Callable[[], Awaitable[None]]) -> None:
        """Register a feature's start-up step that re-creates its jobs from the database (with `put`)."""
        self._rebuilders.append(make_jobs)

    async def _rebuild_all(self) -> None:
        for make_jobs in self._rebuilders:
            try:
                await make_jobs()
            except Exception:  # one feature's jobs failing to load must not stop the others'
                log.exception("scheduled jobs could not be re-created by %s", getattr(make_jobs, "__qualname__", make_jobs))

    async def _cancel_running(self) -> None:
        task, self._running = self._running, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run_snapshot(self) -> None:
        """The `points:snapshot` job: the snapshot of the day whose snapshot time last passed (a catch-up run just
        after midnight is still the previous day's); a failure is logged, never raised into the scheduler."""
        if self._snapshot is None:
            return
        self._running = asyncio.current_task()
        try:
            with job_run(SNAPSHOT_JOB):  # counted in bot.metrics, a failure too
                result = await self._snapshot.run(self.due_day())
                log.info("points snapshot: %s", result)
                for then in self._after_snapshot:
                    await then()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("points snapshot failed; it resumes on the next run")
        finally:
            self._running = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def due_day(self) -> date:
        """The day of the snapshot time that passed last (UTC), or of the run under way's due time."""
        now = (RUN_DUE.get() or self.now()).astimezone(UTC)
        return now.date() if now.time() >= self._snapshot_at else now.date() - timedelta(days=1)

    def missed_run(self) -> datetime | None:
        """The snapshot time just passed, if it passed less than the grace period ago (run it at start)."""
        now = self.now()
        previous = self._trigger.get_next_fire_time(None, now - GRACE)
        return previous if previous is not None and previous <= now else None

    def _next_by_trigger(self) -> datetime | None:
        now = self.now()
        when: datetime | None = self._trigger.get_next_fire_time(None, now)
        if when is not None and when <= now:  # exactly at the snapshot time: that run is under way
            when = self._trigger.get_next_fire_time(when, when + timedelta(seconds=1))
        return when


def _logged(name: str, run: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, None]]:
    """A job's coroutine whose failure is logged with the job's name, never raised into the scheduler; its runs and
    failures are counted (bot.metrics)."""

    async def job(*args: Any) -> None:
        try:
            with job_run(name):
                await run(*args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed", name)

    return job
