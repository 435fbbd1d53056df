"""The schema and its migrations on both engines (bot.storage.schema, bot.storage.migrate, bot/storage/alembic).

- The legacy SQL migrations and Alembic's baseline build the same SQLite schema.
- After `upgrade`, the database and `schema.metadata` agree (Alembic's autogenerate finds nothing) on SQLite and
  PostgreSQL.
- An old SQLite file (legacy version 10) is upgraded in place and keeps its rows.
- `Amount` carries 0, 1 and 2**256-1 exactly on both engines.
- `upgrade` twice is `upgrade` once: the second writes nothing.

PostgreSQL: a throwaway database per test on the server of INDEXBOT_TEST_DATABASE_URL (else the local one),
dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, insert, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from auxil.storage import legacy_file

from bot.storage import migrate, schema

BIG = 2**256 - 1
Engines = Callable[[], Awaitable[AsyncEngine]]


# ---- engines ---------------------------------------------------------------------------------------------------

def sqlite_engine(path: Path, mode: str = "autocommit") -> AsyncEngine:
    """An aiosqlite engine with foreign keys on, its transactions handled one of three ways: "autocommit" as
    bot.storage.db opens it (driver transactions off, writers BEGIN IMMEDIATE themselves), "begin" (SQLAlchemy's
    recipe: BEGIN IMMEDIATE on every SQLAlchemy transaction), "pysqlite" (the driver's implicit transactions)."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}",
                                 connect_args={"isolation_level": None} if mode != "pysqlite" else {})

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if mode == "begin":
        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


SQLITE_MODES = ["autocommit", "begin", "pysqlite"]


