"""The seat of a fleet's one active outbox sender per platform: a PostgreSQL session-level advisory lock.

Telegram's limits (30 messages a second overall, 1 a second per chat, 20 a minute per group) are the bot's, not a
process's: two processes sending at full rate would get 429s. So one process per platform sends, the one holding
`pg_try_advisory_lock(key)` on a connection of its own that it keeps open; every other process with the sender role
tries again every few seconds. The lock lives exactly as long as that connection: when the holder dies (SIGKILL, a
crash, its machine), PostgreSQL ends the session and the lock is free for the next try; no table of leaders, no
lease to renew. The holder checks its connection every `HEARTBEAT` seconds, so one that lost it (its server
restarted, a network cut) learns so and stops sending before a standby has had time to take over. TCP keepalives on
both ends (client options, and the session's `tcp_keepalives_*`) let either side notice a peer that vanished
without closing the connection within seconds rather than the kernel's two hours.

The same connection LISTENs on the platform's channel (`outbox_<platform>`): a `put` in any process NOTIFYs it in
the transaction that stores the row (bot.storage.outbox), so the active sender wakes at once; its own periodic look
at the outbox stays the fallback.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

import psycopg
import psycopg.conninfo
import psycopg.sql

from bot.storage.db import Database, libpq_url

log = logging.getLogger(__name__)

HEARTBEAT = 2.0  # seconds between checks that the holder's connection still works
CONNECT_TIMEOUT = 5  # seconds
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}  # libpq's
SERVER_KEEPALIVES = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 3")
APPLICATION = "indexbot outbox sender "  # + platform and process id: the seat's application_name
LOCK_KEY = "indexbot:outbox-sender:"  # + platform, hashed to the lock's 64-bit key by PostgreSQL


def channel(platform: str) -> str:
    """The NOTIFY channel of a platform's outbox (an identifier: platforms are short lowercase names)."""
    if not platform.replace("_", "").isalnum():
        raise ValueError(f"not a platform name: {platform!r}")
    return f"outbox_{platform}"


# Whether any session of this database holds a platform's seat: the lock's 64-bit key is split by PostgreSQL into
# classid (high 32 bits) and objid (low 32 bits), objsubid 1 marking a one-key lock. One read of pg_locks, no lock taken.
_HELD = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
         " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
         " AND classid::bigint = (hashtextextended(:key, 0) >> 32) & 4294967295"
         " AND objid::bigint = hashtextextended(:key, 0) & 4294967295")


async def seat_held(db: Database, platform: str) -> bool:
    """True when some process of the fleet (this one or another) holds `platform`'s seat now (PostgreSQL only)."""
    return bool(await db.scalar(_HELD, {"key": LOCK_KEY + platform}))


class SeatLost(Exception):
    """The connection that held the seat is gone (or never opened): whatever it held is free for another."""


class SenderSeat:
    """One process's claim to be its platform's sender: `take` tries the lock, `hold` keeps it and relays wake-ups
    until the connection is lost, `release` gives it up."""

    def __init__(self, database_url: str, platform: str) -> None:
        self.platform = platform
        self._url = libpq_url(database_url)
        self._channel = channel(platform)
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        # What pg_stat_activity shows of this connection: which process holds (or waits for) the seat.
        self.name = f"{APPLICATION}{platform} pid {os.getpid()}"

    async def take(self) -> bool:
        """Try once for the seat: True when this process now holds it. Raises `SeatLost` when PostgreSQL is out of
        reach (the caller tries again later)."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    psycopg.conninfo.make_conninfo(self._url, connect_timeout=CONNECT_TIMEOUT, application_name=self.name,
                                                   **KEEPALIVES),
                    autocommit=True)
                for statement in SERVER_KEEPALIVES:
                    await self._conn.execute(statement)
            cursor = await self._conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                              (LOCK_KEY + self.platform,))
            row = await cursor.fetchone()
            if row is None or not row[0]:
                return False
            await self._conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self._channel)))
            return True
        except (psycopg.Error, OSError) as err:
            await self.release()
            raise SeatLost(type(err).__name__) from None

    async def hold(self, wake: Callable[[], None], heartbeat: float = HEARTBEAT) -> None:
        """Keep the seat: call `wake` on every NOTIFY of the platform's channel, check the connection every
        `heartbeat` seconds. Returns only by raising `SeatLost` (or on cancellation)."""
        conn = self._conn
        if conn is None:
            raise SeatLost("not taken")
        try:
            while True:
                async for _note in conn.notifies(timeout=heartbeat):
                    wake()
                async with asyncio.timeout(heartbeat + CONNECT_TIMEOUT):
                    await conn.execute("SELECT 1")
        except (psycopg.Error, OSError, TimeoutError) as err:
            await self.release()
            raise SeatLost(type(err).__name__) from None

    async def release(self) -> None:
        """Close the connection: the lock, if held, goes with it."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except (psycopg.Error, OSError):
                pass

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL session holding (or trying for) the seat: for an operator's pg_stat_activity, and tests."""
        return self._conn.info.backend_pid if self._conn is not None and not self._conn.closed else None
