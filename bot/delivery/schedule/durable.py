"""A fleet's timed work: each named job a procrastinate job on the bot's PostgreSQL (bot.jobs.engine).

Why this shape. A job named `name` is at most one waiting procrastinate job whose `queueing_lock` is `name`:
- `put` replaces it in one transaction under a PostgreSQL advisory lock keyed by the name (the waiting job
  cancelled, the new one deferred); a `put` of the very job that already waits changes nothing, so every worker
  putting the same jobs at start leaves one;
- a recurring job defers its next occurrence when it starts (same lock, same transaction that takes the name off
  the running job), so a running job and its next waiting one is the normal state, and a job that is not the newest
  of its name (it was replaced, removed, or it is a stalled run retried after its successor was deferred) never
  defers one: the chain cannot fork;
- `remove`, `when` and `names` read procrastinate's jobs table, so every process sees the same jobs.
Runs missed while no worker ran still run once when a worker comes back, if they are not older than the job's
grace period (checked when the job runs); runs missed meanwhile are coalesced into that one.

Which coroutine a job calls is a call name derived from the coroutine (owner class and method), and its
arguments are JSON: a row holds data, never code (never pickle). Every process registers the same calls when it
builds the App (`put`, `calls`); a job whose call this process does not know fails loudly in the log and is
retried later (bot.jobs.engine), not lost. Failures of the call itself are logged and the chain goes on, as on
APScheduler. Two runs of one name may overlap (a run longer than the interval, or a retried run of a dead worker):
the features' jobs are idempotent (outbox keys, the ledger's once-a-day credit).

The callers' interface is synchronous (features call `put` from their handlers), so these statements run on a
connection of their own, one short transaction each; the runs themselves go through procrastinate's async pool.
"""

from __future__ import annotations

import json
import logging
import time as clock_time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
from procrastinate import JobContext, RetryStrategy

from bot.delivery.schedule.base import GRACE, RUN_DUE, SNAPSHOT_JOB, Snapshot, SnapshotJob, _logged
from bot.delivery.schedule.triggers import as_trigger, first, following, from_json, same_job, to_json
from bot.jobs.engine import Jobs

log = logging.getLogger("bot.delivery.schedule")

TASK = "schedule:run"  # the procrastinate task every named job is a job of
QUEUE = "default"
LOCK_CLASS = 0x1D0B  # advisory locks (LOCK_CLASS, hashtext(name)): one name's put, remove and continuation take turns
UNKNOWN_CALL_RETRY_SECONDS = 10
CONNECT_TIMEOUT = 10  # seconds: the schedule's own connection, opened from the event loop, never waits longer

LOCK = "SELECT pg_advisory_xact_lock(%s::int, hashtext(%s))"
DEFER = ("SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(%s::varchar, %s::varchar, 0, NULL::text, %s::text, %s::jsonb, "
         "%s::timestamptz)::procrastinate_job_to_defer_v1]))")
CANCEL = "SELECT procrastinate_cancel_job_v1(%s, false, false)"  # kept, cancelled: it still marks the chain as replaced
WAITING = "SELECT id, args FROM procrastinate_jobs WHERE task_name = %s AND queueing_lock = %s AND status = 'todo'"
NEWER = "SELECT 1 FROM procrastinate_jobs WHERE task_name = %s AND args->>'name' = %s AND id > %s LIMIT 1"
RUNNING = ("SELECT 1 FROM procrastinate_jobs j WHERE task_name = %s AND args->>'name' = %s AND status = 'doing' "
           "AND args->'trigger'->>'kind' <> 'date' AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs n WHERE "
           "n.task_name = j.task_name AND n.args->>'name' = j.args->>'name' AND n.id > j.id) LIMIT 1")
# The lookups by name of jobs that no longer hold it (running, finished): an index, made with procrastinate's schema
NAME_INDEX = ("CREATE INDEX IF NOT EXISTS procrastinate_jobs_schedule_name ON procrastinate_jobs ((args->>'name'), id) "
              f"WHERE task_name = '{TASK}'")
RELEASE = "UPDATE procrastinate_jobs SET queueing_lock = NULL WHERE id = %s"
# A job still holds its name from the moment a worker takes it until its run has deferred the next one: it counts
RELEASE_TAKEN = ("UPDATE procrastinate_jobs SET queueing_lock = NULL WHERE task_name = %s AND queueing_lock = %s "
                 "AND status = 'doing'")
WHEN = ("SELECT scheduled_at FROM procrastinate_jobs WHERE task_name = %s AND queueing_lock = %s "
        "AND status IN ('todo', 'doing') ORDER BY id DESC LIMIT 1")
WAITING_ARGS = ("SELECT args, scheduled_at FROM procrastinate_jobs WHERE task_name = %s AND queueing_lock = %s "
                "AND status IN ('todo', 'doing') ORDER BY id DESC LIMIT 1")
