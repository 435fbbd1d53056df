"""PostgreSQL for the tests: the server, a database per test run and worker on it, emptied before each test.

The server is INDEXBOT_TEST_DATABASE_URL (`make test` sets it from scripts/test-postgres, which finds one or starts a
throwaway cluster), else the local server at 127.0.0.1:5432 if it answers; without either the tests that need
PostgreSQL are skipped with the reason. Each pytest process (each xdist worker) creates its own database,
`indexbot_t<unix time>_<run>_<worker>`, at first use and drops it at the end of its session; one left behind by a run
that was killed is dropped by a later run once it is a day old (its creation time is in its name).

Emptying a database drops every schema of its own (`public` and any a migration made) and creates `public` again, so
each test starts from an empty database that `Database.open` migrates. Plain psycopg (synchronous, autocommit): no
part of the project's storage is needed to set up its tests.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ENV = "INDEXBOT_TEST_DATABASE_URL"
LOCAL = "postgresql://postgres@127.0.0.1:5432"
CONNECT_TIMEOUT = 5  # seconds: a server that does not answer in that long is not there
# Databases of test runs: `indexbot_t<unix time>_<run>_<worker>`. Only names of this form are ever dropped.
NAME = re.compile(r"indexbot_t(\d+)_[a-z0-9]+_[a-z0-9]+")
STALE_AFTER = 24 * 3600  # seconds: a run's database older than this was left by a run that died
# How long emptying a database waits for a lock before it fails: a lock is only held there by a connection a previous
# test left open inside a transaction, and failing says so where waiting would hang the run.
RESET_LOCK_TIMEOUT = "10s"


def redact(url: str) -> str:
    """The URL as it may be shown: its password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def server_of(url: str) -> str:
    """The server part of a URL (scheme, user, password, host, port, options); its database dropped."""
    return urlunsplit(urlsplit(url)._replace(path=""))


def database_url(server: str, name: str) -> str:
    """The URL of database `name` on `server` (options of the server's URL kept)."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def unreachable(server: str) -> str | None:
    """Why the server does not answer `SELECT 1` (in its `postgres` database), or None when it does."""
    try:
        with psycopg.connect(database_url(server, "postgres"), connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def find_server() -> tuple[str | None, str]:
    """The server to test on and how it was found, or None and why there is none."""
    given = os.environ.get(ENV, "")
    if given:
        server = server_of(given)
        why = unreachable(server)
        if why is None:
            return server, f"{ENV}={redact(server)}"
        return None, f"{ENV}={redact(server)} does not answer: {why}"
    why = unreachable(LOCAL)
    if why is None:
        return LOCAL, f"the local server {LOCAL}"
    return None, (
        f"no PostgreSQL: {ENV} is unset or empty (scripts/test-postgres, run by `make test`, says why) and {LOCAL} "
        f"does not answer: {why}"
    )


def run_id() -> str:
    """This test run's id: one for every xdist worker of a run (their shared PYTEST_XDIST_TESTRUNUID), else new."""
    shared = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    return shared[:12].lower() if shared else f"p{os.getpid()}{secrets.token_hex(3)}"


def worker_id() -> str:
    """This process's xdist worker (`gw0` ...), or `main` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main").lower()


def database_name(now: float, run: str, worker: str) -> str:
    name = f"indexbot_t{int(now)}_{run}_{worker}"
    assert NAME.fullmatch(name), name
    return name


def drop_stale(server: str, now: float) -> list[str]:
    """Drops the databases of test runs older than STALE_AFTER (left by runs that were killed); returns their names.
    Another worker dropping the same one at the same moment is no error."""
    dropped = []
    with psycopg.connect(database_url(server, "postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        names = [str(row[0]) for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'indexbot\\_t%'")]
        for name in names:
            match = NAME.fullmatch(name)
            if match is None or now - int(match.group(1)) < STALE_AFTER:
                continue
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            except psycopg.Error:
                continue
            dropped.append(name)
    return dropped


@dataclass
class TestDatabase:
    """One test process's database on the server: `url` for the code under test, `reset()` between tests."""

    __test__ = False  # not a test class, whatever its name

    server: str
    name: str
    _conn: psycopg.Connection[tuple[object, ...]] | None = None

    @property
    def url(self) -> str:
        return database_url(self.server, self.name)

    @classmethod
    def create(cls, server: str) -> TestDatabase:
        """Creates this process's database (dropping stale ones of dead runs first)."""
        now = time.time()
        drop_stale(server, now)
        database = cls(server, database_name(now, run_id(), worker_id()))
        with psycopg.connect(database_url(server, "postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name)))
        return database

    def reset(self) -> None:
        """Empties the database: drops every schema but PostgreSQL's own (tables, sequences, types, Alembic's version
        table with them) and creates an empty `public`, in one transaction."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        conn = self._conn
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(RESET_LOCK_TIMEOUT)))
            schemas = [
                str(row[0])
                for row in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
                )
            ]
            try:
                for schema in schemas:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            except psycopg.errors.LockNotAvailable as exc:
                raise RuntimeError(
                    f"could not empty {self.name} for the next test: a connection a previous test left open holds a "
                    f"lock in it (close every Database/engine a test opens): {exc}"
                ) from exc
            conn.execute("CREATE SCHEMA public")

    def drop(self) -> None:
        """Drops the database (closing whatever connection is still in it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with psycopg.connect(
            database_url(self.server, "postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
