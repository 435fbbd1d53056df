"""The procrastinate `Schedule` (bot.delivery.schedule.durable) on a real PostgreSQL: put, replace, remove, when,
names; a put of the job that waits changes nothing, even from two connections at once; a recurring run defers its
next one once, never from a replaced or removed chain, never twice from a retried run; the grace period; a call this
process does not know is retried; triggers round-trip through JSON. Runs are driven through the real task function
(`_execute`) with a stand-in of procrastinate's context, and once through a real worker."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from auxil.clock import Clock
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.alerts.jobs import NAV_JOB, schedule_nav_samples
from bot.portfolio.transfers import JOB as TRANSFERS_JOB, schedule_transfers
from bot.delivery.schedule import SNAPSHOT_JOB, durable
from bot.delivery.schedule.durable import TASK, DurableSchedule, UnknownCall, call_name
from bot.delivery.schedule.triggers import from_json, to_json
from bot.jobs.engine import Jobs, cancelled

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Recorder:
    """A feature's job: records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.ran = asyncio.Event()

    async def tick(self, *args: Any) -> None:
        self.calls.append(args)
        self.ran.set()


class FakeSnapshot:
    def __init__(self) -> None:
        self.days: list[Any] = []

    async def run(self, day: Any = None) -> str:
        self.days.append(day)
        return "credited"


class Other:
    async def tick(self) -> None:
        raise AssertionError("never registered in the running process")


@pytest.fixture
async def jobs(pg_empty_url: str) -> AsyncIterator[Jobs]:
    engine = Jobs(pg_empty_url, stalled=2.0)
    await engine.open()
    await engine.ensure_schema(durable.NAME_INDEX)
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def schedule(jobs: Jobs, clock: Clock) -> AsyncIterator[DurableSchedule]:
    sched = DurableSchedule(jobs, None, time(0, 0), clock=clock)
    try:
        yield sched
    finally:
        await sched.stop()


def rows(jobs: Jobs, name: str) -> list[tuple[int, str, str | None]]:
    """Every job of `name`: (id, status, queueing lock), oldest first."""
    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
        return [(r[0], str(r[1]), r[2]) for r in conn.execute(
            "SELECT id, status, queueing_lock FROM procrastinate_jobs WHERE task_name = %s AND args->>'name' = %s "
            "ORDER BY id", (TASK, name)).fetchall()]


def waiting(jobs: Jobs, name: str) -> list[int]:
    return [job_id for job_id, status, _ in rows(jobs, name) if status == "todo"]


def job_args(jobs: Jobs, job_id: int) -> dict[str, Any]:
    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT args FROM procrastinate_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return dict(row[0])


async def run_job(schedule: DurableSchedule, jobs: Jobs, job_id: int) -> None:
    """What a worker does with a fetched job: status 'doing', then the task function with the stored arguments."""
    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,))
    context: Any = SimpleNamespace(job=SimpleNamespace(id=job_id))
    await schedule._execute(context, **job_args(jobs, job_id))
    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s AND status = 'doing'", (job_id,))


# -- put, replace, remove, when, names ------------------------------------------------------------------------------

PUTS = [
    # (what the test does, the puts in order as (name, trigger, args), what waits after: {name: (when, args)})
    ("a one-shot job", [("a:1", T0 + timedelta(hours=1), [1])], {"a:1": (T0 + timedelta(hours=1), [1])}),
    ("a datetime and its DateTrigger are the same job",
     [("a:1", T0 + timedelta(hours=1), [1]), ("a:1", DateTrigger(T0 + timedelta(hours=1)), [1])],
     {"a:1": (T0 + timedelta(hours=1), [1])}),
    ("moved to another time: replaced", [("a:1", T0 + timedelta(hours=1), [1]), ("a:1", T0 + timedelta(hours=3), [1])],
     {"a:1": (T0 + timedelta(hours=3), [1])}),
    ("other arguments: replaced", [("a:1", T0 + timedelta(hours=1), [1]), ("a:1", T0 + timedelta(hours=1), [2])],
     {"a:1": (T0 + timedelta(hours=1), [2])}),
    ("an interval's first run", [("b", IntervalTrigger(minutes=5, start_date=T0), [])],
     {"b": (T0, [])}),  # APScheduler: an interval starting now first fires now
    ("a cron job in a time zone", [("c:7", CronTrigger(hour=9, minute=30, timezone=ZoneInfo("Asia/Tokyo")), [7, "x"])],
     {"c:7": (datetime(2026, 12, 2, 0, 30, tzinfo=UTC), [7, "x"])}),
    ("two names", [("a:1", T0 + timedelta(hours=1), [1]), ("a:2", T0 + timedelta(hours=2), [2])],
     {"a:1": (T0 + timedelta(hours=1), [1]), "a:2": (T0 + timedelta(hours=2), [2])}),
]