RUNNING_ARGS = ("SELECT args FROM procrastinate_jobs WHERE task_name = %s AND args->>'name' = %s AND status = 'doing' "
                "ORDER BY id DESC LIMIT 1")
NAMES = ("SELECT DISTINCT queueing_lock FROM procrastinate_jobs WHERE task_name = %s AND status IN ('todo', 'doing') "
         "AND starts_with(queueing_lock, %s) ORDER BY queueing_lock")

Call = Callable[..., Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class WaitingJob:
    """A waiting job as APScheduler shows one (`LocalSchedule.scheduler.get_job`)."""

    id: str
    trigger: Any
    args: tuple[Any, ...]
    func: Call | None  # None: a call this process does not know
    next_run_time: datetime | None


class WaitingJobs:
    def __init__(self, schedule: DurableSchedule) -> None:
        self._schedule = schedule

    def get_job(self, name: str) -> WaitingJob | None:
        return self._schedule.waiting(name)


class UnknownCall(Exception):
    """A job names a call this process did not register: retried later (another worker, or after a deploy)."""


def call_name(run: Call) -> str:
    """A coroutine's stable name across processes: `module.Class.method` for a bound method, else `module.function`."""
    owner = getattr(run, "__self__", None)
    if owner is not None:
        return f"{type(owner).__module__}.{type(owner).__qualname__}.{getattr(run, '__name__', 'call')}"
    return f"{getattr(run, '__module__', '?')}.{getattr(run, '__qualname__', repr(run))}"


class DurableSchedule(SnapshotJob):
    """`Schedule` on procrastinate (bot.delivery.schedule)."""

    def __init__(self, jobs: Jobs, snapshot: Snapshot | None, snapshot_at: time,
                 clock: Callable[[], float] = clock_time.time) -> None:
        super().__init__(snapshot, snapshot_at, clock)
        self._jobs = jobs
        self._calls: dict[str, Call] = {}
        self._conn: psycopg.Connection[Any] | None = None
        # retried: a call this process does not know, and the database away while the next run was being deferred
        # (the call itself has not run then); a failure of the call is logged, and the chain goes on
        jobs.task(TASK, self._execute, pass_context=True,
                  retry=RetryStrategy(wait=UNKNOWN_CALL_RETRY_SECONDS, retry_exceptions=[UnknownCall, psycopg.Error]))
        self.calls(self.run_snapshot)

    # -- what features call ---------------------------------------------------------------------------------------

    def calls(self, *runs: Call) -> None:
        """Declare coroutines a job may call, so this process runs jobs that other processes put."""
        for run in runs:
            self._calls[call_name(run)] = run

    def put(self, name: str, trigger: Any, run: Call, *args: Any, grace: timedelta = GRACE, **options: Any) -> None:
        """Add or replace the job `name`: `run(*args)` on `trigger` (an APScheduler date, interval or cron trigger,
        or a `datetime`); its arguments must be JSON. A run missed by less than `grace` still runs, once."""
        self._put(name, trigger, run, args, grace, options)

    def remove(self, name: str) -> bool:
        """Drop the job `name` (a run under way finishes, and defers no next one); False when none was waiting."""
        with self._transaction(name) as conn:
            waiting = conn.execute(WAITING, (TASK, name)).fetchall()
            for job_id, _ in waiting:
                conn.execute(CANCEL, (job_id,))
            taken = conn.execute(RELEASE_TAKEN, (TASK, name)).rowcount
            if conn.execute(RUNNING, (TASK, name)).fetchone() is not None:
                # a recurring run that has not deferred its next one yet: a newer (cancelled) job of the name ends it
                (tomb,) = conn.execute(DEFER, (QUEUE, TASK, None, json.dumps({"name": name, "removed": True}),
                                               self.now())).fetchone() or (None,)
                conn.execute(CANCEL, (tomb,))
        return bool(waiting or taken)

    def when(self, name: str) -> datetime | None:
        """The next run of job `name` (None: no such job, or none to come)."""
        row = self._connection().execute(WHEN, (TASK, name)).fetchone()
        return row[0].astimezone(UTC) if row is not None and row[0] is not None else None

    def names(self, prefix: str = "") -> list[str]:
        return [row[0] for row in self._connection().execute(NAMES, (TASK, prefix)).fetchall()]

    @property
    def scheduler(self) -> WaitingJobs:
        """The waiting jobs in APScheduler's shape (`get_job(name)`), as `LocalSchedule.scheduler`: for a look inside
        (tests, an operator's shell); features use `when` and `names`."""
        return WaitingJobs(self)

    def waiting(self, name: str) -> WaitingJob | None:
        """The job waiting under `name`, read back from its row: its trigger, arguments and coroutine."""
        row = self._connection().execute(WAITING_ARGS, (TASK, name)).fetchone()
        if row is None:
            return None
        spec, when = dict(row[0]), row[1]
        run = self._calls.get(str(spec.get("call")))
        return WaitingJob(name, from_json(spec["trigger"]), tuple(spec.get("args", [])),
                          _logged(name, run) if run is not None else None, when.astimezone(UTC) if when else None)

    async def start_all(self) -> None:
        """Re-create every feature's jobs from the database (harmless in every worker: a `put` of the job that already
        waits changes nothing), and the snapshot job; the runs are the workers' (bot.jobs.engine.Jobs.work)."""
        await self._rebuild_all()
        if self._snapshot is not None:
            at = self.missed_run() if self.when(SNAPSHOT_JOB) is None else None  # first start just after the time
            self._put(SNAPSHOT_JOB, self._trigger, self.run_snapshot, (), GRACE, {}, at=at)

    async def stop(self) -> None:
        await self._cancel_running()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def next_snapshot_time(self) -> int | None:
        """Unix time of the next snapshot run: the waiting job's, or (none yet) the trigger's next one."""
        when = self.when(SNAPSHOT_JOB) or self._next_by_trigger()
        return int(when.timestamp()) if when is not None else None

    # -- the database side ------------------------------------------------------------------------------------------

    def _put(self, name: str, when: Any, run: Call, args: tuple[Any, ...], grace: timedelta, options: dict[str, Any],
             at: datetime | None = None) -> None:
        if options:
            raise TypeError(f"a durable job takes no scheduler options ({', '.join(options)})")
        trigger = as_trigger(when)
        call = call_name(run)
        try:
            encoded = json.loads(json.dumps(list(args)))
        except (TypeError, ValueError):
            encoded = None
        if encoded != list(args):
            raise ValueError(f"job {name}: its arguments must be JSON values (got {args!r})")
        self._calls[call] = run
        fire = at or first(trigger, self.now())
        spec = {"name": name, "call": call, "args": encoded, "trigger": to_json(trigger),
                "grace": grace.total_seconds(), "due": fire.isoformat() if fire is not None else None}
        with self._transaction(name) as conn:
            waiting = conn.execute(WAITING, (TASK, name)).fetchall()
            if at is None and len(waiting) == 1 and same_job(waiting[0][1], spec):
                return
            running = conn.execute(RUNNING_ARGS, (TASK, name)).fetchone() if not waiting else None
            if at is None and running is not None and same_job(running[0], spec):
                return  # this very job runs now (a one-shot job put again by a worker starting meanwhile): not twice
            for job_id, _ in waiting:
                conn.execute(CANCEL, (job_id,))
            conn.execute(RELEASE_TAKEN, (TASK, name))  # taken by a worker just now: its run defers nothing (newer)
            if fire is not None:
                conn.execute(DEFER, (QUEUE, TASK, name, json.dumps(spec), fire))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._jobs.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        return self._conn

    @contextmanager
    def _transaction(self, name: str) -> Iterator[psycopg.Connection[Any]]:
        """A transaction holding the advisory lock of one job name (sync: the callers' interface is)."""
        conn = self._connection()
        with conn.transaction():
            conn.execute(LOCK, (LOCK_CLASS, name))
            yield conn

    # -- a run ------------------------------------------------------------------------------------------------------

    async def _execute(self, context: JobContext, **job: Any) -> None:
        """One run of a named job, in a worker: the call looked up, the next occurrence deferred, then the call."""
        name, call = str(job.get("name")), str(job.get("call"))
        run = self._calls.get(call)
        if run is None:
            log.error("job %s: call %s is not registered in this process; retried in %d s", name, call,
                      UNKNOWN_CALL_RETRY_SECONDS)
            raise UnknownCall(call)
        assert context.job is not None and context.job.id is not None
        trigger, now = from_json(job["trigger"]), self.now()
        due = datetime.fromisoformat(job["due"]) if job.get("due") else now
        await self._continue(context.job.id, name, trigger, due, now, job)
        if now - due > timedelta(seconds=float(job.get("grace", GRACE.total_seconds()))):
            log.warning("job %s: its run due at %s is past its grace period; skipped", name, due.isoformat())
            return
        token = RUN_DUE.set(due)
        try:
            await _logged(name, run)(*job.get("args", []))
        finally:
            RUN_DUE.reset(token)

    async def _continue(self, job_id: int, name: str, trigger: Any, due: datetime, now: datetime,
                        spec: dict[str, Any]) -> None:
        """The run takes the name off itself and, when it is still the newest job of its name, defers the next."""
        async with self._jobs.connection() as conn:
            async with conn.transaction():
                await conn.execute(LOCK, (LOCK_CLASS, name))
                await conn.execute(RELEASE, (job_id,))
                newer = await (await conn.execute(NEWER, (TASK, name, job_id))).fetchone()
                nxt = following(trigger, due, now) if newer is None else None
                if nxt is not None:
                    following_spec = {**spec, "due": nxt.isoformat()}
                    await conn.execute(DEFER, (QUEUE, TASK, name, json.dumps(following_spec), nxt))
