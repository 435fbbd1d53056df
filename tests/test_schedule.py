"""The daily points snapshot job: when it is due, that it runs the snapshot, that a failure never escapes, that a
restart shortly after the snapshot time still runs it, and that the App starts and stops it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.delivery.schedule import SNAPSHOT_JOB, LocalSchedule as Schedule

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class FakeSnapshot:
    def __init__(self, fail: bool = False) -> None:
        self.runs = 0
        self.days: list[date | None] = []
        self.ran = asyncio.Event()
        self.fail = fail

    async def run(self, day: date | None = None) -> str:
        self.runs += 1
        self.days.append(day)
        self.ran.set()
        if self.fail:
            raise ConnectionError("the node went away")
        return "credited"


def clock_at(moment: datetime) -> Any:
    return lambda: moment.timestamp()


def test_next_snapshot_time_is_the_next_snapshot_at_in_utc() -> None:
    for now, want in [
        (NOON - timedelta(minutes=1), NOON),
        (NOON, NOON + timedelta(days=1)),
        (NOON + timedelta(hours=5), NOON + timedelta(days=1)),
        (NOON - timedelta(hours=13), NOON),  # 23:00 the day before
    ]:
        schedule = Schedule(FakeSnapshot(), time(12, 0), clock=clock_at(now))
        assert schedule.next_snapshot_time() == int(want.timestamp()), now
    assert Schedule(FakeSnapshot(), time(6, 30), clock=clock_at(NOON)).next_snapshot_time() == \
        int(datetime(2026, 11, 21, 6, 30, tzinfo=UTC).timestamp())


def test_a_run_missed_by_less_than_an_hour_is_run_at_start() -> None:
    assert Schedule(FakeSnapshot(), time(12, 0), clock=clock_at(NOON + timedelta(minutes=20))).missed_run() == NOON
    assert Schedule(FakeSnapshot(), time(12, 0), clock=clock_at(NOON + timedelta(minutes=61))).missed_run() is None
    assert Schedule(FakeSnapshot(), time(12, 0), clock=clock_at(NOON - timedelta(minutes=1))).missed_run() is None


async def test_the_job_is_named_for_what_it_does_and_runs_the_snapshot() -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    at = (now + timedelta(hours=2)).time()
    snapshot = FakeSnapshot()
    schedule = Schedule(snapshot, at)
    schedule.start()
    try:
        job = schedule.scheduler.get_job(SNAPSHOT_JOB)
        assert job is not None and job.name == SNAPSHOT_JOB
        assert job.coalesce and job.misfire_grace_time == 3600
        assert job.next_run_time == now + timedelta(hours=2)
        assert schedule.next_snapshot_time() == int((now + timedelta(hours=2)).timestamp())
        assert len(schedule.scheduler.get_jobs()) == 1
        await job.func()
        assert snapshot.runs == 1
    finally:
        await schedule.stop()
    assert not schedule.scheduler.running


async def test_a_restart_just_after_the_snapshot_time_runs_it_at_once() -> None:
    at = (datetime.now(UTC) - timedelta(minutes=10)).time()
    snapshot = FakeSnapshot()
    schedule = Schedule(snapshot, at)
    schedule.start()
    try:
        await asyncio.wait_for(snapshot.ran.wait(), 10)
        assert snapshot.runs == 1
        job = schedule.scheduler.get_job(SNAPSHOT_JOB)
        assert job is not None and job.next_run_time > datetime.now(UTC) + timedelta(hours=23)  # then tomorrow
    finally:
        await schedule.stop()


async def test_a_failing_snapshot_is_logged_and_the_loop_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    snapshot = FakeSnapshot(fail=True)
    schedule = Schedule(snapshot, time(12, 0))
    with caplog.at_level(logging.ERROR, logger="bot.delivery.schedule"):
        await schedule.run_snapshot()  # does not raise
    assert snapshot.runs == 1
    assert any("points snapshot failed" in r.message and r.exc_info for r in caplog.records)


async def test_the_app_runs_the_real_snapshot_from_its_job(app: App, tmp_path: Path) -> None:
    """On either engine (INDEXBOT_TEST_ENGINE=postgresql: the durable one, tests/test_schedule_durable.py)."""
    local = isinstance(app.schedule, Schedule)
    assert app.schedule is not None and app.schedule.names(SNAPSHOT_JOB) == []  # a bare App starts no jobs
    await app.start_schedule()
    assert app.schedule.names(SNAPSHOT_JOB) == [SNAPSHOT_JOB]
    if local:
        job = app.schedule.scheduler.get_job(SNAPSHOT_JOB)  # type: ignore[attr-defined]
        assert job is not None and job.func == app.schedule.run_snapshot
    await app.schedule.run_snapshot()
    row = await app.db.fetch_one("SELECT state, day FROM point_snapshots")
    assert row is not None and row.state == "credited"
    now, at = datetime.now(UTC), app.config.points.snapshot_at
    due = now.date() if now.time() >= at else now.date() - timedelta(days=1)  # before today's time: yesterday's
    assert row.day == due.isoformat()
    await app.schedule.stop()
    assert not local or not app.schedule.scheduler.running  # type: ignore[attr-defined]


def test_a_run_after_midnight_is_still_the_day_whose_snapshot_time_passed() -> None:
    late = time(23, 30)
    for now, want in [
        (datetime(2026, 11, 20, 23, 30, tzinfo=UTC), date(2026, 11, 20)),
        (datetime(2026, 11, 21, 0, 10, tzinfo=UTC), date(2026, 11, 20)),  # a catch-up run just after midnight
        (datetime(2026, 11, 21, 23, 31, tzinfo=UTC), date(2026, 11, 21)),
    ]:
        assert Schedule(FakeSnapshot(), late, clock=clock_at(now)).due_day() == want


async def test_the_job_passes_the_due_day() -> None:
    fake = FakeSnapshot()
    await Schedule(fake, time(12, 0), clock=clock_at(NOON + timedelta(minutes=3))).run_snapshot()
    assert fake.days == [NOON.date()]
