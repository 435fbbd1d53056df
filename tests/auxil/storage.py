"""Databases as older versions of indexbot left them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import insert

from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.schema import dca_plans, intent_txs, intents, lock_events, pins, point_ledger, users, wallets

MAX_256 = 2**256 - 1


def legacy_file(path: Path, upto: int) -> None:
    """A database as bot.storage.db built it before Alembic: schema_migrations and the SQL files 1..upto."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        for number, sql in migrate.legacy_migrations():
            if number <= upto:
                conn.executescript(f"BEGIN IMMEDIATE;\n{sql.read_text()}\n"
                                   f"INSERT INTO schema_migrations VALUES ({number}, 0);\nCOMMIT;")
    finally:
        conn.close()


async def installation(path: Path) -> None:
    """A SQLite database with rows in tables of every shape: parents and children, composite keys, bytes,
    a 256-bit amount, a REAL time."""
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            for n in (1, 2, 3):
                await tx.execute(insert(users).values(platform="telegram", platform_user_id=str(100 + n),
                                                      display_name=f"user {n}", created_at=1_700_000_000 + n,
                                                      last_seen_at=1_700_000_100 + n))
            await tx.execute(insert(wallets).values(user_id=2, kind="custodial", address="0x" + "ab" * 20,
                                                    encrypted_key=bytes(range(60)), key_id="k1", created_at=1))
            await tx.execute(insert(pins).values(user_id=2, salt=b"\x00\xff" * 8, hash=b"\x01" * 32, params="{}"))
            await tx.execute(insert(intents).values(
                user_id=2, address="0x" + "ab" * 20, kind="buy", chain_id=8453, params='{"usdc": "100000000"}',
                state="mined", quote_expires_at=5, platform="telegram", chat_id="102", created_at=1, updated_at=2))
            await tx.execute(insert(intent_txs).values(
                intent_id=1, step=0, purpose="swap", address="0x" + "ab" * 20, nonce=7, raw_tx=b"\x02\xf8" + b"\x11" * 90,
                tx_hash="0x" + "cd" * 32, max_fee=2_000_000_000, priority_fee=1_000_000, state="mined", block=12,
                signed_at=1_700_000_000.25, sent_at=1_700_000_000.5, chain_id=8453))
            await tx.execute(insert(dca_plans).values(
                user_id=3, token="MAG7.ssi", usdc_units=MAX_256, cadence="daily", at_minute=540, zone="UTC",
                platform="telegram", chat_id="103", state="active", created_at=1))
            await tx.execute(insert(lock_events).values(locker="0x" + "01" * 20, token="0x" + "02" * 20, block=3,
                                                        log_index=0, amount=MAX_256 - 1))
            for source in ("held", "boost"):
                await tx.execute(insert(point_ledger).values(user_id=2, day="2026-11-20", source=source,
                                                             reason="daily", epoch="e1", points=1500))
    finally:
        await db.close()
