"""The PostgreSQL the tests run on: scripts/test-postgres finds (or starts) a server, and `pg_url` gives each test an
empty database of its own run and worker (tests/auxil/postgres.py). Plain psycopg: nothing of the project's storage."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from auxil.postgres import (
    NAME, STALE_AFTER, TestDatabase, database_name, database_url, delete_order, drop_stale, redact, server_of
)

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "test-postgres"
SERVER_URL = re.compile(r"postgresql://[^/?\s]+(\?\S+)?")  # options (sslmode, a socket directory) kept


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


# Twice, one after the other on one worker (--dist loadfile keeps a file together): whichever runs second would see the
# first one's table and row if its database were not emptied in between.
@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_starts_from_an_empty_database(pg_url: str, pg_database: TestDatabase, turn: str) -> None:
    assert pg_url == pg_database.url
    assert NAME.fullmatch(pg_database.name) and f"/{pg_database.name}" in pg_url
    assert "public.seen" not in tables(pg_url) and "extra.more" not in tables(pg_url)
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE seen (turn TEXT NOT NULL)")
        conn.execute("CREATE SCHEMA extra")
        conn.execute("CREATE TABLE extra.more (n INTEGER)")
        conn.execute("INSERT INTO seen (turn) VALUES (%s)", (turn,))
    assert {"extra.more", "public.seen"} <= set(tables(pg_url))


def test_reset_empties_every_schema_and_keeps_public_usable(pg_empty_url: str, pg_database: TestDatabase) -> None:
    pg_url = pg_empty_url
    assert tables(pg_url) == []
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('calm')")
        conn.execute("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, m mood)")
        conn.execute("INSERT INTO t (m) VALUES ('calm')")
    pg_database.reset()
    assert tables(pg_url) == []
    with psycopg.connect(pg_url) as conn:  # the sequence and the type went too: made again from scratch
        conn.execute("CREATE TYPE mood AS ENUM ('calm')")
        conn.execute("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, m mood)")
        assert conn.execute("INSERT INTO t (m) VALUES ('calm') RETURNING id").fetchone() == (1,)


def test_a_connection_left_in_a_transaction_fails_the_reset_instead_of_hanging(
    pg_empty_url: str, pg_database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_url = pg_empty_url
    monkeypatch.setattr("auxil.postgres.RESET_LOCK_TIMEOUT", "200ms")
    with psycopg.connect(pg_url) as setup:
        setup.execute("CREATE TABLE t (n INTEGER)")
    with psycopg.connect(pg_url) as leaked:
        leaked.execute("SELECT * FROM t")  # inside a transaction, never ended: its lock on t stays
        with pytest.raises(RuntimeError, match="a previous test left open"):
            pg_database.reset()
        leaked.rollback()
    pg_database.reset()
    assert tables(pg_url) == []


# What a migration would make (Alembic's version row included): references between tables, one to itself, sequences.
MIGRATION = """
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0016');
CREATE TABLE buttons (token TEXT PRIMARY KEY, wallet_id BIGINT);
CREATE TABLE users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE wallets (
    id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users (id), parent BIGINT REFERENCES wallets (id)
);
ALTER TABLE buttons ADD FOREIGN KEY (wallet_id) REFERENCES wallets (id);
"""


def open_database(url: str) -> tuple[object, ...]:
    """Stands in for a test that opens the project's Database (which migrates what is not migrated yet) and writes:
    the ids its first rows got."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone() == (None,):
            conn.execute(MIGRATION)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
        user = conn.execute("INSERT INTO users (name) VALUES ('a') RETURNING id").fetchone()
        wallet = conn.execute("INSERT INTO wallets (user_id) VALUES (1) RETURNING id").fetchone()
        conn.execute("INSERT INTO wallets (user_id, parent) VALUES (1, 1)")
        conn.execute("INSERT INTO buttons VALUES ('t', 2)")
        assert user is not None and wallet is not None
        return (*user, *wallet)


TOY_TABLES = frozenset({"public.users", "public.wallets", "public.buttons", "public.alembic_version"})  # MIGRATION's


def test_two_tests_leaving_the_same_table_of_their_own_do_not_make_it_kept(pg_server_url: str) -> None:
    """A table two tests in a row each created (beyond what the migrations build) is dropped for the next test,
    not kept and emptied (the next test creating it again would find it there)."""
    database = TestDatabase.create(pg_server_url)
    database.schema_tables = TOY_TABLES
    try:
        for _ in range(3):
            database.prepare()
            assert "public.extra" not in tables(database.url)
            open_database(database.url)
            with psycopg.connect(database.url) as conn:
                conn.execute("CREATE TABLE extra (k INTEGER)")
        assert database.clears == 0
    finally:
        database.drop()