def _server() -> Any:
    return make_url(os.environ.get("INDEXBOT_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> psycopg.Connection[Any]:
    url = _server().set(drivername="postgresql")
    if not url.database:
        url = url.set(database="postgres")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


@pytest.fixture
async def postgres() -> AsyncIterator[Engines]:
    """Makes engines on fresh throwaway PostgreSQL databases; disposes of them and drops the databases after."""
    made: list[tuple[str, AsyncEngine]] = []

    async def make() -> AsyncEngine:
        name = f"schema_{secrets.token_hex(6)}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = _server().set(drivername="postgresql+psycopg", database=name)
        engine = create_async_engine(url)
        made.append((name, engine))
        return engine

    try:
        yield make
    finally:
        for name, engine in made:
            await engine.dispose()
            with _admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Engines]:
    made: list[AsyncEngine] = []

    async def make() -> AsyncEngine:
        made.append(sqlite_engine(tmp_path / f"db{len(made)}.sqlite3"))
        return made[-1]

    try:
        yield make
    finally:
        for engine in made:
            await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engines(request: pytest.FixtureRequest) -> Engines:
    return request.getfixturevalue("sqlite" if request.param == "sqlite" else "postgres")  # type: ignore[no-any-return]


# ---- a SQLite schema, described --------------------------------------------------------------------------------

def _norm(sql: str | None) -> str:
    """SQL text compared loosely: case, whitespace, quotes and `IF NOT EXISTS` aside."""
    sql = re.sub(r"\s+", " ", (sql or "").lower().replace('"', "")).replace("if not exists ", "")
    return re.sub(r"\s*([(),])\s*", r"\1", sql).strip()


def describe(path: Path) -> dict[str, Any]:
    """Everything of a SQLite schema that matters to queries and constraints, normalized for comparison."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT IN ('schema_migrations', 'alembic_version') ORDER BY name")]
        out: dict[str, Any] = {}
        for table in tables:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = :name", {"name": table}).fetchone()[0]
            info = list(conn.execute(f"PRAGMA table_xinfo({table})"))
            # A lone PRIMARY KEY column of a rowid table: the legacy files declared it without NOT NULL (SQLite then
            # reports it nullable; an INTEGER one is the rowid and never NULL), the baseline with it, as the
            # metadata says and as PostgreSQL has it anyway. Only its NOT NULL flag is left out of the comparison.
            lone = sum(1 for r in info if r[5]) == 1 and "WITHOUT ROWID" not in sql.upper()
            columns = [(name, kind.upper(), "pk" if lone and pk else bool(notnull), default, pk)
                       for _cid, name, kind, notnull, default, pk, _hidden in info]
            fks = sorted((r[2], r[3], r[4], r[5], r[6]) for r in conn.execute(f"PRAGMA foreign_key_list({table})"))
            indexes = {}
            for _seq, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                cols = tuple((r[2], r[3]) for r in conn.execute(f"PRAGMA index_xinfo({name})") if r[5])
                index_sql = (conn.execute("SELECT sql FROM sqlite_master WHERE name = :name", {"name": name}).fetchone() or [None])[0]
                where = _norm(index_sql.split(" WHERE ", 1)[1]) if index_sql and " WHERE " in index_sql else None
                key = name if origin == "c" else f"{origin}:{cols}"  # autoindex names follow declaration order
                indexes[key] = (bool(unique), origin, bool(partial), cols, where)
            checks = sorted(_norm(m) for m in re.findall(r"CHECK\s*\(((?:[^()]|\([^()]*\))*)\)", sql, re.I))
            out[table] = {"columns": columns, "fks": fks, "indexes": indexes, "checks": checks,
                          "without_rowid": "WITHOUT ROWID" in sql.upper()}
        return out
    finally:
        conn.close()


async def _upgrade_to(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Connection) -> None:
        command.upgrade(migrate.alembic_config(conn), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, schema.metadata))


def _lone_pk_nullability(diff: list[Any]) -> tuple[list[str], list[Any]]:
    """Splits off what a legacy SQLite file differs in (see `describe`): its lone primary-key columns reported
    nullable. Returns those columns and the rest of the diff."""
    columns, rest = [], []
    for item in diff:
        if isinstance(item, list) and len(item) == 1 and item[0][0] == "modify_nullable" and item[0][6] is False:
            column = schema.metadata.tables[item[0][2]].c[item[0][3]]
            if column.primary_key and len(column.table.primary_key.columns) == 1:
                columns.append(f"{item[0][2]}.{item[0][3]}")
                continue
        rest.append(item)
    return sorted(columns), rest


# ---- the tests ---------------------------------------------------------------------------------------------------

async def test_legacy_sql_and_alembic_baseline_build_the_same_sqlite_schema(tmp_path: Path) -> None:
    legacy_file(tmp_path / "legacy.sqlite3", migrate.LEGACY_HEAD)
    engine = sqlite_engine(tmp_path / "alembic.sqlite3")
    try:
        await _upgrade_to(engine, migrate.BASELINE)
    finally:
        await engine.dispose()
    legacy, baseline = describe(tmp_path / "legacy.sqlite3"), describe(tmp_path / "alembic.sqlite3")
    assert sorted(baseline) == sorted(legacy)
    for table in legacy:
        assert baseline[table] == legacy[table], table
    # the comparison sees what it must: partial indexes, WITHOUT ROWID, CHECKs, rowid-alias primary keys
    assert legacy["outbox"]["indexes"]["outbox_due"][4] == "state = 'pending'"
    assert legacy["point_ledger"]["without_rowid"] and not legacy["users"]["without_rowid"]
    assert legacy["wallets"]["checks"] == ["kind in('custodial','connected')"]
    assert ("id", "INTEGER", "pk", None, 1) in legacy["users"]["columns"]


def _wheres(conn: Connection) -> dict[str, str | None]:
    """Each index's WHERE (None: not partial), normalized; Alembic's comparison leaves them out."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")).all()
    else:
        rows = conn.execute(text(  # indexes of their own, not those behind a PRIMARY KEY or UNIQUE constraint
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        )).all()
    return {name: _where_of(sql) for name, sql in rows}