@pytest.mark.parametrize("what, puts, after", PUTS, ids=[p[0] for p in PUTS])
async def test_put_leaves_one_waiting_job_per_name(schedule: DurableSchedule, jobs: Jobs, what: str,
                                                   puts: list[tuple[str, Any, list[Any]]],
                                                   after: dict[str, tuple[datetime, list[Any]]]) -> None:
    recorder = Recorder()
    for name, trigger, args in puts:
        schedule.put(name, trigger, recorder.tick, *args)
    assert schedule.names() == sorted(after)
    for name, (when, args) in after.items():
        assert schedule.when(name) == when, what
        (job_id,) = waiting(jobs, name)
        stored = job_args(jobs, job_id)
        assert stored["args"] == args and stored["call"] == call_name(recorder.tick) == f"{__name__}.Recorder.tick"
        assert json.loads(json.dumps(stored)) == stored  # data only
        job = schedule.scheduler.get_job(name)  # read back in APScheduler's shape
        assert job is not None and job.args == tuple(args) and job.next_run_time == when
        assert job.trigger.get_next_fire_time(None, T0) == when
    assert schedule.scheduler.get_job("nothing") is None


async def test_a_put_while_a_worker_takes_the_job_leaves_one_chain(schedule: DurableSchedule, jobs: Jobs,
                                                                    clock: Clock) -> None:
    recorder = Recorder()
    schedule.put("every", IntervalTrigger(minutes=5, start_date=T0), recorder.tick, 1)
    (taken,) = waiting(jobs, "every")
    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (taken,))
    schedule.put("every", IntervalTrigger(minutes=5, start_date=T0), recorder.tick, 2)  # moved meanwhile
    (new,) = waiting(jobs, "every")
    await schedule._execute(SimpleNamespace(job=SimpleNamespace(id=taken)), **job_args(jobs, taken))  # type: ignore[arg-type]
    assert recorder.calls == [(1,)] and waiting(jobs, "every") == [new] and schedule.names() == ["every"]


async def test_a_one_shot_job_put_again_while_it_runs_runs_once(schedule: DurableSchedule, jobs: Jobs,
                                                                 clock: Clock) -> None:
    recorder = Recorder()
    schedule.put("announce:1", T0, recorder.tick, 1)
    (job_id,) = waiting(jobs, "announce:1")
    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing', queueing_lock = NULL WHERE id = %s", (job_id,))
    schedule.put("announce:1", T0, recorder.tick, 1)  # another worker's start re-creates it from the database
    assert waiting(jobs, "announce:1") == []
    schedule.put("announce:1", T0 + timedelta(hours=1), recorder.tick, 1)  # moved: a new job
    assert len(waiting(jobs, "announce:1")) == 1


async def test_the_same_put_again_keeps_the_waiting_job(schedule: DurableSchedule, jobs: Jobs, clock: Clock) -> None:
    recorder = Recorder()
    schedule.put("every", IntervalTrigger(minutes=5, start_date=T0), recorder.tick)
    (first,) = waiting(jobs, "every")
    clock.now = (T0 + timedelta(minutes=2)).timestamp()  # a second worker starting later makes its trigger later
    schedule.put("every", IntervalTrigger(minutes=5, start_date=T0 + timedelta(minutes=2)), recorder.tick)
    assert waiting(jobs, "every") == [first] and len(rows(jobs, "every")) == 1  # kept, not replaced by itself
    schedule.put("every", IntervalTrigger(minutes=7, start_date=T0), recorder.tick)
    (second,) = waiting(jobs, "every")
    assert second != first and [s for _, s, _ in rows(jobs, "every")] == ["cancelled", "todo"]


async def test_remove_when_names(schedule: DurableSchedule) -> None:
    recorder = Recorder()
    for name in ("digest:2", "digest:10", "dca:1"):
        schedule.put(name, CronTrigger(hour=8, timezone=UTC), recorder.tick)
    assert schedule.names("digest:") == ["digest:10", "digest:2"] and schedule.names("dca") == ["dca:1"]
    assert schedule.names("digest:1") == ["digest:10"] and schedule.names("%") == []  # a prefix, not a pattern
    assert schedule.remove("digest:2") is True
    assert schedule.remove("digest:2") is False and schedule.remove("nothing") is False
    assert schedule.when("digest:2") is None and schedule.when("digest:10") == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert schedule.names() == ["dca:1", "digest:10"]


