"""The database's write transactions: one at a time, and a task cancelled in the middle of one leaves none open;
a damaged file stops the start-up at once with a clear message; the file and its directory are the owner's alone."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.storage.db import Database, DatabaseDamaged
from bot.storage.private import private_dir
from devnet.harness import Devnet

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))


# Where a writer is cancelled on PostgreSQL: on an event of the engine's (its connection checked out of the pool, BEGIN,
# before or after a statement, at COMMIT), from inside the writer's own task, so its next wait on the server raises.
PG_CANCEL_POINTS = {
    "checkout": ("checkout", ""), "begin": ("begin", ""),
    "sending-insert": ("before_cursor_execute", "INSERT"), "insert-sent": ("after_cursor_execute", "INSERT"),
    "sending-update": ("before_cursor_execute", "UPDATE"), "update-sent": ("after_cursor_execute", "UPDATE"),
    "commit": ("commit", ""),
}


async def _cancel_a_writer(db: Database, ticks: int, at: str = "") -> None:
    """A writer cancelled after `ticks` turns of the event loop, or at one of PG_CANCEL_POINTS: the next writer gets a
    transaction of its own and the cancelled one's write is either whole or absent."""
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")

    async def write(k: int) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (:k, 'a')", {"k": k})
            await tx.execute("UPDATE t SET v = 'b' WHERE k = :k", {"k": k})

    task = asyncio.create_task(write(1))
    cancelled: list[str] = []
    if at:
        event_name, statement = PG_CANCEL_POINTS[at]

        def cancel(*args: Any) -> None:
            sql = args[2] if event_name.endswith("cursor_execute") else ""
            if asyncio.current_task() is task and not cancelled and sql.startswith(statement):
                cancelled.append(at)
                task.cancel()

        event.listen(db.engine.sync_engine, event_name, cancel)
    try:
        for _ in range(ticks):
            await asyncio.sleep(0)
        if not at:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        if at:
            event.remove(db.engine.sync_engine, event_name, cancel)
    assert cancelled == ([at] if at else []), "the writer never reached the point it was to be cancelled at"
    await write(2)  # "cannot start a transaction within a transaction" if the cancelled one left it open
    rows = [tuple(r) for r in await db.fetch_all("SELECT k, v FROM t ORDER BY k")]
    assert rows in ([(2, "b")], [(1, "b"), (2, "b")]), rows


@pytest.mark.parametrize("ticks", range(12))
async def test_a_writer_cancelled_anywhere_in_its_transaction_leaves_none_open(tmp_path: Path, ticks: int) -> None:
    """Cancelled at any point (while BEGIN runs in aiosqlite's thread, mid-write, at COMMIT)."""
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        await _cancel_a_writer(db, ticks)
    finally:
        await db.close()


