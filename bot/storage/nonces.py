"""Nonces across processes (issue 17): the lock on one sending address of one chain that a fleet shares, and the
nonces the address's stored transactions hold.

bot.trading.nonces hands out a wallet's nonces under a per-address lock. One process alone (SQLite, the embedded
default) needs nothing more: `address_lock` gives None and the manager keeps its sequence in memory. Several
processes on one PostgreSQL database each run a manager for the same wallets; `AdvisoryLock` makes them take
turns: a transaction-level advisory lock (`pg_advisory_xact_lock`) keyed by a 64-bit hash of (chain id, address),
held by a transaction opened on a pooled connection when the block starts and ended when it ends, after the signed
transactions were stored (their own transaction, committed) and broadcast. The next holder reads the chain's
pending count and `in_flight` again (READ COMMITTED: it sees every row the previous holder committed), so no two
processes sign one nonce. Transaction-level rather than session-level: a holder whose process dies, whose
connection drops or whose block is cancelled lets go with its transaction; nothing can leave the lock held on a
connection returned to the pool. The unique index one_tx_per_nonce on (chain_id, address, nonce) of the live rows
(bot.storage.schema, 0018) refuses a second row for a nonce if anything ever got past the lock.

Cost, on PostgreSQL only: per block one BEGIN / SELECT pg_advisory_xact_lock / COMMIT round trip each, one read
of the in-flight nonces and one pending count from the node (the in-memory sequence is not trusted there). A
holder keeps one pooled connection for the whole block (the reads, estimates and broadcast included): a process
trading for many wallets at once holds one per wallet (bot.trading.nonces takes this process's lock first, so
waiters of one wallet in one process hold none).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.schema import intent_txs

LIVE = ("signed", "sent")  # stored and not settled: the nonce is taken
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"  # PostgreSQL 11+: a 64-bit key from the text


def lock_key(chain_id: int, address: str) -> str:
    """The text hashed to the advisory lock's key of `address` on `chain_id`: the bot's own namespace, then the
    chain and the address in lower case (one lock whatever the checksum casing)."""
    return f"indexbot:nonce:{chain_id}:{address.lower()}"


class AdvisoryLock:
    """The fleet's lock on one address of one chain: PostgreSQL's advisory lock, held by an open transaction."""

    def __init__(self, db: Database, chain_id: int) -> None:
        self._db = db
        self._chain_id = chain_id

    @asynccontextmanager
    async def hold(self, address: str) -> AsyncIterator[None]:
        async with self._db.transaction() as tx:
            await tx.scalar(LOCK, {"key": lock_key(self._chain_id, address)})
            yield  # committed (nothing written) or rolled back on leaving: the lock goes with the transaction


def address_lock(db: Database, chain_id: int) -> AdvisoryLock | None:
    """The lock processes sharing `db` take around a nonce of `chain_id`: None on SQLite (one process; the file's
    writer lock is no place to hold a lock across RPC calls)."""
    return AdvisoryLock(db, chain_id) if db.dialect == "postgresql" else None


async def in_flight(db: Database, chain_id: int, address: str) -> list[int]:
    """The nonces `address`'s stored transactions on `chain_id` hold that are signed or sent and not settled yet,
    ascending: the wallet's own transactions in flight (a replaced or dropped row holds none)."""
    rows = await db.fetch_all(
        select(intent_txs.c.nonce).distinct()
        .where(intent_txs.c.chain_id == chain_id, intent_txs.c.address == address, intent_txs.c.state.in_(LIVE),
               intent_txs.c.nonce.is_not(None))
        .order_by(intent_txs.c.nonce)
    )
    return [int(r[0]) for r in rows]
