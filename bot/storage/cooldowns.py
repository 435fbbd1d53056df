"""Cooldown watches (bot/delivery/alerts/cooldowns.py): one row per user and staking token whose cooldown end is awaited.

An unstake sets or moves `ends_at` (chain time); the alert for an end is sent once and `notified_end` records it,
so a watch is open while `notified_end` differs from `ends_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.storage.db import Database

_COLUMNS = "user_id, token, address, ends_at, notified_end"
_OPEN = "(notified_end IS NULL OR notified_end != ends_at)"


@dataclass(frozen=True)
class CooldownWatch:
    user_id: int
    token: str  # the staking token's address
    address: str  # the wallet that unstaked
    ends_at: int  # chain time
    notified_end: int | None

    @property
    def open(self) -> bool:
        return self.notified_end != self.ends_at


def _watch(row: aiosqlite.Row) -> CooldownWatch:
    return CooldownWatch(int(row[0]), str(row[1]), str(row[2]), int(row[3]), None if row[4] is None else int(row[4]))


class CooldownWatchRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def watch(self, user_id: int, token: str, address: str, ends_at: int) -> None:
        """Await the end `ends_at` of this user's cooldown in `token` (replacing any earlier end)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"""INSERT INTO cooldown_watch ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL)
                    ON CONFLICT (user_id, token) DO UPDATE SET address = excluded.address, ends_at = excluded.ends_at""",
                (user_id, token, address, ends_at),
            )

    async def get(self, user_id: int, token: str) -> CooldownWatch | None:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM cooldown_watch WHERE user_id = ? AND token = ?",
                                       (user_id, token))
        return _watch(row) if row else None

    async def open(self) -> list[CooldownWatch]:
        """Every watch whose end was not told yet."""
        return [_watch(r) for r in await self._db.fetch_all(f"SELECT {_COLUMNS} FROM cooldown_watch WHERE {_OPEN}")]

    async def due(self, chain_now: int) -> list[CooldownWatch]:
        """Open watches whose end the chain has reached."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM cooldown_watch WHERE {_OPEN} AND ends_at <= ? ORDER BY ends_at", (chain_now,))
        return [_watch(r) for r in rows]

    async def notified(self, user_id: int, token: str, end: int) -> None:
        """The alert for end `end` was queued: the watch is closed (until an unstake moves the end again). A later
        end recorded meanwhile (a new unstake) stays open."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE cooldown_watch SET ends_at = ?, notified_end = ? WHERE user_id = ? AND token = ? AND ends_at <= ?",
                (end, end, user_id, token, end))

    async def forget(self, user_id: int, token: str, ends_at: int) -> None:
        """Nothing is cooling down any more (claimed already): no alert for the end `ends_at`. A later end recorded
        meanwhile (a new unstake) stays."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM cooldown_watch WHERE user_id = ? AND token = ? AND ends_at <= ?",
                             (user_id, token, ends_at))
