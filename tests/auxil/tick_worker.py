"""A worker process for the fault test of timed jobs (tests/test_jobs_fleet.py): the bot's job engine and durable
schedule on the test's PostgreSQL, with one job `tick` every second from START to END (UTC, ISO), whose run writes
a `started` row, works for a moment, then a `done` row (table `ticks`, made by the test).

    python -m tests.auxil.tick_worker <postgresql url>

It prints `ready` once its engine is open, then reads `<start> <end>` from its standard input (the test sends it
once every worker is ready: the start of a Python process on a busy machine takes seconds), puts the job (every
process puts the same one, as a fleet's workers all do at start) and runs jobs until SIGTERM. INDEXBOT_JOBS_STALLED_SECONDS shortens the wait before a dead worker's jobs are retried.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, time

from apscheduler.triggers.cron import CronTrigger

from bot.delivery.schedule import RUN_DUE
from bot.delivery.schedule.durable import NAME_INDEX, DurableSchedule
from bot.jobs.engine import Jobs, cancelled, stalled_seconds

WORK_SECONDS = 0.8  # a run takes this long between its two rows: a kill lands inside it


class Ticker:
    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    async def tick(self) -> None:
        due = RUN_DUE.get()
        await self._row(due, "started")
        await asyncio.sleep(WORK_SECONDS)
        await self._row(due, "done")

    async def _row(self, due: datetime | None, phase: str) -> None:
        async with self.jobs.connection() as conn:
            await conn.execute("INSERT INTO ticks (due, pid, phase) VALUES (%s, %s, %s)", (due, os.getpid(), phase))


async def main(url: str) -> None:
    jobs = Jobs(url, pool_size=3, stalled=stalled_seconds())  # three of these beside other tests' bots (auxil/postgres.py)
    await jobs.open()
    await jobs.ensure_schema(NAME_INDEX)
    schedule = DurableSchedule(jobs, None, time(0, 0))
    print("ready", flush=True)
    start, end = (datetime.fromisoformat(part) for part in (await asyncio.to_thread(sys.stdin.readline)).split())
    schedule.put("tick", CronTrigger(second="*", start_date=start, end_date=end, timezone=UTC), Ticker(jobs).tick)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    worker = asyncio.create_task(jobs.work(concurrency=3))
    await stop.wait()
    await cancelled(worker)
    await schedule.stop()
    await jobs.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
