"""The database's write transactions: one at a time, and a task cancelled in the middle of one leaves none open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage.db import Database


@pytest.mark.parametrize("ticks", range(12))
async def test_a_writer_cancelled_anywhere_in_its_transaction_leaves_none_open(tmp_path: Path, ticks: int) -> None:
    """Cancelled at any point (while BEGIN runs in aiosqlite's thread, mid-write, at COMMIT), the next writer
    gets a transaction of its own and the cancelled one's write is either whole or absent."""
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")

        async def write(k: int) -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (?, 'a')", (k,))
                await tx.execute("UPDATE t SET v = 'b' WHERE k = ?", (k,))

        task = asyncio.create_task(write(1))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await write(2)  # "cannot start a transaction within a transaction" if the cancelled one left it open
        rows = [tuple(r) for r in await db.fetch_all("SELECT k, v FROM t ORDER BY k")]
        assert rows in ([(2, "b")], [(1, "b"), (2, "b")]), rows
    finally:
        await db.close()
