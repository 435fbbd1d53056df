"""Deleting rows nobody needs any more (bot.delivery.housekeeping decides when): old audit lines and the outbox's finished
messages. Expired buttons are `Buttons.purge_expired`'s."""

from __future__ import annotations

from sqlalchemy import delete, func

from bot.storage.db import Database
from bot.storage.schema import audit_log, outbox

FINISHED = ("sent", "blocked", "failed", "cancelled", "unknown")  # never 'pending' or 'sending'


class PurgeRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def audit_before(self, before: int) -> int:
        """Audit lines whose last event is older than `before`; how many."""
        async with self._db.transaction() as tx:
            return await tx.execute(delete(audit_log).where(func.coalesce(audit_log.c.last_at, audit_log.c.at) < before))

    async def outbox_finished_before(self, before: int) -> int:
        """Outbox rows finished (sent, refused, cancelled, unknown) and created before `before`; how many."""
        async with self._db.transaction() as tx:
            return await tx.execute(delete(outbox).where(outbox.c.created_at < before, outbox.c.state.in_(FINISHED)))