async def test_two_processes_putting_the_same_jobs_at_once_leave_one_each(jobs: Jobs, pg_empty_url: str) -> None:
    """Two workers starting together: each its own connection, the same puts at the same moment."""
    others = [Jobs(pg_empty_url) for _ in range(3)]
    schedules = [DurableSchedule(engine, None, time(0, 0), clock=Clock(T0)) for engine in others]
    recorder = Recorder()

    def start(sched: DurableSchedule) -> None:
        for n in range(20):
            sched.put(f"cooldown:{n}", T0 + timedelta(minutes=n + 1), recorder.tick, n)
            sched.put("alerts:prices", IntervalTrigger(seconds=30), recorder.tick)

    try:
        with ThreadPoolExecutor(len(schedules)) as pool:
            list(pool.map(start, schedules))
        assert len(schedules[0].names()) == 21
        for name in [f"cooldown:{n}" for n in range(20)] + ["alerts:prices"]:
            assert len(waiting(jobs, name)) == 1, name
    finally:
        for sched in schedules:
            await sched.stop()


async def test_what_a_row_cannot_hold_is_refused(schedule: DurableSchedule) -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="JSON"):
        schedule.put("x", T0, recorder.tick, object())
    with pytest.raises(ValueError, match="JSON"):
        schedule.put("x", T0, recorder.tick, (1, 2))  # a tuple would come back a list
    with pytest.raises(ValueError, match="jitter"):
        schedule.put("x", IntervalTrigger(seconds=5, jitter=2), recorder.tick)
    with pytest.raises(TypeError, match="options"):
        schedule.put("x", T0, recorder.tick, max_instances=2)
    assert schedule.names() == []


TRIGGERS = [
    DateTrigger(T0 + timedelta(minutes=1)),
    IntervalTrigger(seconds=90, start_date=T0),
    IntervalTrigger(hours=1, start_date=T0, end_date=T0 + timedelta(hours=3)),
    CronTrigger(hour=0, minute=5, timezone=UTC),
    CronTrigger(day_of_week="mon-fri", hour="9-17/4", minute=15, timezone=ZoneInfo("Europe/Berlin")),  # across DST too
    CronTrigger(second="*", start_date=T0, end_date=T0 + timedelta(seconds=29), timezone=UTC),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=str)
def test_a_trigger_round_trips_through_json(trigger: Any) -> None:
    again = from_json(json.loads(json.dumps(to_json(trigger))))
    want, got, previous, moment = [], [], None, T0 - timedelta(days=1)
    for _ in range(40):
        a = trigger.get_next_fire_time(previous, moment)
        b = again.get_next_fire_time(previous, moment)
        want.append(a)
        got.append(b)
        if a is None:
            break
        previous, moment = a, a + timedelta(days=37)  # far ahead: through a DST change for Berlin
    assert got == want and want[0] is not None


# -- runs -------------------------------------------------------------------------------------------------------------

async def test_a_recurring_run_defers_its_next_once(schedule: DurableSchedule, jobs: Jobs, clock: Clock) -> None:
    recorder = Recorder()
    schedule.put("every", IntervalTrigger(minutes=5, start_date=T0), recorder.tick, 3)
    (first,) = waiting(jobs, "every")
    clock.now = (T0 + timedelta(minutes=5, seconds=1)).timestamp()
    await run_job(schedule, jobs, first)
    assert recorder.calls == [(3,)]
    (second,) = waiting(jobs, "every")
    assert schedule.when("every") == T0 + timedelta(minutes=10) and second > first
    assert rows(jobs, "every")[0] == (first, "succeeded", None)  # the run took its name off itself

    await run_job(schedule, jobs, first)  # the same run again (a dead worker's job, retried): no second next
    assert waiting(jobs, "every") == [second] and len(recorder.calls) == 2

    clock.now = (T0 + timedelta(minutes=31)).timestamp()  # late (no worker for a while): one run, the missed ones coalesced
    await run_job(schedule, jobs, second)
    assert schedule.when("every") == T0 + timedelta(minutes=35) and len(waiting(jobs, "every")) == 1


