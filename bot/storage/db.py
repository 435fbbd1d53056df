"""One SQLite file through aiosqlite: WAL mode, numbered migrations, serialized write transactions.

The file holds custodial keys (encrypted) and money in flight, so it is the owner's alone (0600, in a directory
created 0700), every commit is synced to disk before it returns (`synchronous=FULL`: in WAL mode NORMAL may lose
the last commits on a power loss, and an intent or an outbox row lost after its transaction was sent is money
the bot forgets; bench/durability.py measures the cost), and a damaged file stops the start-up with a clear
`DatabaseDamaged` after SQLite's quick check instead of failing later (or leaving aiosqlite's thread running).

Every front end shares one connection, and updates are handled concurrently. A single SQLite connection has
one transaction at a time, so `Database.transaction()` serializes writers with an asyncio lock and runs
BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) around them; reads fetch their rows in one call, so no cursor
is left open across an await while another task commits.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from bot.storage.private import private_file

MIGRATIONS_DIR = Path(__file__).parent / "legacy"  # the pre-Alembic migrations (bot.storage.migrate runs them)
PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=5000")


class DatabaseDamaged(Exception):
    """The database file is not a database, or SQLite's quick check finds it damaged."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"the database {path} is damaged ({detail}): nothing was changed. Restore it from a backup, "
                         f"or move it aside to start with an empty one (custodial wallets in it are then lost)")


_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
Params = Sequence[Any]


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


class Tx:
    """The statements of one write transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cur = await self._conn.execute(sql, params)
        count = cur.rowcount
        await cur.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class Database:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> Database:
        """Open (creating it 0600 if needed), check and migrate the database. `synchronous` is for the bench."""
        path = Path(path)
        private_file(path)
        conn = await aiosqlite.connect(str(path), isolation_level=None)  # transactions are explicit
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in (*PRAGMAS, f"synchronous={synchronous}"):
                await conn.execute(f"PRAGMA {pragma}")
            db = cls(conn)
            await db._check(path)
            await db._migrate()
        except sqlite3.OperationalError:  # locked, read-only, out of disk: not damage
            await conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise DatabaseDamaged(path, str(exc)) from None
        except BaseException:
            await conn.close()  # its thread too: a failed open never leaves the process unable to exit
            raise
        return db

    async def _check(self, path: Path) -> None:
        """SQLite's quick check (the integrity check without the index-content cross-check: a full read of the
        file, linear in its size; bench/durability.py times it)."""
        rows = await self.fetch_all("PRAGMA quick_check(5)")
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            raise DatabaseDamaged(path, "; ".join(problems))

    async def _migrate(self) -> None:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        row = await self.fetch_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        current = int(row[0]) if row else 0
        for number, path in migrations():
            if number > current:
                await self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{path.read_text()}\n"
                    f"INSERT INTO schema_migrations VALUES ({number}, CAST(strftime('%s','now') AS INTEGER));\nCOMMIT;"
                )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One write transaction at a time. aiosqlite runs statements in order on its own thread, and a
        statement whose caller was cancelled still runs there: so a writer cancelled anywhere (even while its
        BEGIN is on its way) queues a ROLLBACK behind it before the next writer may begin, and never leaves
        a transaction open for the next one to trip over."""
        async with self._write:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield Tx(self._conn)
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
            try:
                await asyncio.shield(self._conn.execute("COMMIT"))
            except sqlite3.Error:
                await asyncio.shield(self._rollback())
                raise

    async def _rollback(self) -> None:
        try:
            await self._conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # BEGIN itself failed (e.g. busy): there is nothing to roll back

    async def fetch_one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def close(self) -> None:
        await self._conn.close()
