"""Quotes on show: which message shows which intent's quote, until the quote falls due (bot.delivery.quotes).

A row is written when a front end has shown a quote (`shown`), replaced when the same message is edited into
another quote, and deleted when it is edited into anything else (`forget`) or once its expiry was dealt with
(`done`). `due` joins the intent's state, so a sweep knows at once which quotes were confirmed meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, literal, select

from bot.storage.db import Database
from bot.storage.schema import intents, quote_messages


@dataclass(frozen=True)
class QuoteMessage:
    platform: str
    chat_id: str
    message_ref: str
    intent_id: int
    user_id: int
    due_at: int
    state: str  # the intent's state when it was read


class QuoteMessageRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def shown(self, platform: str, chat_id: str, message_ref: str, intent_id: int) -> bool:
        """This message now shows the quote of `intent_id` (still `quoted`): it falls due at the quote's expiry.
        Whether a row was written (False: no such intent waiting for its Confirm)."""
        t, i = quote_messages, intents
        source = select(literal(platform), literal(chat_id), literal(message_ref), i.c.id, i.c.user_id,
                        i.c.quote_expires_at).where(i.c.id == intent_id, i.c.state == "quoted")
        async with self._db.transaction() as tx:
            insert = tx.insert(t).from_select(["platform", "chat_id", "message_ref", "intent_id", "user_id", "due_at"], source)
            result = await tx.execute(insert.on_conflict_do_update(
                index_elements=[t.c.platform, t.c.chat_id, t.c.message_ref],
                set_={"intent_id": insert.excluded.intent_id, "user_id": insert.excluded.user_id,
                      "due_at": insert.excluded.due_at}))
        return bool(result)

    async def forget(self, platform: str, chat_id: str, message_ref: str) -> None:
        """This message shows no quote any more (edited into something else)."""
        t = quote_messages
        async with self._db.transaction() as tx:
            await tx.execute(delete(t).where(t.c.platform == platform, t.c.chat_id == chat_id, t.c.message_ref == message_ref))

    async def due(self, now: int, limit: int = 100) -> list[QuoteMessage]:
        """Quotes on show that fell due by `now`, the earliest first, with their intent's state."""
        t, i = quote_messages, intents
        rows = await self._db.fetch_all(
            select(t.c.platform, t.c.chat_id, t.c.message_ref, t.c.intent_id, t.c.user_id, t.c.due_at, i.c.state)
            .select_from(t.join(i, i.c.id == t.c.intent_id)).where(t.c.due_at <= now)
            .order_by(t.c.due_at).limit(limit))
        return [QuoteMessage(str(r.platform), str(r.chat_id), str(r.message_ref), int(r.intent_id), int(r.user_id),
                             int(r.due_at), str(r.state)) for r in rows]

    async def state_of(self, intent_id: int) -> str | None:
        row = await self._db.fetch_one(select(intents.c.state).where(intents.c.id == intent_id))
        return None if row is None else str(row.state)

    async def done(self, row: QuoteMessage) -> None:
        """Its expiry was dealt with: forgotten, unless the message shows another quote since."""
        t = quote_messages
        async with self._db.transaction() as tx:
            await tx.execute(delete(t).where(and_(t.c.platform == row.platform, t.c.chat_id == row.chat_id,
                                                  t.c.message_ref == row.message_ref, t.c.intent_id == row.intent_id)))