async def test_a_replaced_or_removed_chain_defers_nothing(schedule: DurableSchedule, jobs: Jobs, clock: Clock) -> None:
    recorder = Recorder()
    schedule.put("every", IntervalTrigger(minutes=5, start_date=T0), recorder.tick)
    (old,) = waiting(jobs, "every")
    schedule.put("every", IntervalTrigger(minutes=7, start_date=T0), recorder.tick)  # replaced: the old one cancelled
    (new,) = waiting(jobs, "every")
    clock.now = (T0 + timedelta(minutes=5)).timestamp()
    await run_job(schedule, jobs, old)  # say it had been fetched just before: it runs, and defers nothing
    assert waiting(jobs, "every") == [new]

    with psycopg.connect(jobs.conninfo, autocommit=True) as conn:  # the new one is taken by a worker ...
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (new,))
    assert schedule.names() == ["every"] and schedule.when("every") == T0  # (still the job until its run goes on)
    assert schedule.remove("every") is True  # ... and removed before its run deferred the next
    context: Any = SimpleNamespace(job=SimpleNamespace(id=new))
    await schedule._execute(context, **job_args(jobs, new))
    assert waiting(jobs, "every") == [] and schedule.names() == []


GRACE_CASES = [
    # (due before now, grace, runs)
    (timedelta(minutes=30), timedelta(hours=1), 1),
    (timedelta(minutes=90), timedelta(hours=1), 0),
    (timedelta(seconds=20), timedelta(seconds=10), 0),
    (timedelta(seconds=5), timedelta(seconds=10), 1),
]


@pytest.mark.parametrize("late, grace, runs", GRACE_CASES)
async def test_a_run_missed_within_its_grace_still_runs_once(schedule: DurableSchedule, jobs: Jobs, clock: Clock,
                                                             caplog: pytest.LogCaptureFixture, late: timedelta,
                                                             grace: timedelta, runs: int) -> None:
    recorder = Recorder()
    schedule.put("once", T0, recorder.tick, 5, grace=grace)
    (job_id,) = waiting(jobs, "once")
    clock.now = (T0 + late).timestamp()
    with caplog.at_level(logging.WARNING, logger="bot.delivery.schedule"):
        await run_job(schedule, jobs, job_id)
    assert recorder.calls == [(5,)] * runs and waiting(jobs, "once") == []
    assert ("past its grace period" in caplog.text) == (runs == 0)


