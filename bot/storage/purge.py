"""Deleting rows nobody needs any more (bot.delivery.housekeeping decides when): old audit lines, the outbox's finished
messages, Telegram updates handled a day ago (redelivery of an update ends long before), /connect links that
expired unused and questions left unanswered. Expired buttons are `Buttons.purge_expired`'s."""

from __future__ import annotations

from sqlalchemy import delete, func

from bot.storage.db import Database
from bot.storage.schema import audit_log, connect_links, miniapp_init_data, outbox, prompts, telegram_updates

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

    async def telegram_updates_handled_before(self, before: int) -> int:
        """Telegram updates handled and received before `before`; how many. One still waiting is never purged."""
        async with self._db.transaction() as tx:
            return await tx.execute(delete(telegram_updates).where(telegram_updates.c.handled_at.is_not(None),
                                                                   telegram_updates.c.received_at < before))

    async def connect_links_unused_before(self, before: int) -> int:
        """/connect links never used that expired before `before`; how many. A used one records a linked wallet."""
        async with self._db.transaction() as tx:
            return await tx.execute(delete(connect_links).where(connect_links.c.used_at.is_(None),
                                                                connect_links.c.expires_at < before))

    async def miniapp_init_data_expired(self, now: int) -> int:
        """Telegram Mini App sign-in data refused as too old anyway (bot.storage.miniapp); how many."""
        async with self._db.transaction() as tx:
            return await tx.execute(delete(miniapp_init_data).where(miniapp_init_data.c.expires_at < now))

    async def questions_expired_before(self, before: int) -> int:
        """Questions (bot.storage.prompts) that timed out before `before`, unanswered; how many. Until then a late
        answer is told the question timed out."""
        async with self._db.transaction() as tx:
            return await tx.execute(delete(prompts).where(prompts.c.expires_at < before))
