"""SQLAlchemy's aiosqlite driver adapter, with one thread hop per statement instead of four.

aiosqlite runs every call on the connection's own thread, and each call is a hop there and back (about 0.12 ms on
this project's 2-core machines). SQLAlchemy's adapter (sqlalchemy.dialects.sqlite.aiosqlite) makes four calls per
statement: open a cursor, execute, fetch all, close. A write transaction of three statements cost 2 ms instead of
0.5 ms (bench/durability.py), and trades and the Telegram path slowed with it. This adapter runs the same four
steps as one function on aiosqlite's thread (aiosqlite's own `execute_fetchall` does the same), so a statement is
one hop, as it was before the move to SQLAlchemy; and a commit or rollback with no transaction open (SQLAlchemy
ends every read with one) is no hop at all. Written here because no released adapter does it; it is given
to the engine as its DBAPI module (`create_async_engine(..., module=dbapi())`), the documented way to substitute
one, and everything else is SQLAlchemy's own adapter.

A write transaction costs no hop of its own either: `begin_with_next_statement` has the next statement run BEGIN
IMMEDIATE in its own hop first (a transaction that runs no statement never begins), and `end` queues the COMMIT
or ROLLBACK as one hop that ends whatever is open on aiosqlite's thread when its turn comes (so a statement
still queued by a cancelled writer is rolled back too), or nothing at all when no statement ran. A transaction
that is one statement (`single`) is BEGIN, the statement and COMMIT (ROLLBACK if it fails) in one hop.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections import deque
from typing import Any, Literal

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

Outcome = tuple[Any, list[Any], int | None, int]


Next = Literal["", "begin", "single"]  # what the next statement starts: nothing, a transaction, the whole of one


def _statement(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool, start: Next) -> Outcome:
    """On aiosqlite's thread: the whole statement (after BEGIN IMMEDIATE, if it starts a transaction; then COMMIT,
    or ROLLBACK on an error, if it is the whole transaction), its rows read and its cursor closed."""
    conn = connection._conn
    if start:
        conn.execute("BEGIN IMMEDIATE").close()
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        outcome = description, rows, cursor.lastrowid, cursor.rowcount
        if start == "single":
            conn.execute("COMMIT").close()
        return outcome
    except BaseException:
        if start == "single" and conn.in_transaction:
            conn.execute("ROLLBACK").close()
        raise
    finally:
        cursor.close()


def _end(connection: aiosqlite.Connection, sql: str) -> None:
    """On aiosqlite's thread: COMMIT or ROLLBACK the transaction open there, if one is (BEGIN itself may have
    failed, e.g. busy)."""
    if connection._conn.in_transaction:
        connection._conn.execute(sql).close()


def _queued(connection: Any, fn: Any, *args: Any) -> asyncio.Future[Any]:
    """`fn(*args)` queued for aiosqlite's thread, as `Connection._execute` does, but as a bare future: awaiting it
    needs no task of its own, and it runs to its end whether or not anyone still waits for it."""
    if not connection._running or not connection._connection:
        raise ValueError("Connection closed")
    future = asyncio.get_running_loop().create_future()
    connection._tx.put_nowait((future, functools.partial(fn, *args)))
    return future


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _run(self, operation: str, parameters: Any, many: bool) -> None:
        connection = self._connection
        adapted = self._adapt_connection
        start: Next = adapted.take_next() if isinstance(adapted, _Connection) else ""
        try:
            outcome: Outcome = self.await_(connection._execute(_statement, connection, operation, parameters, many,
                                                               start))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        description, rows, lastrowid, rowcount = outcome
        self.description = description
        self._rows = deque(rows)
        self.lastrowid = -1 if description or lastrowid is None else lastrowid
        self.rowcount = rowcount

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(operation, parameters, False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(operation, seq_of_parameters, True)


class _Connection(AsyncAdapt_aiosqlite_connection):
    """Commit and rollback are hops too: skipped when SQLite has no transaction open, as on every read (the
    driver's own transactions are off; a write's BEGIN IMMEDIATE and COMMIT are statements of their own)."""

    __slots__ = ("_next", "_ended")

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._next: Next = ""
        self._ended = False  # a single statement's transaction was queued whole: nothing is left to end

    def begin_with_next_statement(self, *, single: bool = False) -> None:
        """A write transaction starts: its first statement runs BEGIN IMMEDIATE first, in the same hop; with
        `single`, that statement is the whole transaction (its COMMIT in that hop too)."""
        self._next, self._ended = ("single" if single else "begin"), False

    def take_next(self) -> Next:
        """What the statement about to be queued starts (it runs even if its caller is cancelled meanwhile)."""
        if self._ended:
            raise RuntimeError("a second statement in a transaction declared single")
        start, self._next = self._next, ""
        self._ended = start == "single"
        return start

    def end(self, sql: str) -> asyncio.Future[Any] | None:
        """COMMIT or ROLLBACK the write transaction, one hop (queued behind any statement still on its way); None
        when there is nothing to end: no statement ran (BEGIN never went out), or a single statement's hop ends
        its transaction itself."""
        if self._next or self._ended:
            self._next, self._ended = "", False
            return None
        return _queued(self._connection, _end, self._connection, sql)

    def _open(self) -> bool:
        try:
            return bool(self._connection._conn.in_transaction)
        except ValueError:  # closed: let the real call say so
            return True

    def commit(self) -> None:
        if self._open():
            super().commit()

    def rollback(self) -> None:
        if self._open():
            super().rollback()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else _Cursor(self)


class _Module(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


Writer = _Connection


def writer(dbapi_connection: Any) -> Writer:
    """The adapter's connection under a pooled connection (`get_raw_connection().dbapi_connection`)."""
    assert isinstance(dbapi_connection, _Connection), "the engine was not created with this module"
    return dbapi_connection


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give `create_async_engine` for a sqlite+aiosqlite URL."""
    return _Module(aiosqlite, sqlite3)
