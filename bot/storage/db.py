"""The bot's database through SQLAlchemy 2 Core (async): SQLite by default, PostgreSQL for a fleet.

One set of queries runs on both. `Database.open` takes a path (SQLite, the embedded default) or a URL
(`sqlite:///…`, `postgresql://…`) and brings the schema to head with the migrations.

SQLite (aiosqlite). The file holds custodial keys (encrypted) and money in flight, so it is the owner's alone
(0600, in a directory created 0700), every commit is synced to disk before it returns (`synchronous=FULL`: in
WAL mode NORMAL may lose the last commits on a power loss, and an intent or an outbox row lost after its
transaction was sent is money the bot forgets; bench/durability.py measures the cost), and a damaged file stops
the start-up with a clear `DatabaseDamaged` after SQLite's quick check instead of failing later. SQLite has one
writer at a time: `transaction()` serializes this process's writers on one connection, kept checked out, with an
asyncio lock and runs BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) itself, as the SQLAlchemy documentation's recipe
for pysqlite advises (the driver's own implicit transactions are off; bot/storage/sqlite_driver.py sends BEGIN with
the first statement, and a `single` statement's COMMIT with it). Reads outside a transaction run in autocommit on
connections of their own, kept checked out between reads (WAL: they see every committed write and never wait on
the writer).

PostgreSQL (psycopg 3). Transactions run concurrently at READ COMMITTED from a pool; a query that reads and then
writes on what it read guards itself (a conditional UPDATE, a row lock, an advisory lock or ON CONFLICT). A transaction
of one statement (`single`) runs in autocommit, a round trip instead of three (BEGIN, the statement, COMMIT). A pooled
connection is checked before it is lent without a round trip (`usable`: a server that restarted or ended the session
leaves a message or the end of the stream on the socket) rather than with SQLAlchemy's `pool_pre_ping`, which sends
an empty query on every checkout: a quarter of a webhook worker's round trips (bench/pg_cost.py).
"""

from __future__ import annotations

import asyncio
import functools
import select
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Row, Select, Table, event, exc, text
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as lite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from bot.storage import sqlite_driver
from bot.storage.private import private_file

Dialect = Literal["sqlite", "postgresql"]
Statement = str | Executable  # a str is SQL text with :named parameters
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=5000")
SQLITE_POOL = 32  # SQLite connections at most (each is a thread)
SQLITE_READERS = 24  # of them, read connections kept checked out; the writer keeps one, the rest are for the others
# (the migrations, `indexbot db copy`), which check out from the pool itself


class DatabaseDamaged(Exception):
    """The database file is not a database, or SQLite's quick check finds it damaged."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"the database {path} is damaged ({detail}): nothing was changed. Restore it from a backup, "
                         f"or move it aside to start with an empty one (custodial wallets in it are then lost)")


TRANSACTIONS = "READ COMMITTED"  # PostgreSQL's isolation level for a transaction (its connections are otherwise in autocommit)
CONNECTIONS = 30  # PostgreSQL: a process's connections when INDEXBOT_DATABASE_CONNECTIONS does not say


def split_connections(total: int) -> tuple[int, int]:
    """A process's PostgreSQL connections (INDEXBOT_DATABASE_CONNECTIONS) between its own pool and the job engine's:
    (pool, jobs), the engine two fifths (at least 2), e.g. 30 -> (18, 12). The outbox sender's seat takes one more per
    platform while it stands."""
    jobs = max(2, total * 2 // 5)
    return total - jobs, jobs


POOL_CONNECTIONS = split_connections(CONNECTIONS)[0]  # the pool's share when the caller does not say


def database_url(where: str | Path) -> URL:
    """The SQLAlchemy URL (with its async driver) of a path or a URL as an operator writes it."""
    if isinstance(where, Path) or "://" not in where:
        return URL.create("sqlite+aiosqlite", database=str(Path(where).expanduser().resolve()))
    url = make_url(where)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database URL scheme {backend!r}: use a path, sqlite:///… or postgresql://…")


def usable(conn: Any) -> bool:
    """Whether an idle pooled psycopg connection may be lent, known without a round trip: open, not broken, outside
    a transaction, and nothing on its socket. An idle session is sent nothing unasked, so anything there is the
    server ending it (a restart, pg_terminate_backend, an idle timeout: an error message, then the end of the
    stream); a connection that is not usable is replaced by a new one. A server that vanished without a word (the
    network cut) is found on first use, as with a ping sent a moment before."""
    if conn.closed or conn.broken or conn.pgconn.transaction_status != 0:  # psycopg.pq.TransactionStatus.IDLE
        return False
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _check_on_checkout(engine: AsyncEngine) -> None:
    """SQLAlchemy's pessimistic disconnect handling with `usable` as the test (DisconnectionError: the pool replaces
    the connection and checks out again)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if not usable(dbapi_conn.driver_connection):
            raise exc.DisconnectionError("the server ended this pooled connection")


