"""A process's PostgreSQL connections are bounded (INDEXBOT_DATABASE_CONNECTIONS), so a fleet's processes together
stay under the server's max_connections. Past it PostgreSQL refuses new sessions ("too many clients already"), every
process's statements fail, and a webhook update whose reply left but whose handled mark failed is answered twice:
bench/scale.py saw 815 replies for 800 updates with four workers of 47 connections each on a server of 100."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.config import ConfigError, load_config
from bot.storage.db import Database, split_connections


@pytest.mark.parametrize("raw, refused", [
    ("3", True), ("1001", True), ("0", True), ("-5", True), ("many", True), ("٣٠", True), ("²⁰", True), ("30.5", True),
    ("4", False), ("30", False), (" 1000 ", False), ("", False),
])
def test_the_connection_budget_is_a_whole_number_from_4_to_1000(raw: str, refused: bool) -> None:
    env = {"INDEXBOT_HOME": "/tmp/indexbot-budget", "INDEXBOT_DATABASE_CONNECTIONS": raw}
    if refused:
        with pytest.raises(ConfigError, match="INDEXBOT_DATABASE_CONNECTIONS must be a whole number from 4 to 1000"):
            load_config(env)
    else:
        assert load_config(env).database_connections == (int(raw) if raw.strip() else 30)


@pytest.mark.parametrize("total", [4, 5, 30, 100, 1000])
def test_the_budget_is_shared_between_the_pool_and_the_job_engine(total: int) -> None:
    pool, jobs = split_connections(total)
    assert pool + jobs == total and pool >= 2 and jobs >= 2


async def test_the_pool_opens_no_more_connections_than_its_share(pg_url: str) -> None:
    name = make_url(pg_url).database

    async def counted() -> int:
        """Sessions on the test's database but this one (the test harness may hold one of its own)."""
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            cur = await conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                                     "pg_backend_pid()", (name,))
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

    before = await counted()
    db = await Database.open(pg_url, connections=3)
    try:
        sleeping = asyncio.gather(*(db.scalar("SELECT pg_sleep(0.5)") for _ in range(10)))
        await asyncio.sleep(0.25)
        during = await counted()
        await sleeping
    finally:
        await db.close()
    assert during - before == 3  # ten statements at once took turns on three connections (without the bound: ten)
