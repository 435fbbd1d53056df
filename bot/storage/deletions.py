"""Pending deletions: messages a front end must delete at a given time (an exported key after 60 s).

Stored before the timer starts, so a crash cannot lose one: each front end carries out its overdue ones when it
starts and schedules the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from bot.storage.db import Database
from bot.storage.schema import pending_deletions


@dataclass(frozen=True)
class PendingDeletion:
    platform: str
    chat_id: str
    message_id: str
    due_at: int  # unix seconds


class PendingDeletionRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, pending: PendingDeletion) -> None:
        """Promise to delete this message at `due_at` (a second promise for the same message replaces it)."""
        async with self._db.transaction() as tx:
            insert = tx.insert(pending_deletions).values(platform=pending.platform, chat_id=pending.chat_id,
                                                         message_id=pending.message_id, due_at=pending.due_at)
            await tx.execute(insert.on_conflict_do_update(
                index_elements=[pending_deletions.c.platform, pending_deletions.c.chat_id, pending_deletions.c.message_id],
                set_={"due_at": insert.excluded.due_at}))

    async def of(self, platform: str) -> list[PendingDeletion]:
        """Every deletion `platform` still owes, the earliest first."""
        t = pending_deletions
        rows = await self._db.fetch_all(
            select(t.c.chat_id, t.c.message_id, t.c.due_at).where(t.c.platform == platform)
            .order_by(t.c.due_at, t.c.chat_id, t.c.message_id))
        return [PendingDeletion(platform, str(r.chat_id), str(r.message_id), int(r.due_at)) for r in rows]

    async def done(self, pending: PendingDeletion) -> None:
        t = pending_deletions
        async with self._db.transaction() as tx:
            await tx.execute(delete(t).where(t.c.platform == pending.platform, t.c.chat_id == pending.chat_id,
                                             t.c.message_id == pending.message_id))