def libpq_url(database_url: str) -> str:
    """libpq's form of the bot's PostgreSQL URL, password included (for psycopg's own connections outside
    SQLAlchemy's pool: the job engine's, the outbox sender's seat); never logged."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@functools.lru_cache(maxsize=2048)
def _text(sql: str) -> Executable:
    return text(sql)


def _statement(stmt: Statement) -> Executable:
    return _text(stmt) if isinstance(stmt, str) else stmt


# psycopg reports no row count for an INSERT unless asked (SQLAlchemy then says -1): `execute` returns rows changed.
_COUNTED = {"preserve_rowcount": True}


async def _run(conn: AsyncConnection, stmt: Statement, params: Params) -> Any:
    return await conn.execute(_statement(stmt), params, execution_options=_COUNTED)


async def _to_the_end(statement: Awaitable[Any]) -> None:
    """Run a COMMIT or ROLLBACK to its end even if the caller is cancelled meanwhile (then re-raise the
    cancellation): the connection goes back to the pool only once its transaction is over."""
    task = asyncio.ensure_future(statement)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


async def _rollback(conn: AsyncConnection, adapted: sqlite_driver.Writer) -> None:
    if conn.invalidated:  # cancelled inside a statement: SQLAlchemy closed the driver connection, and SQLite
        await conn.rollback()  # with it the transaction; this clears SQLAlchemy's record of it
        return
    ending = adapted.end("ROLLBACK")  # ROLLBACK only if a transaction is open there (BEGIN itself may have failed)
    if ending is not None:
        await ending


class _Queries:
    """What a transaction and the database both offer: statements on one connection."""

    dialect: Dialect

    def insert(self, table: Table) -> lite.Insert | pg.Insert:
        """The dialect's INSERT, with `on_conflict_do_nothing`/`on_conflict_do_update` and `returning`: the one
        way the code writes an upsert."""
        return lite.insert(table) if self.dialect == "sqlite" else pg.insert(table)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def execute(self, stmt: Statement, params: Params = None) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._connection() as conn:
            result = await _run(conn, stmt, params)
            return int(result.rowcount)

    async def execute_many(self, stmt: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            async with self._connection() as conn:
                await conn.execute(_statement(stmt), list(rows))

    async def fetch_one(self, stmt: Statement, params: Params = None) -> Row[Any] | None:
        async with self._connection() as conn:
            return (await _run(conn, stmt, params)).first()  # type: ignore[no-any-return]

    async def fetch_all(self, stmt: Statement, params: Params = None) -> list[Row[Any]]:
        async with self._connection() as conn:
            return list((await _run(conn, stmt, params)).all())

    async def scalar(self, stmt: Statement, params: Params = None) -> Any:
        async with self._connection() as conn:
            return (await _run(conn, stmt, params)).scalar()


class Tx(_Queries):
    """The statements of one write transaction."""

    def __init__(self, conn: AsyncConnection, dialect: Dialect, *, autocommit: bool = False) -> None:
        self._conn = conn
        self.dialect = dialect
        # PostgreSQL's `single` transaction: the connection is in autocommit, its one statement its own transaction,
        # unless a lock or several rows ask for BEGIN … COMMIT (`_begin`); a second statement is refused, as on SQLite.
        self._autocommit = autocommit
        self._begun = False
        self._ran = False

    async def lock(self, rows: Select[Any], params: Params = None, *, key_share: bool = False) -> None:
        """Lock the rows `rows` selects (with `params`) until the transaction ends, for a read-then-write:
        PostgreSQL's FOR UPDATE (FOR NO KEY UPDATE with `key_share`: rows referring to them do not wait). Nothing on
        SQLite, whose one writer holds the whole database already: no statement is spent there."""
        if self.dialect != "sqlite":
            await self._begin()
            await self.fetch_all(rows.with_for_update(key_share=key_share), params)

    async def execute_many(self, stmt: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        if len(rows) == 1:  # one statement: in autocommit on PostgreSQL's `single`
            await self.execute(stmt, rows[0])
            return
        if rows:
            await self._begin()  # several rows, several statements: atomic only in a transaction
        await super().execute_many(stmt, rows)

    async def driver_connection(self) -> Any:
        """The driver's own connection under this transaction (psycopg's on PostgreSQL), for a library that can run
        its statement in the caller's transaction (procrastinate's `defer` with `connection=`)."""
        return (await self._conn.get_raw_connection()).driver_connection

    async def _begin(self) -> None:
        if self._autocommit and not self._begun and not self._ran:
            await self._conn.exec_driver_sql("BEGIN")
            self._begun = True

    async def _end(self, commit: bool) -> None:
        if self._begun:
            self._begun = False
            await self._conn.exec_driver_sql("COMMIT" if commit else "ROLLBACK")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        if self._autocommit and not self._begun:
            if self._ran:
                raise RuntimeError("a single-statement transaction ran a second statement")
            self._ran = True
        yield self._conn


class Database(_Queries):
    def __init__(self, engine: AsyncEngine, dialect: Dialect) -> None:
        # Connections are in autocommit on both (SQLite: driver transactions off; PostgreSQL: the engine's isolation
        # level), so reads and single statements change nothing on checkout. PostgreSQL's transactions (and whoever
        # uses `engine`: migrations, `db copy`) take READ COMMITTED on checkout and the pool puts autocommit back.
        self._pool = engine
        self._reads = engine
        self._engine = engine if dialect == "sqlite" else engine.execution_options(isolation_level=TRANSACTIONS)
        self.dialect = dialect
        self._write = asyncio.Lock()
        self._writer: tuple[AsyncConnection, sqlite_driver.Writer] | None = None  # SQLite: kept between writes
        self._idle: list[AsyncConnection] = []  # SQLite: read connections kept checked out between reads
        self._readers = asyncio.Semaphore(SQLITE_READERS)  # SQLite: reads at once (a kept connection each)
        self._closed = False

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @classmethod
    async def open(cls, where: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL",
                   connections: int = POOL_CONNECTIONS) -> Database:
        """Open (a SQLite file is created 0600 if needed), check and migrate the database. `synchronous`
        (SQLite) is for the bench. `connections` (PostgreSQL): the most this pool opens, none beyond (a fleet's
        processes share the server's max_connections; past it every process's statements fail)."""
        url = database_url(where)
        if url.get_backend_name() == "sqlite":
            return await cls._open_sqlite(url, synchronous)
        # In autocommit but for transactions (see __init__). Nothing is left open on a connection that returns (a
        # transaction's Connection ends it first, and `usable` refuses one that is not idle), so the pool's rollback on
        # return, a greenlet hop each time, is off.
        engine = create_async_engine(url, pool_size=connections, max_overflow=0, isolation_level="AUTOCOMMIT",
                                     pool_reset_on_return=None)
        _check_on_checkout(engine)
        db = cls(engine, "postgresql")
        try:
            await db._migrate()
        except BaseException:
            await engine.dispose()
            raise
        return db

    @classmethod
    async def _open_sqlite(cls, url: URL, synchronous: str) -> Database:
        path = Path(str(url.database))
        private_file(path)
        # The driver's implicit transactions are off (isolation_level=None): writes BEGIN IMMEDIATE themselves.
        # Nothing is left open on a read connection (no BEGIN ever runs there), so the pool does not roll back
        # on return (a thread hop each time).
        # The driver adapter makes one thread hop per statement (bot/storage/sqlite_driver.py says why).
        # Connections are kept, never made and dropped per burst (an overflow connection is a new thread and its
        # PRAGMAs each time): up to SQLITE_POOL, made as needed.
        engine = create_async_engine(url, connect_args={"isolation_level": None}, pool_reset_on_return=None,
                                     module=sqlite_driver.dbapi(), pool_size=SQLITE_POOL, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            for pragma in (*PRAGMAS, f"synchronous={synchronous}"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        db = cls(engine, "sqlite")
        try:
            await db._check(path)
            await db._migrate()
        except BaseException as error:
            # every connection (the kept read one too) and aiosqlite's threads: a failed open never hangs the exit
            await asyncio.shield(db.close())
            cause = error.orig if isinstance(error, exc.DBAPIError) else error
            if type(cause) is sqlite3.DatabaseError:  # "not a database", "malformed": its subclasses (locked,
                raise DatabaseDamaged(path, str(cause)) from None  # read-only, a migration's constraint) are not damage
            raise
        return db

    async def _check(self, path: Path) -> None:
        """SQLite's quick check (the integrity check without the index-content cross-check: a full read of the
        file, linear in its size; bench/durability.py times it)."""
        rows = await self.fetch_all("PRAGMA quick_check(5)")
        problems = [line for r in rows if str(r[0]) != "ok" for line in str(r[0]).splitlines()]  # one line in all
        if problems:
            raise DatabaseDamaged(path, "; ".join(problems))

    async def _migrate(self) -> None:
        from bot.storage.migrate import upgrade

        await upgrade(self._engine)

    def _open(self) -> None:
        if self._closed:  # a disposed engine would quietly open a new pool
            raise exc.ResourceClosedError("the database is closed")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        self._open()
        if self.dialect != "sqlite":
            async with self._reads.connect() as conn:
                yield conn
            return
        # SQLite: a read connection stays checked out between reads (a pool checkout and return, a greenlet each
        # way, cost about as much as the read). None is ever left in a transaction (no BEGIN runs on one), so
        # one kept idle holds no snapshot. One whose read failed or was cancelled goes back to the pool instead.
        # Kept connections never go back to the pool's queue, so readers take turns on SQLITE_READERS of them
        # (a reader past those waits for one here, not on the pool's timeout).
        async with self._readers:
            conn = self._idle.pop() if self._idle else await self._reads.connect()
            try:
                yield conn
            except BaseException:
                await _to_the_end(conn.close())
                raise
            if self._closed or conn.invalidated:
                await _to_the_end(conn.close())
            else:
                self._idle.append(conn)

    @asynccontextmanager
    async def transaction(self, *, single: bool = False) -> AsyncIterator[Tx]:
        """One write transaction. SQLite: one at a time in this process (other processes wait on the file's
        lock, busy_timeout). aiosqlite runs statements in order on its own thread, and a statement whose caller
        was cancelled still runs there: so a writer cancelled anywhere (even while its BEGIN is on its way)
        queues a ROLLBACK behind it before the next writer may begin, and never leaves a transaction open for
        the next one to trip over. PostgreSQL: a pooled connection's transaction, rolled back on error.

        `single`: the transaction runs one statement (a `Tx.lock` aside, which is none on SQLite); SQLite then sends
        BEGIN IMMEDIATE, the statement and COMMIT in one hop to aiosqlite's thread instead of two (a second
        statement raises RuntimeError). PostgreSQL runs the statement in autocommit, one round trip (a `Tx.lock` first,
        or `execute_many` of several rows, opens BEGIN … COMMIT there)."""
        self._open()
        if self.dialect != "sqlite" and single:
            async with self._reads.connect() as conn:
                tx = Tx(conn, self.dialect, autocommit=True)
                try:
                    yield tx
                except BaseException:
                    if not conn.invalidated:
                        await _to_the_end(tx._end(commit=False))
                    raise
                await _to_the_end(tx._end(commit=True))
            return
        if self.dialect != "sqlite":
            async with self._engine.begin() as conn:
                yield Tx(conn, self.dialect)
            return
        async with self._write:
            conn, adapted = await self._writer_connection()
            # BEGIN, COMMIT and ROLLBACK go to aiosqlite directly: SQLAlchemy's execution path around a statement
            # costs more than the statement itself, and it has no part in these (its own transactions are off).
            # BEGIN IMMEDIATE goes out with the first statement, in its hop (sqlite_driver.Writer).
            adapted.begin_with_next_statement(single=single)
            try:
                yield Tx(conn, self.dialect)
            except BaseException:
                await _to_the_end(_rollback(conn, adapted))
                if conn.invalidated:
                    await self._drop_writer()
                raise
            try:
                ending = adapted.end("COMMIT")
                if ending is not None:
                    await _to_the_end(ending)
            except sqlite3.Error:
                await _to_the_end(_rollback(conn, adapted))
                raise

    async def _writer_connection(self) -> tuple[AsyncConnection, sqlite_driver.Writer]:
        """SQLite's write connection, checked out once and kept: writes take turns on it (the lock), so a pool
        checkout and return per transaction bought nothing."""
        if self._writer is None:
            conn = await self._engine.connect()
            try:
                adapted = sqlite_driver.writer((await conn.get_raw_connection()).dbapi_connection)
            except BaseException:
                await _to_the_end(conn.close())
                raise
            self._writer = (conn, adapted)
        return self._writer

    async def _drop_writer(self) -> None:
        """The write connection is closed (SQLAlchemy invalidated it: a writer was cancelled inside a statement);
        the next transaction checks out another."""
        if self._writer is not None:
            conn, self._writer = self._writer[0], None
            await _to_the_end(conn.close())

    async def close(self) -> None:
        self._closed = True
        async with self._write:  # a transaction under way ends first
            await self._drop_writer()
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
        await self._pool.dispose()
