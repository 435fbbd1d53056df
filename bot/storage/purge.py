"""Deleting rows nobody needs any more (bot.delivery.housekeeping decides when): old audit lines and the outbox's finished
messages. Expired buttons are `Buttons.purge_expired`'s."""

from __future__ import annotations

from bot.storage.db import Database

FINISHED = ("sent", "blocked", "failed", "cancelled", "unknown")  # never 'pending' or 'sending'


class PurgeRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def audit_before(self, before: int) -> int:
        """Audit lines whose last event is older than `before`; how many."""
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM audit_log WHERE COALESCE(last_at, at) < ?", (before,))

    async def outbox_finished_before(self, before: int) -> int:
        """Outbox rows finished (sent, refused, cancelled, unknown) and created before `before`; how many."""
        marks = ",".join("?" * len(FINISHED))
        async with self._db.transaction() as tx:
            return await tx.execute(f"DELETE FROM outbox WHERE created_at < ? AND state IN ({marks})", (before, *FINISHED))
