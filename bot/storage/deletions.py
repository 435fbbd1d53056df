"""Pending deletions: messages a front end must delete at a given time (an exported key after 60 s).

Stored before the timer starts, so a crash cannot lose one: each front end carries out its overdue ones when it
starts and schedules the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.db import Database


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
            await tx.execute(
                """INSERT INTO pending_deletions (platform, chat_id, message_id, due_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (platform, chat_id, message_id) DO UPDATE SET due_at = excluded.due_at""",
                (pending.platform, pending.chat_id, pending.message_id, pending.due_at),
            )

    async def of(self, platform: str) -> list[PendingDeletion]:
        """Every deletion `platform` still owes, the earliest first."""
        rows = await self._db.fetch_all(
            "SELECT chat_id, message_id, due_at FROM pending_deletions WHERE platform = ? ORDER BY due_at", (platform,))
        return [PendingDeletion(platform, str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def done(self, pending: PendingDeletion) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM pending_deletions WHERE platform = ? AND chat_id = ? AND message_id = ?",
                             (pending.platform, pending.chat_id, pending.message_id))