def _where_of(sql: str) -> str | None:
    if " WHERE " not in sql:
        return None
    where = _norm(sql.split(" WHERE ", 1)[1])
    where = re.sub(r"::text(\[\])?", "", where)  # PostgreSQL spells IN as = ANY (ARRAY[...]) with casts
    if (found := re.fullmatch(r"\(*(\w+) <> all\(array\[(.*)\]\)\)*", where)):
        return f"{found[1]} not in({found[2]})"
    if (found := re.fullmatch(r"\(*(\w+) = any\(array\[(.*)\]\)\)*", where)):
        return f"{found[1]} in({found[2]})"
    while where.startswith("(") and where.endswith(")") and _balanced(where[1:-1]):
        where = where[1:-1]
    return where


def _balanced(sql: str) -> bool:
    depth = 0
    for char in sql:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


async def test_head_matches_the_metadata(engines: Engines) -> None:
    engine = await engines()
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == migrate.head()
        wheres = await conn.run_sync(_wheres)
    dialect = engine.dialect.name
    expected = {index.name: (None if (w := index.dialect_options[dialect]["where"]) is None else _norm(str(w)))
                for table in schema.metadata.tables.values() for index in table.indexes}
    assert wheres == expected
    assert sum(w is not None for w in wheres.values()) == 16  # the partial ones


async def test_a_diff_is_found(sqlite: Engines) -> None:
    """The comparison above can fail: a database at the baseline differs from the metadata (0017's type, 0018's
    NOT NULL, the tables of 0019, 0020, 0021, 0022 and 0023 and their indexes, 0024's column, 0025's column and table,
    0026's column and index, 0027's table and index, 0028's table and index, 0029's table, its index and its column, 0030's table and its two indexes; 0031's two columns and 0034's are part of that table, 0032's table and index, 0033's two indexes on fills, 0035's index on the outbox)."""
    engine = await sqlite()
    await _upgrade_to(engine, migrate.BASELINE)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert sorted(d[0][0] if isinstance(d, list) else d[0] for d in diff) == ["add_column", "add_column", "add_column",
                                                                              "add_index", "add_index", "add_index", "add_index",
                                                                              "add_index", "add_index", "add_index", "add_index",
                                                                              "add_index", "add_index", "add_index", "add_index", "add_index",
                                                                              "add_index",
                                                                              "add_table", "add_table", "add_table", "add_table", "add_table",
                                                                              "add_table", "add_table", "add_table", "add_table",
                                                                              "add_table", "add_table",
                                                                              "modify_nullable", "modify_type"]


@pytest.mark.parametrize("mode", SQLITE_MODES)
async def test_an_old_sqlite_file_is_upgraded_in_place(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "old.sqlite3"
    legacy_file(path, 10)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at) VALUES (7, 'console', 'u', 1, 2)")
    conn.execute("INSERT INTO dca_plans (id, user_id, token, usdc_units, cadence, at_minute, zone, platform, chat_id, state, "
                 "created_at) VALUES (3, 7, 'MAG7.ssi', 25000000, 'daily', 540, 'UTC', 'console', 'c', 'active', 5)")
    conn.execute("INSERT INTO dca_runs (plan_id, due_at) VALUES (3, 100)")
    conn.execute("INSERT INTO intents (id, user_id, address, kind, chain_id, params, state, quote_expires_at, platform, "
                 "chat_id, created_at, updated_at) VALUES (1, 7, '0xa', 'buy', 8453, '{}', 'mined', 0, 'console', 'c', 1, 1)")
    conn.execute("INSERT INTO issuance_orders (intent_id, user_id, chain, factory, index_symbol, side, nonce, amount_in, "
                 "requested_at, requested_block, state) VALUES (1, 7, 'base', '0xf', 'MAG7', 'issue', 0, :amount, 1, 1, 'pending')",
                 {"amount": str(BIG)})
    conn.close()

    for again in (mode, "begin"):  # the second finds it at head
        engine = sqlite_engine(path, again)
        try:
            await migrate.upgrade(engine)
            async with engine.connect() as db:
                user = (await db.execute(select(schema.users.c.platform_user_id, schema.users.c.leaderboard_key)
                                         .where(schema.users.c.id == 7))).one()
                plan = (await db.execute(select(schema.dca_plans.c.usdc_units, schema.dca_plans.c.state))).one()
                runs = (await db.execute(select(schema.dca_runs.c.plan_id, schema.dca_runs.c.due_at))).all()
                amount = await db.scalar(select(schema.issuance_orders.c.amount_in))
                stored = await db.scalar(text("SELECT typeof(usdc_units) FROM dca_plans"))
                foreign_keys = await db.scalar(text("PRAGMA foreign_keys"))
                tables = set(await db.run_sync(lambda c: inspect(c).get_table_names()))
                version = await db.scalar(text("SELECT version_num FROM alembic_version"))
        finally:
            await engine.dispose()
        assert tuple(user) == ("u", None)
        assert tuple(plan) == (25000000, "active") and stored == "text"
        assert [tuple(r) for r in runs] == [(3, 100)]
        assert amount == BIG
        assert foreign_keys == 1  # restored after the migration turned it off
        assert "schema_migrations" not in tables and {"chain_bindings", "telegram_presses"} <= tables
        assert version == migrate.head()

    fresh = sqlite_engine(tmp_path / "fresh.sqlite3")
    try:
        await migrate.upgrade(fresh)
    finally:
        await fresh.dispose()
    assert describe(path) == describe(tmp_path / "fresh.sqlite3")


