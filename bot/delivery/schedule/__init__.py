"""The bot's timed work, named jobs behind one small interface (`Schedule`), on one of two engines.

Features add their own named jobs with `put` (`cooldown:<user>:<token>`, `digest:<user>`, `dca:<plan>`) and
register a `rebuild` callback that re-creates their jobs from the database at start-up; putting a job under a
name that exists replaces it, so re-scheduling is harmless and a restart neither loses nor duplicates a job. The
built-in job is `points:snapshot`, the daily points snapshot (bot.delivery.schedule.base).

Which engine is the composition root's choice (bot.app), by the database:
- the embedded default (SQLite, one process): APScheduler in memory, in this process (`LocalSchedule`);
- PostgreSQL (a fleet): procrastinate, every job a row that any worker process runs, that survives restarts and the
  death of the worker running it (`DurableSchedule`, bot.delivery.schedule.durable).
Features see only `Schedule` and never ask which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.delivery.schedule.base import GRACE, RUN_DUE, SNAPSHOT_JOB, Snapshot, _logged
from bot.delivery.schedule.local import LocalSchedule

__all__ = ["GRACE", "RUN_DUE", "SNAPSHOT_JOB", "LocalSchedule", "Schedule", "Snapshot", "_logged"]


class Schedule(Protocol):
    """Named timed jobs, as features see them."""

    def put(self, name: str, trigger: Any, run: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
            grace: timedelta = GRACE, **options: Any) -> None:
        """Add or replace the job `name`: `run(*args)` on `trigger` (an APScheduler date, interval or cron trigger,
        or a `datetime`). A run missed by less than `grace` (the bot was down or busy) still runs, once."""

    def remove(self, name: str) -> bool:
        """Drop the job `name`; False when there was none."""

    def when(self, name: str) -> datetime | None:
        """The next run of job `name` (None: no such job, or none to come)."""

    def names(self, prefix: str = "") -> list[str]:
        """The jobs whose names start with `prefix`, sorted."""

    def calls(self, *runs: Callable[..., Coroutine[Any, Any, Any]]) -> None:
        """Declare coroutines a job may call (a durable job names its call; this process must know it)."""

    def rebuild(self, make_jobs: Callable[[], Awaitable[None]]) -> None:
        """Register a feature's start-up step that re-creates its jobs from the database (with `put`)."""

    def after_snapshot(self, then: Callable[[], Awaitable[None]]) -> None:
        """Register what runs after each successful points snapshot."""

    async def start_all(self) -> None:
        """Re-create every feature's jobs, then start the built-in ones (from a coroutine)."""

    async def stop(self) -> None: ...

    async def run_snapshot(self) -> None:
        """The `points:snapshot` job's run."""

    def next_snapshot_time(self) -> int | None:
        """Unix time of the next snapshot run."""
