"""Cooldown watches (bot/delivery/alerts/cooldowns.py): one row per user and staking token whose cooldown end is awaited.

An unstake sets or moves `ends_at` (chain time); the alert for an end is sent once and `notified_end` records it,
so a watch is open while `notified_end` differs from `ends_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, or_, select, update

from bot.storage.db import Database
from bot.storage.schema import cooldown_watch as t

_COLUMNS = (t.c.user_id, t.c.token, t.c.address, t.c.ends_at, t.c.notified_end)
_OPEN = or_(t.c.notified_end.is_(None), t.c.notified_end != t.c.ends_at)


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


def _watch(row: Row[Any]) -> CooldownWatch:
    return CooldownWatch(int(row[0]), str(row[1]), str(row[2]), int(row[3]), None if row[4] is None else int(row[4]))


class CooldownWatchRows:
    """Every write is one statement conditional on the row as it is then (an upsert, an UPDATE or DELETE whose
    WHERE compares the stored end): nothing is read first, so processes writing at once need no lock."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def watch(self, user_id: int, token: str, address: str, ends_at: int) -> None:
        """Await the end `ends_at` of this user's cooldown in `token` (replacing any earlier end)."""
        async with self._db.transaction() as tx:
            new = tx.insert(t).values(user_id=user_id, token=token, address=address, ends_at=ends_at, notified_end=None)
            await tx.execute(new.on_conflict_do_update(
                index_elements=[t.c.user_id, t.c.token],
                set_={"address": new.excluded.address, "ends_at": new.excluded.ends_at},
            ))

    async def get(self, user_id: int, token: str) -> CooldownWatch | None:
        row = await self._db.fetch_one(select(*_COLUMNS).where(t.c.user_id == user_id, t.c.token == token))
        return _watch(row) if row else None

    async def open(self) -> list[CooldownWatch]:
        """Every watch whose end was not told yet."""
        return [_watch(r) for r in await self._db.fetch_all(select(*_COLUMNS).where(_OPEN))]

    async def due(self, chain_now: int) -> list[CooldownWatch]:
        """Open watches whose end the chain has reached (earliest end first)."""
        rows = await self._db.fetch_all(
            select(*_COLUMNS).where(_OPEN, t.c.ends_at <= chain_now).order_by(t.c.ends_at, t.c.user_id))
        return [_watch(r) for r in rows]

    async def notified(self, user_id: int, token: str, end: int) -> None:
        """The alert for end `end` was queued: the watch is closed (until an unstake moves the end again). A later
        end recorded meanwhile (a new unstake) stays open."""
        async with self._db.transaction() as tx:
            await tx.execute(update(t).where(t.c.user_id == user_id, t.c.token == token, t.c.ends_at <= end)
                             .values(ends_at=end, notified_end=end))

    async def forget(self, user_id: int, token: str, ends_at: int) -> None:
        """Nothing is cooling down any more (claimed already): no alert for the end `ends_at`. A later end recorded
        meanwhile (a new unstake) stays."""
        async with self._db.transaction() as tx:
            await tx.execute(delete(t).where(t.c.user_id == user_id, t.c.token == token, t.c.ends_at <= ends_at))
