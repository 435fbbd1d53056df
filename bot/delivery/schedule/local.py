"""The embedded default's timed work: an APScheduler (3.x) `AsyncIOScheduler` in UTC on the bot's own event loop.

One process, one SQLite file: the job store is in memory and every job runs in this process. A bot restarted
shortly after the snapshot time would not know it missed one, so `start` schedules the first run at the time just
passed when it is within the grace period (an hour), and the scheduler runs it at once.
"""

from __future__ import annotations

import asyncio
import time as clock_time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, time, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.delivery.schedule.base import GRACE, SNAPSHOT_JOB, Snapshot, SnapshotJob, _logged


class LocalSchedule(SnapshotJob):
    """`Schedule` on APScheduler, in memory (bot.delivery.schedule)."""

    def __init__(self, snapshot: Snapshot | None, snapshot_at: time, clock: Callable[[], float] = clock_time.time) -> None:
        super().__init__(snapshot, snapshot_at, clock)
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def calls(self, *runs: Callable[..., Coroutine[Any, Any, Any]]) -> None:
        """Nothing to declare: a job here holds its coroutine function itself."""

    def put(self, name: str, trigger: Any, run: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
            grace: timedelta = GRACE, **options: Any) -> None:
        """Add or replace the job `name`: `run(*args)` on `trigger` (an APScheduler trigger, or a `datetime`
        for a one-shot run). A run missed by less than `grace` (the bot was down or busy) still runs, once."""
        if isinstance(trigger, datetime):
            trigger = DateTrigger(trigger, timezone=UTC)
        if not self._scheduler.running:  # before start jobs wait in a list where replace_existing does not apply yet
            self.remove(name)
        self._scheduler.add_job(
            _logged(name, run), trigger, args=args, id=name, name=name, replace_existing=True, coalesce=True,
            misfire_grace_time=int(grace.total_seconds()), max_instances=1, **options,
        )

    def remove(self, name: str) -> bool:
        """Drop the job `name`; False when there was none."""
        try:
            self._scheduler.remove_job(name)
        except JobLookupError:
            return False
        return True

    def when(self, name: str) -> datetime | None:
        """The next run of job `name` (None: no such job, or none to come)."""
        job = self._scheduler.get_job(name)
        return job.next_run_time if job is not None and hasattr(job, "next_run_time") else None

    def names(self, prefix: str = "") -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs() if job.id.startswith(prefix))

    @property
    def scheduler(self) -> AsyncIOScheduler:
        return self._scheduler

    async def start_all(self) -> None:
        """Re-create every feature's jobs from the database, then start (from a coroutine)."""
        await self._rebuild_all()
        self.start()

    def start(self) -> None:
        """Start the scheduler on the running event loop with the built-in jobs (from a coroutine)."""
        if self._snapshot is not None:
            missed = self.missed_run()
            extra = {"next_run_time": missed} if missed is not None else {}
            self._scheduler.add_job(
                self.run_snapshot, self._trigger, id=SNAPSHOT_JOB, name=SNAPSHOT_JOB, replace_existing=True,
                coalesce=True, misfire_grace_time=int(GRACE.total_seconds()), max_instances=1, **extra,
            )
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)  # scheduled onto the loop (call_soon_threadsafe) ...
            await asyncio.sleep(0)  # ... and done here
        await self._cancel_running()

    def next_snapshot_time(self) -> int | None:
        """Unix time of the next snapshot run: the scheduled job's, or (not started) the trigger's next one."""
        job = self._scheduler.get_job(SNAPSHOT_JOB) if self._scheduler.running else None
        when = job.next_run_time if job is not None else self._next_by_trigger()
        return int(when.timestamp()) if when is not None else None
