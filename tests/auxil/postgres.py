"""PostgreSQL for the tests: the server, a database per test run and worker on it, emptied before each test.

The server is INDEXBOT_TEST_DATABASE_URL (`make test` sets it from scripts/test-postgres, which finds one or starts a
throwaway cluster), else the local server at 127.0.0.1:5432 if it answers; without either the tests that need
PostgreSQL are skipped with the reason. Each pytest process (each xdist worker) creates its own database,
`indexbot_t<unix time>_<run>_<worker>`, at first use and drops it at the end of its session; one left behind by a run
that was killed is dropped by a later run once it is a day old (its creation time is in its name).

Before each test (`prepare`) the database is emptied one of two ways:
- `reset`: every schema of its own dropped and `public` made again, an empty database `Database.open` migrates: 30-50 ms,
  plus 200-300 ms for the migrations (measured with the Alembic baseline of 34 tables, on an idle machine);
- `clear`: the migrated schema kept, every table emptied by DELETE (tables referring to others first) and every
  sequence restarted, Alembic's version row kept: a few ms (the schema's fingerprint and the DELETEs), after which
  `Database.open` finds nothing to migrate (about 15 ms). DELETE rather than TRUNCATE, which makes new files for every
  table and index: 30-120 ms for these tables on a server with fsync on.
`clear` is used once two tests in a row, each from an empty database, left the same migrated schema (one test alone
could have changed it after migrating), and only while the schema still has that fingerprint: a test that changes it
(an ALTER, a migration's test) gives the next test an empty database again. It relies on the migrations creating
tables, not rows: a revision that seeds rows would see them deleted (then `prepare` should always `reset`). A test
that needs a database no migration touched uses `pg_empty_url` (always `reset`).

Plain psycopg (synchronous, autocommit): no part of the project's storage is needed to set up its tests.
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
# PostgreSQL connections each bot a test starts opens at most (INDEXBOT_DATABASE_CONNECTIONS; a process's default is
# 30). The suite runs three workers against one server whose max_connections is Debian's 100, and a fleet test runs
# three bot processes at once: at 30 each, one such test under load took the server past 100 and every other worker's
# next connection failed ("too many clients already", a CI run of 2026-12-04). At 8 the heaviest test stays near 30.
PROCESS_CONNECTIONS = 8
# Databases of test runs: `indexbot_t<unix time>_<run>_<worker>`. Only names of this form are ever dropped.
NAME = re.compile(r"indexbot_t(\d+)_[a-z0-9]+_[a-z0-9]+")
STALE_AFTER = 24 * 3600  # seconds: a run's database older than this was left by a run that died
# How long emptying a database waits for a lock before it fails: a lock is only held there by a connection a previous
# test left open inside a transaction, and failing says so where waiting would hang the run.
RESET_LOCK_TIMEOUT = "10s"
LEFT_OPEN_GRACE = 10.0  # seconds a test's sessions may take to end after it (a killed process's, a closing pool's)
OTHER_SESSIONS = """SELECT pid, application_name, backend_start FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY pid"""
OWN_SCHEMAS = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"  # not PostgreSQL's own
# What `clear` keeps, in one digest: the schema (tables, columns and their types, indexes, constraints, sequences,
# enums and domains: catalog columns, never an oid, rather than their rendered definitions, which cost several times
# as much) and, read apart since its table is not always there, Alembic's revision.
FINGERPRINT = f"""
SELECT md5(concat_ws('|',
    (SELECT string_agg(concat_ws('.', n.nspname, c.relname, c.relkind, a.attname, a.atttypid::regtype, a.atttypmod,
                                 a.attnotnull, a.atthasdef), ',' ORDER BY n.nspname, c.relname, a.attnum)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE {OWN_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'i', 'S') AND a.attnum > 0 AND NOT a.attisdropped),
    (SELECT string_agg(concat_ws('.', c.relname, i.indisunique, i.indkey, i.indpred IS NOT NULL), ','
                       ORDER BY c.relname)
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE {OWN_SCHEMAS}),
    (SELECT string_agg(concat_ws('.', t.conrelid::regclass, t.conname, t.contype, t.conkey, t.confrelid::regclass,
                                 t.confkey), ',' ORDER BY t.conrelid::regclass::text, t.conname)
     FROM pg_constraint t JOIN pg_namespace n ON n.oid = t.connamespace WHERE {OWN_SCHEMAS}),
    (SELECT string_agg(concat_ws('.', n.nspname, t.typname, t.typtype), ',' ORDER BY n.nspname, t.typname)
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {OWN_SCHEMAS} AND t.typtype IN ('e', 'd'))
)), to_regclass('public.alembic_version') IS NOT NULL
"""
TABLES = f"""
SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relname = 'alembic_version'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {OWN_SCHEMAS} AND c.relkind IN ('r', 'p')
"""
REFERENCES = f"""
SELECT t.conrelid, t.confrelid FROM pg_constraint t JOIN pg_namespace n ON n.oid = t.connamespace
WHERE {OWN_SCHEMAS} AND t.contype = 'f' AND t.conrelid <> t.confrelid
"""
RESTART_SEQUENCES = f"""
SELECT setval(c.oid, s.seqstart, false)
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {OWN_SCHEMAS}
"""


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
        found = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'indexbot\\_t%'")
        names = [str(row[0]) for row in found]
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


def delete_order(tables: dict[int, str], references: list[tuple[int, int]]) -> list[str] | None:
    """The tables in an order DELETE can empty them one by one: every table before those it refers to. None when
    references go round in a cycle (then only TRUNCATE … CASCADE empties them)."""
    referring: dict[int, set[int]] = {oid: set() for oid in tables}  # table -> the tables that refer to it
    for child, parent in references:
        if child in tables and parent in tables:
            referring[parent].add(child)
    order: list[str] = []
    done: set[int] = set()
    while len(done) < len(tables):
        ready = [oid for oid in tables if oid not in done and referring[oid] <= done]
        if not ready:
            return None
        for oid in sorted(ready, key=tables.__getitem__):
            order.append(tables[oid])
            done.add(oid)
    return order


@dataclass
class TestDatabase:
    """One test process's database on the server: `url` for the code under test, `prepare()` before each test."""

    __test__ = False  # not a test class, whatever its name

    server: str
    name: str
    _conn: psycopg.Connection[tuple[object, ...]] | None = None
    # The migrated schema `clear` keeps: the fingerprint two tests in a row left after starting from an empty database
    # (one such test could have changed the schema after migrating it), and the DELETE statements emptying it.
    _candidate: str | None = None
    _reference: str | None = None
    _clear_sql: str = ""
    _was_reset: bool = False  # whether the test now running started from an empty database
    resets: int = 0
    clears: int = 0
    schema_tables: frozenset[str] | None = None  # what the migrations build ("public.<name>"); None: bot.storage.schema's

    @property
    def url(self) -> str:
        return database_url(self.server, self.name)

    @classmethod
    def create(cls, server: str) -> TestDatabase:
        """Creates this process's database (dropping stale ones of dead runs first)."""
        now = time.time()
        drop_stale(server, now)
        database = cls(server, database_name(now, run_id(), worker_id()))
        admin = database_url(server, "postgres")
        with psycopg.connect(admin, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name)))
        return database

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        return self._conn

    def _fingerprint(self) -> str | None:
        """The schema's fingerprint (with Alembic's revision) when the database is migrated, else None."""
        conn = self._connection()
        row = conn.execute(FINGERPRINT).fetchone()
        assert row is not None
        if not row[1]:
            return None
        found = conn.execute("SELECT version_num FROM public.alembic_version ORDER BY 1")
        versions = ",".join(str(version) for (version,) in found)
        return f"{row[0]}:{versions}" if versions else None

    def prepare(self) -> None:
        """Makes the database ready for the next test: emptied tables of the migrated schema the tests before left, or
        an empty database when that schema is not confirmed yet or a test changed it."""
        left = self._fingerprint()
        if self._was_reset and left is not None:  # the test before migrated an empty database: left is what it built
            if left == self._candidate and left != self._reference and self._only_the_schemas_tables():
                self._reference, self._clear_sql = left, self._clear_statements()
            self._candidate = left
        if left is not None and left == self._reference:
            self.clear()
        else:
            self.reset()

    def _only_the_schemas_tables(self) -> bool:
        """The database holds exactly the tables the migrations build (bot.storage.schema's, and Alembic's): two
        tests in a row that each left a table of their own do not make it part of what `clear` keeps."""
        from bot.storage.schema import metadata

        expected = self.schema_tables or {f"public.{name}" for name in (*metadata.tables, "alembic_version")}
        return {str(name) for _, name, _ in self._connection().execute(TABLES)} == expected

    def _clear_statements(self) -> str:
        conn = self._connection()
        tables = {int(str(oid)): str(name) for oid, name, alembic in conn.execute(TABLES) if not alembic}
        references = [(int(str(child)), int(str(parent))) for child, parent in conn.execute(REFERENCES)]
        order = delete_order(tables, references)
        if not tables:
            return RESTART_SEQUENCES
        if order is None:
            return f"TRUNCATE {', '.join(sorted(tables.values()))} RESTART IDENTITY"
        return "; ".join([*(f"DELETE FROM {name}" for name in order), RESTART_SEQUENCES])

    def clear(self) -> None:
        """Empties every table of the migrated schema (Alembic's revision kept) and restarts every sequence."""
        conn = self._connection()
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(RESET_LOCK_TIMEOUT)))
            try:
                conn.execute(self._clear_sql)
            except psycopg.errors.LockNotAvailable as exc:
                raise self._left_open(exc) from exc
        self._was_reset = False
        self.clears += 1

    def reset(self) -> None:
        """Empties the database: drops every schema but PostgreSQL's own (tables, sequences, types, Alembic's version
        table with them) and creates an empty `public`, in one transaction."""
        conn = self._connection()
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(RESET_LOCK_TIMEOUT)))
            schemas = [
                str(row[0])
                for row in conn.execute(f"SELECT n.nspname FROM pg_namespace n WHERE {OWN_SCHEMAS}")
            ]
            try:
                for schema in schemas:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            except psycopg.errors.LockNotAvailable as exc:
                raise self._left_open(exc) from exc
            conn.execute("CREATE SCHEMA public")
        self._was_reset = True
        self.resets += 1

    def _left_open(self, exc: psycopg.Error) -> RuntimeError:
        return RuntimeError(
            f"could not empty {self.name} for the next test: a connection a previous test left open holds a lock in it "
            f"(close every Database/engine a test opens): {exc}"
        )

    def left_open(self, grace: float = LEFT_OPEN_GRACE) -> list[tuple[object, ...]]:
        """The sessions in this database other than this object's own, once none is left or after `grace` seconds (a
        process stopped or killed by the test ends its sessions a moment later): (pid, application_name,
        backend_start). Those are then ended, so that a test that leaves one fails itself, not the next test (the
        fault test of the sender's seat counts the sessions in the database)."""
        conn = self._connection()
        deadline = time.monotonic() + grace
        while True:
            rows = conn.execute(OTHER_SESSIONS).fetchall()
            if not rows or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for pid, *_ in rows:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return rows

    def drop(self) -> None:
        """Drops the database (closing whatever connection is still in it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with psycopg.connect(
            database_url(self.server, "postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


# -- the whole suite on PostgreSQL: INDEXBOT_TEST_ENGINE=postgresql ------------------------------------------------

ENGINE = os.environ.get("INDEXBOT_TEST_ENGINE", "sqlite")  # which database a started bot (conftest.make_config) uses
_APP_DATABASES: dict[str, TestDatabase] = {}


def app_database(home: str) -> str:
    """The URL of a PostgreSQL database of its own for the bot whose home is `home`: the same one when the test
    starts that bot again (a restart keeps its database), a new one for another home; dropped at session end."""
    if home not in _APP_DATABASES:
        server, how = find_server()
        if server is None:
            raise RuntimeError(f"INDEXBOT_TEST_ENGINE=postgresql but {how}")
        name = f"indexbot_t{int(time.time())}_{run_id()}_{secrets.token_hex(4)}"
        assert NAME.fullmatch(name), name
        with psycopg.connect(database_url(server, "postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _APP_DATABASES[home] = TestDatabase(server, name)
    return _APP_DATABASES[home].url


def drop_app_databases() -> None:
    while _APP_DATABASES:
        _APP_DATABASES.popitem()[1].drop()


def pg_rows(pg_url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """What `query` reads from the database at `pg_url` now, on a connection of its own (autocommit)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]