async def test_a_legacy_file_at_its_last_version_is_stamped(tmp_path: Path) -> None:
    path = tmp_path / "l16.sqlite3"
    legacy_file(path, migrate.LEGACY_HEAD)
    engine = sqlite_engine(path)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            columns, rest = _lone_pk_nullability(await conn.run_sync(_diff))
    finally:
        await engine.dispose()
    assert rest == []
    lone = sorted(f"{t.name}.{t.primary_key.columns[0].name}" for t in schema.metadata.tables.values()
                  if len(t.primary_key.columns) == 1
                  and t.name not in ("dca_plans", "intent_txs", "telegram_updates", "discord_interactions", "send_pace",
                                     "miniapp_init_data", "reserve_state", "fills", "limit_orders",
                                     "limit_order_clock"))
    # 0017 copied dca_plans anew, 0018 intent_txs; 0019 made telegram_updates, 0020 discord_interactions, 0021 send_pace,
    # 0022 miniapp_init_data, 0025 reserve_state, 0028 fills, 0030 limit_orders, 0032 limit_order_clock
    assert columns == lone


async def test_amounts_round_trip_exactly(engines: Engines) -> None:
    engine = await engines()
    await migrate.upgrade(engine)
    events = schema.lock_events
    values = [0, 1, BIG]
    async with engine.begin() as conn:
        await conn.execute(insert(events), [dict(locker="0xa", token="0xt", block=1, log_index=i, amount=v)
                                            for i, v in enumerate(values)])
    async with engine.connect() as conn:
        back = (await conn.execute(select(events.c.amount).order_by(events.c.log_index))).scalars().all()
        found = await conn.scalar(select(events.c.log_index).where(events.c.amount == BIG))
        if engine.dialect.name == "sqlite":
            stored = await conn.scalar(text("SELECT amount FROM lock_events WHERE log_index = 2"))
            assert stored == str(BIG)
        with pytest.raises(StatementError):
            await conn.execute(insert(events).values(locker="0xb", token="0xt", block=1, log_index=0, amount=1.5))
    assert back == values and all(type(v) is int for v in back)
    assert found == 2