async def test_an_unknown_call_is_retried_not_lost(jobs: Jobs, pg_empty_url: str, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(durable, "UNKNOWN_CALL_RETRY_SECONDS", 1)
    other = Jobs(pg_empty_url)
    putter = DurableSchedule(other, None, time(0, 0))
    putter.put("elsewhere", datetime.now(UTC), Other().tick)  # put by a process that knows Other.tick
    worker = DurableSchedule(jobs, None, time(0, 0))  # a worker that does not (yet)
    recorder = Recorder()
    task = asyncio.create_task(jobs.work(concurrency=1))
    try:
        with caplog.at_level(logging.ERROR, logger="bot.delivery.schedule"):
            deadline = asyncio.get_running_loop().time() + 15
            while "is not registered in this process" not in caplog.text:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        assert f"{__name__}.Other.tick" in caplog.text
        worker._calls[call_name(Other().tick)] = recorder.tick  # deployed: the call known now (under its name)
        await asyncio.wait_for(recorder.ran.wait(), 15)  # the retry ran it
        assert recorder.calls == [()]
    finally:
        await cancelled(task)
        await putter.stop()
        await worker.stop()
    (job,) = rows(jobs, "elsewhere")
    assert job[1] == "succeeded"
    assert UnknownCall.__name__ in caplog.text or "is not registered" in caplog.text


async def test_a_real_worker_runs_a_recurring_job_and_remove_ends_it(schedule: DurableSchedule, jobs: Jobs,
                                                                     clock: Clock) -> None:
    clock.now = datetime.now(UTC).timestamp()
    schedule._clock = lambda: datetime.now(UTC).timestamp()
    recorder = Recorder()
    seen: list[datetime] = []

    async def tick(n: int) -> None:
        assert durable.RUN_DUE.get() is not None
        seen.append(durable.RUN_DUE.get())  # type: ignore[arg-type]
        await recorder.tick(n)

    schedule.put("fast", IntervalTrigger(seconds=1), tick, 9)
    task = asyncio.create_task(jobs.work(concurrency=2))
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while len(recorder.calls) < 3:
            assert asyncio.get_running_loop().time() < deadline
            assert len(waiting(jobs, "fast")) <= 1
            await asyncio.sleep(0.05)
        assert schedule.remove("fast") is True
        ran = len(recorder.calls)
    finally:
        await cancelled(task)
    assert recorder.calls == [(9,)] * ran and len(set(seen)) == ran  # each due time ran once
    assert all(b - a == timedelta(seconds=1) for a, b in zip(seen, seen[1:]))
    assert schedule.names() == [] and [s for _, s, _ in rows(jobs, "fast")].count("todo") == 0


# -- the daily snapshot ---------------------------------------------------------------------------------------------

SNAPSHOT_STARTS = [
    # (snapshot time, the first start's clock, the job's due time)
    (time(12, 0), T0 + timedelta(minutes=20), T0),  # missed by 20 min: due at once
    (time(12, 0), T0 + timedelta(minutes=61), T0 + timedelta(days=1)),  # past the grace: tomorrow's
    (time(12, 0), T0 - timedelta(minutes=1), T0),
    (time(23, 30), datetime(2026, 12, 2, 0, 10, tzinfo=UTC), datetime(2026, 12, 1, 23, 30, tzinfo=UTC)),
]


@pytest.mark.parametrize("at, now, due", SNAPSHOT_STARTS)
async def test_the_snapshot_job_of_a_fleet(jobs: Jobs, pg_empty_url: str, at: time, now: datetime, due: datetime) -> None:
    snapshot, others = FakeSnapshot(), []
    try:
        for _ in range(2):  # two workers starting: one job
            sched = DurableSchedule(Jobs(pg_empty_url) if others else jobs, snapshot, at, clock=Clock(now))
            others.append(sched)
            await sched.start_all()
        first = others[0]
        assert first.names() == [SNAPSHOT_JOB] and first.when(SNAPSHOT_JOB) == due
        assert first.next_snapshot_time() == int(due.timestamp())
        (job_id,) = waiting(jobs, SNAPSHOT_JOB)
        first._clock = Clock(due + timedelta(minutes=40))  # run late, maybe after midnight: still the due day's
        await run_job(first, jobs, job_id)
        assert snapshot.days == [due.date()]
        assert first.when(SNAPSHOT_JOB) == due + timedelta(days=1)
    finally:
        for sched in others:
            await sched.stop()


# -- /chart's NAV samples -------------------------------------------------------------------------------------------

class FakeNavHistory:
    """What the `charts:nav` job needs of bot.market.history.NavHistory: its interval and its sample run."""

    every_seconds = 900

    def __init__(self) -> None:
        self.runs = 0

    async def sample(self) -> int:
        self.runs += 1
        return 4


async def test_the_nav_sampling_job_of_a_fleet_runs_once_per_interval(jobs: Jobs, pg_empty_url: str) -> None:
    """Two workers starting each put `charts:nav`: one job waits; its run samples once and defers the next run once,
    an interval later."""
    history = FakeNavHistory()
    await fleet_runs_once_per_interval(jobs, pg_empty_url, NAV_JOB, lambda sched: schedule_nav_samples(sched, history),  # type: ignore[arg-type]
                                       lambda: history.runs, 900)


async def fleet_runs_once_per_interval(jobs: Jobs, pg_empty_url: str, name: str, put: Callable[[DurableSchedule], None],
                                       runs: Callable[[], int], every: int) -> None:
    """Two workers starting each `put` the interval job `name`: one job waits; its run runs once (`runs`) and defers
    the next run once, `every` seconds later."""
    fleet: list[DurableSchedule] = []
    try:
        for _ in range(2):
            sched = DurableSchedule(Jobs(pg_empty_url) if fleet else jobs, None, time(0, 0), clock=Clock(T0))
            put(sched)
            fleet.append(sched)
            await sched.start_all()
        first = fleet[0]
        due = first.when(name)
        assert first.names() == [name] and due is not None
        (job_id,) = waiting(jobs, name)
        first._clock = Clock(due)
        await run_job(first, jobs, job_id)
        assert runs() == 1
        assert len(waiting(jobs, name)) == 1 and first.when(name) == due + timedelta(seconds=every)
    finally:
        for sched in fleet:
            await sched.stop()


# -- transfers seen from balances ------------------------------------------------------------------------------------

EVERY = 120  # [portfolio] transfers_seconds, not the default 300: the job follows the setting


class FakeTransfers:
    """What the `portfolio:transfers` job needs of bot.portfolio.transfers.Transfers: its sweep."""

    def __init__(self) -> None:
        self.runs = 0

    async def sweep(self) -> int:
        self.runs += 1
        return 0


async def test_the_transfer_detection_job_of_a_fleet_runs_once_per_interval(jobs: Jobs, pg_empty_url: str) -> None:
    """Two workers starting each put `portfolio:transfers`: one job waits; its run sweeps once and defers the next run
    once, an interval later (the sweep itself records a transfer once, whoever runs it: tests/test_transfer_rows.py)."""
    transfers = FakeTransfers()
    await fleet_runs_once_per_interval(jobs, pg_empty_url, TRANSFERS_JOB,
                                       lambda sched: schedule_transfers(sched, transfers, EVERY),  # type: ignore[arg-type]
                                       lambda: transfers.runs, EVERY)