@pytest.mark.parametrize(("ticks", "at"), [(ticks, "") for ticks in range(3)] + [(0, at) for at in PG_CANCEL_POINTS])
async def test_a_writer_cancelled_anywhere_leaves_no_transaction_open_on_postgresql(pg_url: str, ticks: int,
                                                                                    at: str) -> None:
    """As on SQLite, and no connection of the pool is left idle in a transaction on the server (it would hold the
    cancelled writer's row locks until the pool dropped it)."""
    db = await Database.open(pg_url)
    try:
        await _cancel_a_writer(db, ticks, at)
        deadline = time.monotonic() + 5  # a cancelled connection's rollback may still be on its way back
        while (open_ := await db.scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")):
            assert time.monotonic() < deadline, f"{open_} connection(s) left idle in a transaction"
            await asyncio.sleep(0.05)
    finally:
        try:
            async with db.transaction() as tx:  # the migrated schema as it was: pg_url empties it for the next test
                await tx.execute("DROP TABLE IF EXISTS t")
        finally:
            await db.close()


async def test_postgresql_reads_are_in_autocommit_and_transactions_read_committed(pg_url: str) -> None:
    """Reads and single statements run in autocommit (no BEGIN/COMMIT round trips, nothing to roll back on return);
    a transaction is a real one at READ COMMITTED, and its connection goes back to autocommit for the next read:
    `now()` is the transaction's start, so it repeats inside one and moves between autocommit statements."""
    db = await Database.open(pg_url)
    try:
        async with db.transaction() as tx:
            assert await tx.scalar("SHOW transaction_isolation") == "read committed"
            first = await tx.scalar("SELECT now()")
            await asyncio.sleep(0.01)
            assert await tx.scalar("SELECT now()") == first
        for _ in range(3):  # whichever pooled connection serves it, the transaction's included
            before = await db.scalar("SELECT now()")
            await asyncio.sleep(0.01)
            assert await db.scalar("SELECT now()") > before
            assert await db.scalar("SELECT txid_current_if_assigned()") is None
    finally:
        await db.close()


# -- a damaged file: a clear refusal, never a hang ------------------------------------------------------------------


async def _truncated(path: Path) -> None:
    """A real, migrated database with some rows, cut to half its size (a copy interrupted, a full disk)."""
    db = await Database.open(path)
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE filler (k INTEGER PRIMARY KEY, v TEXT)")
        await tx.execute_many("INSERT INTO filler VALUES (:k, :v)", [{"k": k, "v": "x" * 300} for k in range(3000)])
    await db.close()
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


async def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


async def _misordered(path: Path) -> None:
    """A file that opens and migrates, with one page of an index overwritten in part (a torn write): only the
    quick check finds it (rows out of order)."""
    db = await Database.open(path)
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE filler (k INTEGER PRIMARY KEY, v TEXT)")
        await tx.execute("CREATE INDEX filler_v ON filler (v)")
        await tx.execute_many("INSERT INTO filler VALUES (:k, :v)", [{"k": k, "v": str(k) * 20} for k in range(3000)])
    page = await db.scalar("PRAGMA page_size")
    root = await db.scalar("SELECT rootpage FROM sqlite_master WHERE name = 'filler_v'")
    await db.fetch_all("PRAGMA wal_checkpoint(TRUNCATE)")
    await db.close()
    data = bytearray(path.read_bytes())
    start = (root + 2) * page + 200  # a leaf of the index, past its header
    data[start:start + 60] = bytes(60)
    path.write_bytes(bytes(data))


DAMAGES = pytest.mark.parametrize("damage", [_truncated, _garbage, _misordered],
                                  ids=["truncated", "garbage", "misordered"])


def _sqlite_threads() -> set[threading.Thread]:
    """aiosqlite's threads alive: one per open connection (a set: an earlier test's may end meanwhile)."""
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


@DAMAGES
async def test_a_damaged_database_is_a_clear_refusal(tmp_path: Path, damage: object) -> None:
    """One line naming what is damaged, and no connection (an aiosqlite thread) left open behind the refusal."""
    path = tmp_path / "bot.sqlite3"
    await damage(path)  # type: ignore[operator]
    threads = _sqlite_threads()
    with pytest.raises(DatabaseDamaged, match=r"is damaged \((file is not a database|.*malformed.*|.*out of order.*)\)") as err:
        await Database.open(path)
    assert "\n" not in str(err.value)
    deadline = time.monotonic() + 5  # a closed connection's thread ends a moment after the close returns
    while _sqlite_threads() - threads and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not _sqlite_threads() - threads  # none of the refused open's left behind


@DAMAGES
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
    assert "Traceback" not in out.stderr and "Warning" not in out.stderr and out.stdout == ""


async def test_a_sound_database_passes_the_check_and_syncs_every_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert (await db.fetch_one("PRAGMA synchronous"))[0] == 2  # type: ignore[index]  # FULL
        async with db.transaction() as tx:  # the kept writer's connection, where every commit happens
            assert await tx.scalar("PRAGMA synchronous") == 2
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


async def test_a_database_in_a_shared_sticky_directory_leaves_that_directory_as_it_is(tmp_path: Path) -> None:
    """A file named straight in a directory shared by design (sticky and open to all, as /tmp: a backup's target) is
    the owner's alone, and the directory keeps its mode: as root, closing it made the machine's /tmp 0700 once."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = shared / "bot.sqlite3"
    await (await Database.open(path)).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert shared.stat().st_mode & 0o7777 == 0o1777


# -- one set of queries: named parameters only ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "handlers", "wallets", "devnet", "bench", "tests")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b")
QMARK = re.compile(r"(?<![\w?])\?\d*(?![\w?])")  # SQLite's `?` / `?1`; not the `?` ending a sentence ("why?")
SEPARATOR = re.compile(r"\s*,\s*")


def _not_sql(tree: ast.AST) -> set[int]:
    """The string constants that are no query of their own: docstrings, and the parts of f-strings (each f-string
    is read whole)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in ast.walk(node) if part is not node}
    return docstrings | parts


