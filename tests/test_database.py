"""The database's write transactions: one at a time, and a task cancelled in the middle of one leaves none open;
a damaged file stops the start-up at once with a clear message; the file and its directory are the owner's alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.storage.db import Database, DatabaseDamaged
from bot.storage.private import private_dir
from devnet.harness import Devnet

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))


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


# -- a damaged file: a clear refusal, never a hang ------------------------------------------------------------------


async def _truncated(path: Path) -> None:
    """A real, migrated database with some rows, cut to half its size (a copy interrupted, a full disk)."""
    db = await Database.open(path)
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE filler (k INTEGER PRIMARY KEY, v TEXT)")
        await tx.executemany("INSERT INTO filler VALUES (?, ?)", [(k, "x" * 300) for k in range(3000)])
    await db.close()
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


async def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


@pytest.mark.parametrize("damage", [_truncated, _garbage], ids=["truncated", "garbage"])
async def test_a_damaged_database_is_a_clear_refusal(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "bot.sqlite3"
    await damage(path)  # type: ignore[operator]
    with pytest.raises(DatabaseDamaged, match=r"is damaged \((file is not a database|.*malformed.*)\)"):
        await Database.open(path)


@pytest.mark.parametrize("damage", [_truncated, _garbage], ids=["truncated", "garbage"])
@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_a_damaged_database_stops_indexbot_with_a_message_not_a_hang(devnet: Devnet, tmp_path: Path,
                                                                          damage: object) -> None:
    """`indexbot chat` on a damaged file: exit 2 within the timeout (aiosqlite's thread was closed), one line
    naming the file, no traceback."""
    path = tmp_path / "bot.sqlite3"
    await damage(path)  # type: ignore[operator]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    env.update(INDEXBOT_HOME=str(tmp_path / "home"), INDEXBOT_WEB_PORT="0", INDEXBOT_CHAIN=str(devnet.profile_path),
               INDEXBOT_DB=str(path))
    out = await asyncio.to_thread(subprocess.run, [INDEXBOT, "chat", "--verbose"], input="/start\n", capture_output=True,
                                  text=True, timeout=90, env=env)
    assert out.returncode == 2, out.stderr
    assert f"indexbot: the database {path} is damaged" in out.stderr and "Restore it from a backup" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


async def test_a_sound_database_passes_the_check_and_syncs_every_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert (await db.fetch_one("PRAGMA synchronous"))[0] == 2  # type: ignore[index]  # FULL
        assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    finally:
        await db.close()


# -- the owner's alone ----------------------------------------------------------------------------------------------


async def test_the_database_and_its_directories_are_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "home" / "data" / "bot.sqlite3"
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:  # the WAL file exists now
            await tx.execute("CREATE TABLE t (k INTEGER)")
        assert path.stat().st_mode & 0o777 == 0o600
        assert Path(f"{path}-wal").stat().st_mode & 0o777 == 0o600  # SQLite gives it the database's mode
        assert (tmp_path / "home").stat().st_mode & 0o777 == 0o700
        assert path.parent.stat().st_mode & 0o777 == 0o700
    finally:
        await db.close()


async def test_an_existing_database_and_home_open_to_others_are_closed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    path = home / "bot.sqlite3"
    await (await Database.open(path)).close()
    path.chmod(0o644)
    db = await Database.open(path)
    await db.close()
    private_dir(home)
    assert path.stat().st_mode & 0o777 == 0o600 and home.stat().st_mode & 0o777 == 0o700
