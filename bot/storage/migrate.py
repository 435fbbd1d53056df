"""Brings a database to the schema's head: Alembic on both engines, after the legacy SQL migrations on an old file.

`upgrade(engine)` runs at every start, so a database already at head costs two small reads and nothing else.
- A new database (either engine): `alembic upgrade head` (revision 0016 is the baseline, the whole schema as the
  legacy migrations left it; numbered revisions follow in bot/storage/alembic/versions).
- A SQLite file from before Alembic (table `schema_migrations`, version N <= 16): the legacy .sql files N+1..16
  (bot/storage/legacy), each in its own transaction as `Database._migrate` ran them; then, in one transaction,
  stamp 0016, drop `schema_migrations` and upgrade to head.
- PostgreSQL: the whole upgrade is one transaction under an advisory lock, so processes starting together
  migrate once (the others wait, then find the head).
- SQLite: the stamp and the revisions run in one BEGIN IMMEDIATE transaction whatever the engine's transaction
  handling (SQLAlchemy's BEGIN recipe, driver transactions off, or pysqlite's implicit ones); foreign keys are
  off meanwhile (a batch-mode ALTER copies a table others refer to), and `PRAGMA foreign_key_check` must find
  nothing before it commits.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.schema import metadata

LEGACY_DIR = Path(__file__).parent / "legacy"
ALEMBIC_DIR = Path(__file__).parent / "alembic"
LEGACY_HEAD = 16  # the last legacy SQL migration; Alembic's baseline revision is the same schema
BASELINE = "0016"
LOCK_KEY = 0x696E_6465_7862  # pg_advisory_xact_lock's key for migrations ("indexb")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The database is in a state no migration path starts from (it is left unchanged)."""


def legacy_migrations() -> list[tuple[int, Path]]:
    """The legacy SQL migrations, (number, path) in order: 1..16 without gaps."""
    found = sorted((int(m.group(1)), p) for p in LEGACY_DIR.iterdir() if (m := _NAME.match(p.name)))
    if [n for n, _ in found] != list(range(1, LEGACY_HEAD + 1)):
        raise RuntimeError(f"legacy migrations must be numbered 1..{LEGACY_HEAD}, found {[n for n, _ in found]}")
    return found


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): the scripts shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest revision."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if found is None:
        raise RuntimeError(f"no Alembic revisions in {ALEMBIC_DIR}")
    return found


@dataclass(frozen=True)
class State:
    legacy: int | None  # MAX(version) of schema_migrations; None: no such table
    revision: str | None  # Alembic's current revision; None: none stamped
    ours: bool  # any table of the schema exists


def _state(conn: Connection) -> State:
    tables = set(inspect(conn).get_table_names())
    legacy = None
    if "schema_migrations" in tables:
        legacy = int(conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")).scalar_one())
    revision = MigrationContext.configure(conn).get_current_revision() if "alembic_version" in tables else None
    return State(legacy, revision, bool(tables & set(metadata.tables)))


def _check(state: State, dialect: str) -> None:
    if state.legacy is not None:
        if dialect != "sqlite":
            raise MigrationError("a legacy schema_migrations table outside SQLite: this database was not made by indexbot")
        if state.revision is not None:
            raise MigrationError("both schema_migrations and alembic_version: an interrupted migration by another "
                                 "version of indexbot? Restore the database from a backup")
        if state.legacy > LEGACY_HEAD:
            raise MigrationError(f"legacy schema version {state.legacy} is newer than this indexbot knows ({LEGACY_HEAD})")
    elif state.revision is None and state.ours:
        raise MigrationError("the database has indexbot's tables but no schema version: it was not made by indexbot")


def _alembic(conn: Connection, stamp_legacy: bool) -> None:
    """In the caller's transaction: the stamp of a legacy database, then every revision up to head."""
    config = alembic_config(conn)
    if stamp_legacy:
        command.stamp(config, BASELINE)
        conn.execute(text("DROP TABLE schema_migrations"))
    command.upgrade(config, "head")


# Alembic's `op` and `context` are module-level proxies to the one migration running: two upgrades at once in
# one process (tests open several databases) would send each other's statements. One at a time per event loop.
_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database behind `engine` to head (see the module's doc). Nothing is written when it is there."""
    lock = _running.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await _upgrade_sqlite(conn)
        else:
            await _upgrade_locked(conn)


async def _upgrade_locked(conn: AsyncConnection) -> None:
    async with conn.begin():
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        state = await conn.run_sync(_state)
        _check(state, conn.dialect.name)
        if state.revision != head():
            await conn.run_sync(_alembic, False)


async def _upgrade_sqlite(conn: AsyncConnection) -> None:
    state = await conn.run_sync(_state)
    await conn.rollback()
    _check(state, "sqlite")
    if state.legacy is None and state.revision == head():
        return
    raw = (await conn.get_raw_connection()).driver_connection
    if raw is None:
        raise RuntimeError("no driver connection")
    if state.legacy is not None:
        for number, path in legacy_migrations():
            if number > state.legacy:
                await _legacy(raw, number, path)
    foreign_keys = int((await _pragma(raw, "foreign_keys"))[0][0])
    await raw.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: none is open here
    try:
        async with conn.begin():
            if not raw.in_transaction:  # the driver's transactions are off (isolation_level=None) or implicit
                await conn.exec_driver_sql("BEGIN IMMEDIATE")  # (pysqlite's: DDL outside one): one of our own
            await conn.run_sync(_alembic, state.legacy is not None)
            broken = await conn.run_sync(lambda c: c.exec_driver_sql("PRAGMA foreign_key_check").fetchall())
            if broken:
                raise MigrationError(f"a migration left rows whose foreign keys point nowhere: {broken[:5]}")
    finally:
        await raw.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")


async def _legacy(raw: Any, number: int, path: Path) -> None:
    """One legacy SQL migration in its own transaction, recorded in schema_migrations as Database._migrate did."""
    try:
        await raw.executescript(
            f"BEGIN IMMEDIATE;\n{path.read_text()}\n"
            f"INSERT INTO schema_migrations VALUES ({number}, CAST(strftime('%s','now') AS INTEGER));\nCOMMIT;"
        )
    except BaseException:
        if raw.in_transaction:
            await raw.execute("ROLLBACK")
        raise


async def _pragma(raw: Any, name: str) -> list[Any]:
    cursor = await raw.execute(f"PRAGMA {name}")
    try:
        return list(await cursor.fetchall())
    finally:
        await cursor.close()
