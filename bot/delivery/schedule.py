"""The bot's timed work: an APScheduler (3.x) `AsyncIOScheduler` in UTC on the bot's own event loop.

Features add their own named jobs with `put` (`cooldown:<user>:<token>`, `digest:<user>`, `dca:<plan>`) and
register a `rebuild` callback that re-creates their jobs from the database at start-up; putting a job under a
name that exists replaces it, so re-scheduling is harmless and a restart neither loses nor duplicates a job.

The built-in job is `points:snapshot`: the daily points snapshot at `config.points.snapshot_at` (UTC). Jobs are
named by what they are for and added with `replace_existing`, so scheduling again is harmless. A run that fails
is logged and the loop carries on; the next day's run (or `indexbot points snapshot`) resumes it, and the
ledger credits a day once however often it runs, so a double run is harmless too.

The job store is in memory: a bot restarted shortly after the snapshot time would not know it missed one, so
`start` schedules the first run at the time just passed when it is within the grace period (an hour), and the
scheduler runs it at once.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock_time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.jobstores.base import JobLookupError
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.metrics import job_run

log = logging.getLogger(__name__)

SNAPSHOT_JOB = "points:snapshot"
GRACE = timedelta(hours=1)  # a run missed by less than this (the bot was down or busy) still runs


class Snapshot(Protocol):
    """What the job needs of `bot.points.snapshot.Snapshotter`."""

    def run(self, day: date | None = None) -> Awaitable[Any]: ...


class Schedule:
    def __init__(self, snapshot: Snapshot | None, snapshot_at: time, clock: Callable[[], float] = clock_time.time) -> None:
        self._snapshot = snapshot
        self._snapshot_at = snapshot_at
        self._trigger = CronTrigger(hour=snapshot_at.hour, minute=snapshot_at.minute, timezone=UTC)
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: asyncio.Task[Any] | None = None  # the snapshot in flight, cancelled by stop()
        self._rebuilders: list[Callable[[], Awaitable[None]]] = []
        self._after_snapshot: list[Callable[[], Awaitable[None]]] = []

    def after_snapshot(self, then: Callable[[], Awaitable[None]]) -> None:
        """Register what runs after each successful points snapshot (the digests of newly credited users)."""
        self._after_snapshot.append(then)

    def rebuild(self, make_jobs: Callable[[], Awaitable[None]]) -> None:
        """Register a feature's start-up step that re-creates its jobs from the database (with `put`)."""
        self._rebuilders.append(make_jobs)

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
        for make_jobs in self._rebuilders:
            try:
                await make_jobs()
            except Exception:  # one feature's jobs failing to load must not stop the others'
                log.exception("scheduled jobs could not be re-created by %s", getattr(make_jobs, "__qualname__", make_jobs))
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
        """The day of the snapshot time that passed last (UTC)."""
        now = self.now()
        return now.date() if now.time() >= self._snapshot_at else now.date() - timedelta(days=1)

    def missed_run(self) -> datetime | None:
        """The snapshot time just passed, if it passed less than the grace period ago (run it at start)."""
        now = self.now()
        previous = self._trigger.get_next_fire_time(None, now - GRACE)
        return previous if previous is not None and previous <= now else None

    def next_snapshot_time(self) -> int | None:
        """Unix time of the next snapshot run: the scheduled job's, or (not started) the trigger's next one."""
        job = self._scheduler.get_job(SNAPSHOT_JOB) if self._scheduler.running else None
        if job is not None:
            when = job.next_run_time
        else:
            now = self.now()
            when = self._trigger.get_next_fire_time(None, now)
            if when is not None and when <= now:  # exactly at the snapshot time: that run is under way
                when = self._trigger.get_next_fire_time(when, when + timedelta(seconds=1))
        return int(when.timestamp()) if when is not None else None


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