async def test_upgrade_twice_is_upgrade_once(engines: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = await engines()
    await migrate.upgrade(engine)
    version = "PRAGMA schema_version" if engine.dialect.name == "sqlite" else "SELECT count(*) FROM pg_class"
    async with engine.connect() as conn:
        before = await conn.scalar(text(version))
    statements: list[str] = []
    upgrades: list[object] = []
    monkeypatch.setattr(command, "upgrade", lambda *args: upgrades.append(args))  # the module migrate calls

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    await migrate.upgrade(engine)
    assert statements, "the listener saw nothing"
    assert upgrades == []  # not even Alembic's own check: the head was found with two reads
    reads = re.compile(r"\s*(SELECT|BEGIN|COMMIT|ROLLBACK|PRAGMA [^=]*$)", re.I | re.S)  # a PRAGMA with = writes
    writes = [s for s in statements if not reads.match(s)]
    assert writes == []
    async with engine.connect() as conn:
        assert await conn.scalar(text(version)) == before  # bumped by any DDL, the raw connection's too
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all() == [migrate.head()]


async def test_a_database_of_unknown_origin_is_refused(sqlite: Engines) -> None:
    engine = await sqlite()
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
    with pytest.raises(migrate.MigrationError, match="no schema version"):
        await migrate.upgrade(engine)


def test_alembic_scripts_ship_with_the_package() -> None:
    """The revisions live inside the package (package data), and their ids are four-digit numbers in a line."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    chain = list(reversed(list(script.walk_revisions())))
    assert chain[0].revision == migrate.BASELINE and chain[0].down_revision is None
    for before, after in zip(chain, chain[1:]):
        assert after.down_revision == before.revision and after.revision == f"{int(before.revision) + 1:04d}"
    assert Path(script.dir).is_relative_to(Path(migrate.__file__).parent)



async def test_revisions_go_down_and_up_again(engines: Engines) -> None:
    """Each revision's downgrade undoes it (0017 keeps a plan's amount), down to nothing and back to head."""
    engine = await engines()
    await migrate.upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(schema.users).values(id=1, platform="console", platform_user_id="u", created_at=1,
                                                       last_seen_at=1))
        await conn.execute(insert(schema.dca_plans).values(
            id=1, user_id=1, token="MAG7.ssi", usdc_units=25_000_000, cadence="daily", at_minute=0, zone="UTC",
            platform="console", chat_id="c", state="active", created_at=1))

    def down(conn: Connection, revision: str) -> None:
        command.downgrade(migrate.alembic_config(conn), revision)

    async with engine.begin() as conn:
        await conn.run_sync(down, migrate.BASELINE)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT usdc_units FROM dca_plans")) == 25_000_000  # an integer again
    async with engine.begin() as conn:
        await conn.run_sync(down, "base")
    async with engine.connect() as conn:
        assert set(await conn.run_sync(lambda c: inspect(c).get_table_names())) <= {"alembic_version"}
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_starting_together_migrates_once(engines: Engines) -> None:
    """Several engines upgrade one new database at once: PostgreSQL's advisory lock orders processes; within one
    process Alembic's global proxies need one upgrade at a time (SQLite's file lock alone would not do)."""
    first = await engines()
    others = [create_async_engine(first.url) for _ in range(2)]
    try:
        await asyncio.wait_for(asyncio.gather(migrate.upgrade(first), *(migrate.upgrade(e) for e in others)), 60)
    finally:
        for engine in others:
            await engine.dispose()
    async with first.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all() == [migrate.head()]
        assert await conn.run_sync(_diff) == []


@pytest.mark.parametrize("mode", SQLITE_MODES)
async def test_a_failed_sqlite_upgrade_changes_nothing(tmp_path: Path, mode: str) -> None:
    """The stamp and every revision are one transaction: a legacy file whose upgrade fails (here: a run of a plan
    that does not exist, which foreign_key_check finds after 0017) is left exactly as it was."""
    path = tmp_path / "orphan.sqlite3"
    legacy_file(path, migrate.LEGACY_HEAD)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO dca_runs (plan_id, due_at) VALUES (99, 1)")  # foreign keys are off by default
    conn.close()
    before = describe(path)
    engine = sqlite_engine(path, mode)
    try:
        with pytest.raises(migrate.MigrationError, match="foreign keys"):
            await migrate.upgrade(engine)
        async with engine.connect() as db:
            tables = set(await db.run_sync(lambda c: inspect(c).get_table_names()))
            assert await db.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await engine.dispose()
    assert "schema_migrations" in tables and "alembic_version" not in tables
    assert describe(path) == before  # dca_plans.usdc_units still INTEGER
