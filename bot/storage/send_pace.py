"""The fleet's one pace of messages to a platform: Telegram's limits held across every process, in PostgreSQL.

Telegram's limits (about 30 messages a second overall, 1 a second per private chat, 20 a minute per group) are the
bot's. Each process keeps them for itself (bot.frontends.adapters.telegram_limits), but a fleet of workers, each
answering its own chats, and the outbox's sender would together go past them. So on PostgreSQL a message, once its
process's own limiter lets it go, also reserves its moment in the fleet's pace: one statement that moves the
overall key's and the chat's key's theoretical arrival time (GCRA, the generic cell rate algorithm: `tat`, the
moment the key would be back to an empty backlog) and returns how long to wait. The fleet's message rate is itself
capped at Telegram's 30 a second, so the statement costs at most that many round trips a second, fleet-wide; the
row of the overall key is updated by every process, serialised by its row lock, and held for microseconds.

A 429 pushes its key's `tat` out by the time Telegram asked for (`hold`), so every process waits it out, not only
the one that was refused. Rows are pacing state, not records: the table is UNLOGGED, and rows idle for an hour are
deleted by the next process that reserves after `SWEEP_EVERY` others.

Written by hand: the GCRA is a few lines of SQL here; the libraries that implement it (redis-cell, limits'
moving windows) need Redis, which the stack does not have, and this is one statement on the database every process
already holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage.db import Database

log = logging.getLogger(__name__)

SWEEP_EVERY = 1024  # reservations of this process between deletions of idle rows
IDLE = 3600.0  # seconds after its tat that a key's row is deleted: it paces nothing any more

# One row per key, in the order given (the overall key first in every call, so two processes lock rows in the same
# order and never deadlock). The wait is how far the key's new tat is past the burst it allows: 0 while the key has
# room. now() is the statement's own transaction's start: one moment for every key of the call.
RESERVE = """
INSERT INTO send_pace AS p (key, tat, spacing, burst)
SELECT v.key, extract(epoch FROM now()) + v.spacing, v.spacing, v.burst
FROM unnest(CAST(:keys AS text[]), CAST(:spacings AS float8[]), CAST(:bursts AS int[])) WITH ORDINALITY
     AS v(key, spacing, burst, n)
ORDER BY v.n
ON CONFLICT (key) DO UPDATE
SET tat = greatest(p.tat, extract(epoch FROM now())) + excluded.spacing, spacing = excluded.spacing,
    burst = excluded.burst
RETURNING greatest(0, p.tat - p.burst * p.spacing - extract(epoch FROM now()))
"""
HOLD = """
UPDATE send_pace SET tat = greatest(tat, extract(epoch FROM now()) + :seconds + (burst - 1) * spacing)
WHERE key = :key
"""
SWEEP = "DELETE FROM send_pace WHERE tat < extract(epoch FROM now()) - :idle"


@dataclass(frozen=True)
class Pace:
    """A key's sustained rate and burst: `spacing` seconds between messages once `burst` have left at once."""

    key: str
    spacing: float
    burst: int


class SendPace:
    """Reservations of moments to send, shared by every process on one PostgreSQL database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._reserved = 0

    async def reserve(self, paces: Sequence[Pace]) -> float:
        """Take the next moment every one of `paces` allows; the seconds to wait before sending (0: at once)."""
        self._reserved += 1
        if self._reserved % SWEEP_EVERY == 0:
            await self._db.execute(SWEEP, {"idle": IDLE})
        rows = await self._db.fetch_all(RESERVE, {"keys": [p.key for p in paces],
                                                  "spacings": [p.spacing for p in paces],
                                                  "bursts": [p.burst for p in paces]})
        return max(float(row[0]) for row in rows)

    async def hold(self, key: str, seconds: float) -> None:
        """Nothing more leaves for `key` in any process for `seconds` (Telegram's retry_after for it)."""
        await self._db.execute(HOLD, {"key": key, "seconds": seconds})
