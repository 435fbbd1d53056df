"""Points ledger at scale: one day's credit for 1,000,000 users, and the ranking reads after it.

No chain: a fresh SQLite file migrated by `Database.open`, filled set-based (`WITH RECURSIVE`) with what a
day's snapshot would have stored:
- N users, each with one wallet;
- point_holdings for the day: every user holds MAG7.ssi, half of them stake some, 30 % hold MEME.ssi, 20 %
  stake DEFI.ssi, 10 % stake SOSO (a boost: the ratios spread over every level);
- 10 % of the users invited by an earlier user (not qualified yet: the credit qualifies them), 1 % of those
  sharing their referrer's wallet (voided as self-referrals);
- the day's point_snapshots row in state 'reading'.
Then times `Ledger.credit(day)` (the one transaction that turns holdings into ledger rows and totals),
`standing` for a few users and `leaders`. Memory: the process's peak RSS (`ru_maxrss`, which includes SQLite's
page cache and sorter), and the peak during the credit alone (VmHWM after resetting it through
/proc/self/clear_refs). Aim: under 30 s and 500 MB on 2 cores.

    .venv/bin/python bench/ledger.py [--users 1000000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quote import machine  # noqa: E402
from bot.points.boost import BoostTable  # noqa: E402
from bot.points.config import PointsConfig  # noqa: E402
from bot.points.ledger import Ledger  # noqa: E402
from bot.storage.db import Database  # noqa: E402

DAY = date(2026, 11, 20)


def status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
        return True
    except OSError:
        return False


# A cheap deterministic spread per user: h(i, salt) in [0, 1000).
def h(salt: int) -> str:
    return f"((i * 2654435761 + {salt} * 40503) % 1000003) % 1000"


async def fill(db: Database, n: int) -> None:
    d = DAY.isoformat()
    seq = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})"
    async with db.transaction() as tx:
        await tx.execute(f"{seq} INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at, leaderboard_name) "
                         "SELECT i, 'bench', i, 0, 0, CASE WHEN i % 3 = 0 THEN 'user' || i END FROM s")
        await tx.execute(f"{seq} INSERT INTO wallets (id, user_id, kind, address, created_at) "
                         "SELECT i, i, 'custodial', printf('0x%040x', i), 0 FROM s")
        # holdings: usd_e4 between $1 and ~$10,000
        parts = [
            ("'MAG7.ssi'", "'held'", "1", f"(1 + {h(1)} * {h(2)}) * 100"),
            ("'MAG7.ssi'", "'staked'", f"{h(3)} < 500", f"(1 + {h(4)} * {h(5)}) * 50"),
            ("'MEME.ssi'", "'held'", f"{h(6)} < 300", f"(1 + {h(7)}) * 1000"),
            ("'DEFI.ssi'", "'staked'", f"{h(8)} < 200", f"(1 + {h(9)}) * 2000"),
            ("'SOSO'", "'soso'", f"{h(10)} < 100", f"(1 + {h(11)} * {h(11)}) * 20"),  # ratios from ~0 to far above 1
        ]
        for index, source, where, usd in parts:
            await tx.execute(f"{seq} INSERT INTO point_holdings (day, user_id, address, index_symbol, source, usd_e4) "
                             f"SELECT '{d}', i, printf('0x%040x', i), {index}, {source}, {usd} FROM s WHERE {where}")
        # 10 % invited by an earlier user; 1 % of those also link their referrer's wallet (self-referrals)
        await tx.execute(f"{seq} INSERT INTO referrals (invitee_id, referrer_id, joined_at) "
                         "SELECT i, 1 + (i * 7919) % (i - 1), 0 FROM s WHERE i > 1 AND i % 10 = 0")
        await tx.execute("INSERT INTO wallets (user_id, kind, address, created_at) "
                         "SELECT invitee_id, 'connected', printf('0x%040x', referrer_id), 0 FROM referrals WHERE invitee_id % 1000 = 0")
        await tx.execute("INSERT INTO point_snapshots (day, epoch, block, timestamp, state, started_at) VALUES (:day, '1', 1, 0, 'reading', 0)",
                         {"day": d})


async def run(n: int, keep: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep else Path(tmp) / "ledger.sqlite3"
        if path.exists():
            path.unlink()
        db = await Database.open(path)
        try:
            started = time.perf_counter()
            await fill(db, n)
            fill_s = time.perf_counter() - started
            counts = {t: int((await db.fetch_one(f"SELECT COUNT(*) FROM {t}"))[0])  # type: ignore[index]
                      for t in ("users", "wallets", "point_holdings", "referrals")}
            print(f"machine: {machine()}, SQLite {sqlite3.sqlite_version}")
            print(f"setup: {counts}, {fill_s:.1f} s, db {path.stat().st_size / 2**20:.0f} MB")

            ledger = Ledger(db, BoostTable(), PointsConfig())
            rss_before = status_mb("VmRSS")
            peak_reset = reset_peak()
            cpu, started = time.process_time(), time.perf_counter()
            credited = await ledger.credit(DAY)
            credit_s, credit_cpu = time.perf_counter() - started, time.process_time() - cpu
            credit_peak = status_mb("VmHWM") if peak_reset else float("nan")
            assert credited
            rows = {r[0]: int(r[1]) for r in await db.fetch_all("SELECT source, COUNT(*) FROM point_ledger GROUP BY source")}
            ranked = int((await db.fetch_one("SELECT COUNT(*) FROM point_totals"))[0])  # type: ignore[index]
            print(f"credit: {credit_s:.2f} s (CPU {credit_cpu:.2f} s), ledger rows {rows}, totals {ranked}, "
                  f"RSS {rss_before:.0f} MB before, peak during the credit {credit_peak:.0f} MB")

            again = time.perf_counter()
            assert not await ledger.credit(DAY)
            print(f"credit again: nothing changed, {(time.perf_counter() - again) * 1000:.1f} ms")

            users = [1, 10, n // 2, n - 7, n]
            latencies = []
            for uid in users:
                t = time.perf_counter()
                standing = await ledger.standing(uid, "1")
                latencies.append(time.perf_counter() - t)
            t = time.perf_counter()
            leaders = await ledger.leaders("1", 20)
            leaders_ms = (time.perf_counter() - t) * 1000
            print(f"standing: {len(users)} users, max {max(latencies) * 1000:.1f} ms, mean {sum(latencies) / len(latencies) * 1000:.1f} ms "
                  f"(last: rank {standing.rank} of {standing.ranked})")
            print(f"leaders: top 20 in {leaders_ms:.1f} ms (first {leaders[0].points} points)")
        finally:
            await db.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the whole process (ru_maxrss, setup included): {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--keep", help="build the database at this path (replaced) and keep it, for EXPLAIN QUERY PLAN")
    args = parser.parse_args()
    asyncio.run(run(args.users, args.keep))


if __name__ == "__main__":
    main()
