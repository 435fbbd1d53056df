"""What `synchronous=FULL` costs, and how long the start-up's quick check takes.

No chain: a fresh SQLite file migrated by `Database.open`, once with `synchronous=NORMAL` (before issue 15) and
once with `FULL` (now: every commit synced to disk before it returns, so a power loss cannot take back an intent
or an outbox row whose transaction was already sent). In each, through the bot's own repositories, one write
transaction each (as the bot writes them):
- `Intents.create` N times, one after another (a trade's first durable step);
- `OutboxRows.add` N times, one after another (every unprompted message);
- `OutboxRows.add` N times from 8 tasks at once (they queue on the one writer, as concurrent updates do).
Then `PRAGMA quick_check` (what the start-up runs) on a database filled to --check-mb megabytes.

The file lives under --dir (default: this checkout, so on the machine's disk: /tmp may be a RAM disk, where a
sync costs nothing).

    .venv/bin/python bench/durability.py [--n 2000] [--rounds 3] [--check-mb 200] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quote import machine  # noqa: E402
from bot.storage.db import Database  # noqa: E402
from bot.storage.intents import IntentRows  # noqa: E402
from bot.storage.outbox import NewMessage, OutboxRows  # noqa: E402

Mode = Literal["NORMAL", "FULL"]


def filesystem(path: Path) -> str:
    """The filesystem type `path` is on (from /proc/mounts), or '?'."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    best = max((m for m in mounts if str(path.resolve()).startswith(m[1])), key=lambda m: len(m[1]), default=None)
    return best[2] if best else "?"


async def timed(n: int, one: Callable[[int], Awaitable[object]], tasks: int = 1) -> tuple[float, list[float]]:
    """Run `one(i)` for i < n from `tasks` tasks; (writes per second, each write's latency in ms)."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await one(i)
            latencies.append((time.perf_counter() - t) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return n / (time.perf_counter() - start), latencies


def line(name: str, rate: float, latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"  {name:<28} {rate:>9,.0f}/s   p50 {q[49]:6.2f} ms   p95 {q[94]:6.2f} ms   p99 {q[98]:6.2f} ms"


async def writes(directory: Path, mode: Mode, n: int) -> list[str]:
    db = await Database.open(directory / f"{mode.lower()}.sqlite3", synchronous=mode)
    try:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at) "
                             "VALUES (1, 'bench', '1', 0, 0)")
        intents, outbox = IntentRows(db), OutboxRows(db)

        async def intent(i: int) -> object:
            return await intents.create(user_id=1, address="0x" + "ab" * 20, kind="buy", chain_id=8453,
                                        params={"index": "MAG7.ssi", "usdc": str(100 + i)}, expires_at=2**31,
                                        platform="bench", chat_id="1")

        def message(i: int) -> NewMessage:
            return NewMessage(platform="bench", chat_id=str(i % 500), user_id=1, kind="alert", priority=1,
                              payload='{"key": "alert.price", "params": {"i": %d}}' % i, dedupe=f"{mode}:{i}")

        async def one_message(i: int) -> object:
            return await outbox.add(message(i))

        async def many_message(i: int) -> object:
            return await outbox.add(message(n + i))

        shown = [f"synchronous={mode}"]
        shown.append(line("intents, one at a time", *await timed(n, intent)))
        shown.append(line("outbox, one at a time", *await timed(n, one_message)))
        shown.append(line("outbox, 8 tasks at once", *await timed(n, many_message, tasks=8)))
        return shown
    finally:
        await db.close()


async def quick_check(directory: Path, megabytes: int) -> str:
    path = directory / "check.sqlite3"
    db = await Database.open(path)
    try:
        rows = megabytes * 1024 * 1024 // 1100
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE filler (k INTEGER PRIMARY KEY, v BLOB, w TEXT)")
            await tx.execute("CREATE INDEX filler_w ON filler (w)")
            await tx.execute(f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows}) "
                             "INSERT INTO filler SELECT i, randomblob(1000), hex(randomblob(16)) FROM s")
        await db.fetch_one("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.close()
    size = path.stat().st_size / 1024 / 1024
    start = time.perf_counter()
    db = await Database.open(path)  # the start-up's quick check is inside open()
    opened = time.perf_counter() - start
    await db.close()
    return f"quick_check at start-up: a {size:,.0f} MB database opened (checked, migrated) in {opened:.2f} s"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="writes of each kind")
    parser.add_argument("--rounds", type=int, default=3, help="NORMAL then FULL, this many times")
    parser.add_argument("--check-mb", type=int, default=200, help="size of the database the quick check reads")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[1], help="where the files go")
    args = parser.parse_args()
    print(f"machine: {machine()}; files on {filesystem(args.dir)} under {args.dir}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix=".bench-durability-") as tmp:
        for round_ in range(args.rounds):  # alternated: the shared machine's speed drifts between runs
            for mode in ("NORMAL", "FULL"):
                print(f"round {round_ + 1}, " + "\n".join(await writes(Path(tmp), mode, args.n)))  # type: ignore[arg-type]
                (Path(tmp) / f"{mode.lower()}.sqlite3").unlink()
        print(await quick_check(Path(tmp), args.check_mb))


if __name__ == "__main__":
    asyncio.run(main())
