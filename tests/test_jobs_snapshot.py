"""The daily points snapshot on a fleet, with the worker running it killed halfway: it completes once and credits
nothing twice.

Three `indexbot run --role worker` processes on one PostgreSQL database and the devnet, as an operator runs them
(no chat token: a worker only runs jobs). The first starts alone with INDEXBOT_FAILPOINT=snapshot_after_batch: the
snapshot time has just passed, so its start puts the day's snapshot job at that time (bot.delivery.schedule), its
worker runs it, stores the first batch of wallets and SIGKILLs itself. The two others start then; once the dead
worker's heartbeat is stale one of them retries its job (bot.jobs.engine, INDEXBOT_JOBS_STALLED_SECONDS=3), which
reads on from the stored cursor and credits the day, once.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from auxil.cli import environment
from auxil.trading import custodial_user
from conftest import make_config

from bot.app import App
from bot.points.config import PointsConfig
from devnet.harness import Devnet
from devnet.rpc import Sender, connect, contract

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
USERS = 5
BATCH = 2  # wallets per batch: three batches, the first stored before the kill


def worker(home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    home.mkdir()
    log = (home / "stderr.log").open("w")
    return subprocess.Popen([INDEXBOT, "run", "--role", "worker"], cwd=ROOT, env=environment(home, **env),
                            stdout=subprocess.DEVNULL, stderr=log, text=True)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


async def until(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def test_the_snapshot_survives_its_worker_killed_halfway(chain: Devnet, pg_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    at = now.replace(second=0, microsecond=0)  # the snapshot time, just passed: the first worker's start runs it
    day = at.date().isoformat()
    points = PointsConfig(batch_wallets=BATCH, snapshot_at=at.time())
    app = await App.start(make_config(chain, tmp_path / "setup", database_url=pg_url, points=points), track_head=False)
    try:
        mag7 = app.profile.index("MAG7.ssi")
        async with connect(app.profile.rpc_urls[0]) as w3:
            sender = Sender(w3, chain_id=app.profile.chain_id)
            for n in range(USERS):
                _, address = await custodial_user(app, f"u{n}")
                await sender.transact(contract(w3, "AssetToken", mag7.token.address).functions.mint(address, (n + 1) * 10**8))
    finally:
        await app.stop()
    (tmp_path / "indexbot.toml").write_text(f'[points]\nbatch_wallets = {BATCH}\nsnapshot_at = "{at:%H:%M}"\n')
    env = {"INDEXBOT_CHAIN": str(chain.profile_path), "INDEXBOT_DATABASE_URL": pg_url, "LANG": "C.UTF-8",
           "INDEXBOT_CONFIG": str(tmp_path / "indexbot.toml"), "INDEXBOT_JOBS_STALLED_SECONDS": "3"}

    first = worker(tmp_path / "w1", {**env, "INDEXBOT_FAILPOINT": "snapshot_after_batch"})
    others: list[subprocess.Popen[str]] = []
    try:
        assert await asyncio.to_thread(first.wait, 90) == -signal.SIGKILL
        assert "failpoint snapshot_after_batch reached" in (tmp_path / "w1" / "stderr.log").read_text()
        (state, cursor), = query(pg_url, "SELECT state, next_wallet FROM point_snapshots WHERE day = %s", day)
        assert state == "reading" and cursor > 0  # halfway: the first batch stored, the day not credited
        assert query(pg_url, "SELECT count(*) FROM point_ledger WHERE day = %s", day) == [(0,)]

        others = [worker(tmp_path / f"w{n}", env) for n in (2, 3)]
        credited = await until(lambda: query(pg_url, "SELECT state FROM point_snapshots WHERE day = %s", day)
                               == [("credited",)], 60)
        logs = "\n".join((tmp_path / f"w{n}" / "stderr.log").read_text() for n in (2, 3))
        assert credited, logs[-3000:]
    finally:
        for process in [first, *others]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(process.wait, 30) for process in others]
    assert codes == [0, 0]
    assert "job(s) of a worker that stopped answering retried" in logs  # the retry of procrastinate's stalled job

    held = query(pg_url, "SELECT user_id, count(*), sum(usd_e4) FROM point_holdings WHERE day = %s GROUP BY user_id "
                         "ORDER BY sum(usd_e4)", day)
    assert [count for _, count, _ in held] == [1] * USERS  # every wallet read once, at one block
    assert [v for _, _, v in held] == sorted({v for _, _, v in held})  # 1..5 MAG7 each: five different values
    ledger = query(pg_url, "SELECT user_id, source, count(*), sum(points) FROM point_ledger WHERE day = %s "
                           "GROUP BY user_id, source ORDER BY user_id, source", day)
    assert {user for user, *_ in ledger} == {user for user, *_ in held} and all(n == 1 for _, _, n, _ in ledger)
    # the totals moved once: each user's epoch total is exactly the sum of their ledger rows
    totals = query(pg_url, "SELECT t.user_id, t.points, (SELECT sum(points) FROM point_ledger l WHERE l.user_id = "
                           "t.user_id AND l.epoch = t.epoch) FROM point_totals t")
    assert len(totals) >= USERS and all(total == summed for _, total, summed in totals), totals
    jobs = query(pg_url, "SELECT args->>'due', status, attempts FROM procrastinate_jobs WHERE args->>'name' = "
                         "'points:snapshot' ORDER BY id")
    due = datetime.fromisoformat(str(jobs[0][0]))
    assert due == at and jobs[0][1:] == ("succeeded", 2)  # one job for the day, run twice: killed, then retried
    assert [(datetime.fromisoformat(str(d)), s) for d, s, _ in jobs[1:]] == [(at + timedelta(days=1), "todo")]
