"""`Database.transaction(single=True)`: a write transaction of one statement, which SQLite runs as BEGIN IMMEDIATE,
the statement and COMMIT in one hop to aiosqlite's thread. It must still be a transaction: committed when it
returns, nothing left open when its statement fails or its writer is cancelled anywhere, and a second statement
refused rather than run outside any transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import exc

from bot.storage.db import Database

ADD = "INSERT INTO users (platform, platform_user_id, created_at, last_seen_at) VALUES ('t', :who, 0, 0)"
WHO = "SELECT platform_user_id FROM users WHERE platform = 't' ORDER BY platform_user_id"


async def _who(db: Database) -> list[str]:
    return [str(r[0]) for r in await db.fetch_all(WHO)]


async def test_a_single_statement_is_committed_and_a_failed_one_leaves_nothing_open(db: Database) -> None:
    async with db.transaction(single=True) as tx:
        assert await tx.execute(ADD, {"who": "a"}) == 1
    assert await _who(db) == ["a"]
    with pytest.raises(exc.IntegrityError):  # (platform, platform_user_id) is unique
        async with db.transaction(single=True) as tx:
            await tx.execute(ADD, {"who": "a"})
    async with db.transaction() as tx:  # "cannot start a transaction within a transaction" if one was left open
        await tx.execute(ADD, {"who": "b"})
        await tx.execute(ADD, {"who": "c"})
    async with db.transaction(single=True) as tx:
        assert await tx.scalar("SELECT COUNT(*) FROM users WHERE platform = 't'") == 3
    assert await _who(db) == ["a", "b", "c"]


async def test_a_second_statement_in_a_single_transaction_is_refused_on_sqlite(tmp_path: Path) -> None:
    """The first statement's hop committed already: the second would run outside any transaction."""
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        with pytest.raises(RuntimeError, match="second statement"):
            async with db.transaction(single=True) as tx:
                await tx.execute(ADD, {"who": "a"})
                await tx.execute(ADD, {"who": "b"})
        assert await _who(db) == ["a"]
        async with db.transaction() as tx:  # the next writer begins a transaction of its own
            await tx.execute(ADD, {"who": "c"})
            await tx.execute(ADD, {"who": "d"})
        assert await _who(db) == ["a", "c", "d"]
    finally:
        await db.close()


@pytest.mark.parametrize("ticks", range(8))
async def test_a_single_writer_cancelled_anywhere_leaves_its_write_whole_or_absent(tmp_path: Path, ticks: int) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        async def write() -> None:
            async with db.transaction(single=True) as tx:
                await tx.execute(ADD, {"who": "a"})

        task = asyncio.create_task(write())
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with db.transaction() as tx:  # fails if the cancelled one left a transaction open
            await tx.execute(ADD, {"who": "b"})
            await tx.execute(ADD, {"who": "c"})
        async with db.transaction(single=True) as tx:
            await tx.execute(ADD, {"who": "d"})
        assert await _who(db) in (["b", "c", "d"], ["a", "b", "c", "d"])
    finally:
        await db.close()
