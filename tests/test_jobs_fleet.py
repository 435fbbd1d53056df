"""Timed jobs across a fleet, for real: three worker processes on one PostgreSQL run a job every second for 30 s, and
one of them is killed with SIGKILL in the middle of a run. Every tick runs, none twice: the engine defers each
tick once whatever the number of workers (bot.delivery.schedule.durable), and the killed worker's run is retried by
another once its heartbeat is stale (bot.jobs.engine: `retry_stalled`, with INDEXBOT_JOBS_STALLED_SECONDS=3).

The workers are tests/auxil/tick_worker.py: the bot's `Jobs` and `DurableSchedule`, and a job writing a `started`
row, then 0.8 s later a `done` row, per tick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
TICKS = 30
STALLED = 3  # seconds: INDEXBOT_JOBS_STALLED_SECONDS for these workers


def wait_for(check, seconds: float):  # type: ignore[no-untyped-def]
    """What `check` found, once it finds something; None after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found or None
        time.sleep(0.05)


def test_a_job_every_second_through_three_workers_one_killed(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ticks (due timestamptz, pid int, phase text, at timestamptz DEFAULT clock_timestamp())")
    env = {**os.environ, "INDEXBOT_JOBS_STALLED_SECONDS": str(STALLED), "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-m", "tests.auxil.tick_worker", pg_url], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready", worker.stderr
        start = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
        end = start + timedelta(seconds=TICKS - 1)
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start.isoformat()} {end.isoformat()}\n")
            worker.stdin.flush()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            def in_flight() -> int | None:  # a worker in the middle of a run, a third of the way in
                if datetime.now(UTC) < start + timedelta(seconds=TICKS // 3):
                    return None
                row = conn.execute("SELECT pid FROM ticks s WHERE phase = 'started' AND NOT EXISTS "
                                   "(SELECT 1 FROM ticks d WHERE d.due = s.due AND d.phase = 'done') LIMIT 1").fetchone()
                return row[0] if row is not None else None

            victim = wait_for(in_flight, TICKS)
            assert victim is not None, "no run under way"
            os.kill(victim, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            (killed_tick,) = conn.execute("SELECT due FROM ticks WHERE pid = %s AND phase = 'started' AND due NOT IN "
                                          "(SELECT due FROM ticks WHERE phase = 'done')", (victim,)).fetchone() or (None,)
            assert killed_tick is not None

            def all_done() -> bool:
                return conn.execute("SELECT count(DISTINCT due) FROM ticks WHERE phase = 'done'").fetchone() == (TICKS,)

            wait_for(all_done, (end - datetime.now(UTC)).total_seconds() + 15)
            done = conn.execute("SELECT due, count(*), array_agg(pid) FROM ticks WHERE phase = 'done' GROUP BY due "
                                "ORDER BY due").fetchall()
            retried = conn.execute("SELECT min(at) FROM ticks WHERE due = %s AND phase = 'started' AND pid <> %s",
                                   (killed_tick, victim)).fetchone()
            jobs = conn.execute("SELECT args->>'due', count(*), max(attempts), bool_and(status = 'succeeded') "
                                "FROM procrastinate_jobs WHERE args->>'name' = 'tick' GROUP BY 1").fetchall()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
    shown = [(due.strftime("%S.%f"), count, pids) for due, count, pids in done]
    assert [due for due, _, _ in done] == [start + timedelta(seconds=n) for n in range(TICKS)], (shown, victim, jobs)
    assert [count for _, count, _ in done] == [1] * TICKS  # none doubled
    assert victim not in [pid for _, _, pids in done if _ == killed_tick for pid in pids]  # done by another worker
    assert retried is not None and retried[0] is not None and retried[0] - killed_at >= timedelta(seconds=STALLED - 1)
    assert len(jobs) == TICKS and all(count == 1 and ok for _, count, _, ok in jobs)  # one job per tick: no fork
    # each tick's job fetched once (procrastinate counts fetches in `attempts`), the killed one's twice
    assert sorted((datetime.fromisoformat(due), attempts) for due, _, attempts, _ in jobs) == \
        [(start + timedelta(seconds=n), 2 if start + timedelta(seconds=n) == killed_tick else 1) for n in range(TICKS)]
    assert [w.returncode for w in workers if w.pid != victim] == [0, 0]  # the others stopped cleanly
