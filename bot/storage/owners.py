"""Which live process carries a trade (issue 17): a PostgreSQL advisory lock per intent, held by its owner.

In a fleet the process that confirms a trade signs it, sends it and follows it to its end, as one process always
did; a durable job (bot.trading.jobs) stands by to finish it should that process die. The job must not act while
the owner lives (two processes following one trade tell its user twice) and must act as soon as it is dead,
without a timeout to guess. A session-level advisory lock says exactly that: the owner takes it on the intent
before anything is signed and lets it go once the trade is settled and told; PostgreSQL releases it by itself
when the owner's connection ends, and a process killed outright loses its connection at once (the kernel closes
the socket). The job only tries the lock (`try_take`): held means alive; taken, the job is the owner.

Every intent a process owns is locked on one connection of its own (`IntentOwners.take`), not one pooled
connection per trade in flight: fifty trades in flight cost one connection. Should that connection break while
the process lives, its locks are gone and a job may take its trades over; the process then follows a trade it no
longer owns, and the user may hear the outcome twice (never a second transaction: signing is under the wallet's
nonce lock, bot.storage.nonces). Logged when it happens.

Keys live in the bot's own namespace (`indexbot:intent:<id>`), hashed to 64 bits as the nonce locks' are.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.db import Database

log = logging.getLogger(__name__)
KEY = "hashtextextended(:key, 0)"


def owner_key(intent_id: int) -> str:
    return f"indexbot:intent:{intent_id}"


class IntentOwners:
    """This process's hold on the intents it carries (PostgreSQL only: one process needs none)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: AsyncConnection | None = None
        self._use = asyncio.Lock()  # one statement at a time on the owner's connection
        self._held: set[int] = set()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            if self._held:
                log.error("the connection holding trade owner locks was lost; intents %s may be taken over by "
                          "another process", sorted(self._held))
                self._held.clear()
            conn = await self._db.engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def take(self, intent_id: int) -> None:
        """Own an intent just confirmed (nobody else can have it yet: its job is deferred after this). Never waits:
        a lock held elsewhere would be a bug, refused rather than waited on with the other owners' connection."""
        if not await self.try_take(intent_id):
            raise RuntimeError(f"intent {intent_id} is owned elsewhere already")

    def holds(self, intent_id: int) -> bool:
        return intent_id in self._held

    async def let_go(self, intent_id: int) -> None:
        """No longer own the intent (nothing when this process does not own it)."""
        async with self._use:
            if intent_id not in self._held:
                return
            self._held.discard(intent_id)
            try:
                conn = await self._connection()
                await conn.execute(text(f"SELECT pg_advisory_unlock({KEY})"), {"key": owner_key(intent_id)})
            except Exception:  # noqa: BLE001 - a lost connection let go of it already
                log.exception("could not release the owner lock of intent %s", intent_id)

    async def try_take(self, intent_id: int) -> bool:
        """Own the intent unless a live process does (its owner lock is held): whether it is this process's now."""
        async with self._use:
            if intent_id in self._held:
                return False  # carried here already: by its owner, or by another run of its job
            conn = await self._connection()
            got = await conn.scalar(text(f"SELECT pg_try_advisory_lock({KEY})"), {"key": owner_key(intent_id)})
            if got:
                self._held.add(intent_id)
            return bool(got)

    async def close(self) -> None:
        async with self._use:
            self._held.clear()
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