def test_a_migrated_schema_is_kept_with_its_tables_emptied_once_two_tests_built_it_alike(pg_server_url: str) -> None:
    database = TestDatabase.create(pg_server_url)
    database.schema_tables = TOY_TABLES
    try:
        for _ in range(4):
            database.prepare()
            assert open_database(database.url) == (1, 1)  # nothing left, sequences restarted
        assert (database.resets, database.clears) == (2, 2)
        with psycopg.connect(database.url) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0016",)]
            conn.execute("ALTER TABLE users ADD COLUMN nick TEXT")  # a test that changes the schema
        database.prepare()
        assert tables(database.url) == []
        assert open_database(database.url) == (1, 1)
        database.prepare()  # migrated as before: emptied again, not dropped
        assert (database.resets, database.clears) == (3, 3)
        assert "public.users" in tables(database.url)
    finally:
        database.drop()


def test_a_schema_one_test_changed_after_migrating_is_not_kept(pg_server_url: str) -> None:
    database = TestDatabase.create(pg_server_url)
    database.schema_tables = TOY_TABLES
    try:
        database.prepare()
        open_database(database.url)
        with psycopg.connect(database.url) as conn:
            conn.execute("CREATE INDEX users_by_name ON users (name)")
        for _ in range(2):  # that schema once, then the migrated one once: neither seen twice in a row yet
            database.prepare()
            open_database(database.url)
        assert (database.resets, database.clears) == (3, 0)
        database.prepare()
        assert (database.resets, database.clears) == (3, 1)
    finally:
        database.drop()


def test_delete_order_puts_referring_tables_first() -> None:
    names = {1: "users", 2: "wallets", 3: "buttons", 4: "alone"}
    assert delete_order(names, [(2, 1), (3, 2), (3, 1)]) == ["alone", "buttons", "wallets", "users"]
    assert delete_order(names, [(2, 1), (1, 2)]) is None  # a cycle: only TRUNCATE empties them


def test_the_script_prints_a_server_url_that_answers(pg_server_url: str) -> None:
    done = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    assert SERVER_URL.fullmatch(done.stdout.strip()), done.stdout
    assert done.stdout.count("\n") == 1
    with psycopg.connect(database_url(done.stdout.strip(), "postgres"), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_urls() -> None:
    given = "postgresql://u:pw@db.example:6543/name?sslmode=require"
    assert server_of(given) == "postgresql://u:pw@db.example:6543?sslmode=require"
    assert server_of("postgresql://postgres@127.0.0.1:5432") == "postgresql://postgres@127.0.0.1:5432"
    assert database_url("postgresql://u@h:1?sslmode=disable", "x") == "postgresql://u@h:1/x?sslmode=disable"
    assert redact("postgresql://u:s3cret@h:1/x") == "postgresql://u:***@h:1/x"
    assert redact("postgresql://u@h:1/x") == "postgresql://u@h:1/x"


# The throwaway-cluster branch, as `make test` takes it on a fresh machine (here without installing: only where
# Debian's PostgreSQL is installed already), in a directory and on ports of its own, stopped afterwards.
DEBIAN_POSTGRES = list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


@pytest.mark.skipif(not DEBIAN_POSTGRES, reason="Debian's PostgreSQL is not installed")
def test_the_script_starts_a_throwaway_cluster_and_stops_it() -> None:
    # Not under pytest's tmp: the `postgres` user must be able to enter it.
    where = Path(f"/tmp/indexbot-test-postgres-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "INDEXBOT_TEST_POSTGRES_FRESH": "1", "INDEXBOT_TEST_POSTGRES_DIR": str(where),
           "INDEXBOT_TEST_POSTGRES_PORT": "55532"}
    try:
        done = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        url = done.stdout.strip()
        assert SERVER_URL.fullmatch(url) and url.startswith("postgresql://postgres@127.0.0.1:555"), done.stdout
        with psycopg.connect(database_url(url, "postgres"), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_setting('listen_addresses'), current_setting('fsync')").fetchone() == (
                "127.0.0.1", "off"
            )
        again = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=60,
                               env={**env, "INDEXBOT_TEST_POSTGRES_FRESH": "", "INDEXBOT_TEST_DATABASE_URL": url})
        assert again.stdout.strip() == url
    finally:
        subprocess.run([SCRIPT, "stop"], capture_output=True, timeout=60, env=env)
        Path(f"{where}.lock").unlink(missing_ok=True)
    assert not where.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database_url(url, "postgres"), connect_timeout=2)


def test_databases_of_dead_runs_are_dropped_after_a_day(pg_server_url: str) -> None:
    now = time.time()  # the real time: other workers' live databases are a few minutes old, never dropped
    old, young = database_name(now - STALE_AFTER - 1, "dead", "gw9"), database_name(now - 60, "live", "gw9")
    with psycopg.connect(database_url(pg_server_url, "postgres"), autocommit=True) as conn:
        for name in (old, young):
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            assert old in drop_stale(pg_server_url, now)
            left = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            assert old not in left and young in left
        finally:
            for name in (old, young):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
