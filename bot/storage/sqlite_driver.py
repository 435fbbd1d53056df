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
"""

from __future__ import annotations

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


def _statement(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On aiosqlite's thread: the whole statement, its rows read and its cursor closed."""
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


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _run(self, operation: str, parameters: Any, many: bool) -> None:
        connection = self._connection
        try:
            outcome: Outcome = self.await_(connection._execute(_statement, connection, operation, parameters, many))
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

    __slots__ = ()

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


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give `create_async_engine` for a sqlite+aiosqlite URL."""
    return _Module(aiosqlite, sqlite3)