def _qmark_sql(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module writes SQL with `?` parameters: a string (an f-string's text, `{}` for what it fills in) naming
    SELECT/INSERT/UPDATE/DELETE with a `?` in it, or placeholders joined by commas (`",".join("?" * n)`)."""
    skip, found = _not_sql(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
        elif isinstance(node, ast.JoinedStr) and id(node) not in skip:  # not one nested in another's {}
            text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
              and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
              and SEPARATOR.fullmatch(node.func.value.value)):
            if any(isinstance(c, ast.Constant) and c.value == "?" for arg in node.args for c in ast.walk(arg)):
                found.append((node.lineno, ast.unparse(node)))
            continue
        else:
            continue
        if SQL.search(text) and QMARK.search(text):
            found.append((node.lineno, " ".join(text.split())[:80]))
    return sorted(found)


def test_the_check_finds_qmark_sql_in_every_form_it_takes() -> None:
    """The check below can fail: each way a query with `?` parameters was written is found, named SQL is not."""
    # `$` stands for `?` below, or this file would hold such queries itself
    source = '''
        def f(db, ids, table, x):
            """Moves by compare-and-set (`UPDATE ... WHERE id = $ AND state = $`)."""
            db.fetch_one("SELECT a FROM t WHERE id = $", (x,))
            db.execute(f"UPDATE {table} SET a = $1 WHERE b = $2", (x, x))
            db.execute("DELETE FROM t WHERE id IN ({})".format(",".join("$" * len(ids))), ids)
            db.execute("INSERT INTO t VALUES (" + ", ".join("$" for _ in ids) + ")", ids)
            db.fetch_one("SELECT a FROM t WHERE id = :id AND b LIKE 'why?%'", {"id": x})
            print("Which SELECT do you mean?")
    '''
    found = _qmark_sql(ast.parse(textwrap.dedent(source).replace("$", "?")))
    assert [line for line, _ in found] == [4, 5, 6, 7], found  # not the docstring, the named query nor the sentence


def test_no_module_passes_sql_with_qmark_parameters() -> None:
    """Every query runs on SQLite and PostgreSQL through SQLAlchemy: SQL text takes `:named` parameters with a
    mapping (psycopg has no `?`). A `?` query left anywhere would fail at run time once db.py's transition code for
    them is gone, and only where a test happens to reach it; this finds them all."""
    left = [f"{path.relative_to(ROOT)}:{line}: {text}"
            for folder in SOURCES for path in sorted((ROOT / folder).rglob("*.py"))
            for line, text in _qmark_sql(ast.parse(path.read_text(), str(path)))]
    assert not left, "SQL with ? parameters (use :named ones and a dict, or Core):\n" + "\n".join(left)


async def test_a_migration_that_fails_a_constraint_is_not_called_damage(tmp_path: Path) -> None:
    """A row an upgrade cannot carry (a transaction of no intent: revision 0018 cannot give it a chain id) stops the
    start with the constraint's error, not "the database is damaged", and the file stays as it was."""
    import sqlite3

    from auxil.storage import legacy_file
    from sqlalchemy.exc import IntegrityError

    path = tmp_path / "old.sqlite3"
    legacy_file(path, 16)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO intent_txs (intent_id, step, purpose, address, tx_hash, state, signed_at) "
                     "VALUES (999, 0, 'swap', '0xA', '0xhash', 'sent', 1.0)")
    conn.close()
    with pytest.raises(IntegrityError, match="chain_id"):
        await Database.open(path)
    with sqlite3.connect(path) as conn:  # as it was: the legacy version, no Alembic stamp, the row untouched
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (16,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'").fetchone() is None
        assert conn.execute("SELECT intent_id, chain_id FROM intent_txs").fetchall() == [(999, None)]
    conn.close()
