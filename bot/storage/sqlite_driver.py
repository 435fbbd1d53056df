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
still queued by a cancelled writer is rolled back too), or nothing at all when no statement ran.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

Outcome = tuple[Any, list[Any], int | None, int]


def _statement(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool, begin: bool) -> Outcome:
    """On aiosqlite's thread: the whole statement (after BEGIN IMMEDIATE, if `begin`), its rows read and its cursor
    closed."""
    if begin:
        connection._conn.execute("BEGIN IMMEDIATE").close()
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.lastrowid, cursor.rowcount
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
        begin = False
        if isinstance(adapted, _Connection) and adapted.begin_pending:
            begin, adapted.begin_pending = True, False  # queued below: runs even if this caller is cancelled
        try:
            outcome: Outcome = self.await_(connection._execute(_statement, connection, operation, parameters, many,
                                                               begin))
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

    __slots__ = ("begin_pending",)

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin_pending = False

    def begin_with_next_statement(self) -> None:
        """A write transaction starts: its first statement runs BEGIN IMMEDIATE first, in the same hop."""
        self.begin_pending = True

    def end(self, sql: str) -> asyncio.Future[Any] | None:
        """COMMIT or ROLLBACK the write transaction, one hop (queued behind any statement still on its way); None
        when no statement ran since `begin_with_next_statement`: BEGIN never went out, there is nothing to end."""
        if self.begin_pending:
            self.begin_pending = False
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
