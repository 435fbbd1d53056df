"""Telegram updates received by webhook (table telegram_updates, revision 0019): stored once, handled once.

Telegram posts an update until it gets a 2xx, and a load balancer can hand the same post to two processes (a retry
after a slow answer). So the web process stores the update under its `update_id` (INSERT … ON CONFLICT DO NOTHING:
a second copy changes nothing) and acknowledges only after the commit; whoever processes it takes the stored body,
skips it when `handled_at` is set, and sets it when done. `chat_key` ("<chat>:<user>") lets a worker that holds a
chat's turn handle every update of the chat still waiting, in update_id order (updates can be stored out of order by
two processes, and a chat's next update is often stored while its previous one is handled).
Handled rows are purged after a day (bot.storage.purge; Telegram gives up redelivering long before).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update

from bot.storage.db import Database, Tx
from bot.storage.schema import telegram_updates as updates

Stored = Literal["new", "waiting", "handled"]  # what `store` found: a first copy, one not handled yet, one handled


@dataclass(frozen=True)
class WaitingUpdate:
    update_id: int
    body: str  # JSON as Telegram posted it
    chat_key: str | None = None


class TelegramUpdateRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def store(self, update_id: int, chat_key: str | None, body: str,
                    within: Callable[[Tx], Awaitable[None]] | None = None) -> Stored:
        """Keep the update unless a copy is stored already; what was there. Committed when this returns. `within`
        runs in the transaction that stores a new update (a job deferred there exists exactly when the row does)."""
        async with self._db.transaction(single=within is None) as tx:
            added = await tx.execute(
                tx.insert(updates).on_conflict_do_nothing(index_elements=[updates.c.update_id]),
                {"update_id": update_id, "chat_key": chat_key, "body": body, "received_at": int(self._clock())})
            if added and within is not None:
                await within(tx)
        if added:
            return "new"
        # The copy stored first is committed: ON CONFLICT waited for its transaction if it was still open.
        handled = await self._db.scalar(select(updates.c.handled_at).where(updates.c.update_id == update_id))
        return "waiting" if handled is None else "handled"

    async def waiting_in_chat(self, update_id: int, *, unless_handled: bool = True, limit: int = 100) -> list[WaitingUpdate]:
        """The updates of `update_id`'s chat not handled yet, oldest first, at most `limit` (just `update_id` itself
        when it has no chat key); nothing when `update_id` is unknown, or handled and `unless_handled`. One query: the
        chat's key is a scalar subquery (NULL when it has none, or when `update_id` is handled and `unless_handled`)."""
        own = updates.c.update_id == update_id
        key = select(updates.c.chat_key).where(own)
        if unless_handled:
            key = key.where(updates.c.handled_at.is_(None))
        rows = await self._db.fetch_all(select(updates.c.update_id, updates.c.body)
                                        .where(updates.c.handled_at.is_(None),
                                               own | (updates.c.chat_key == key.scalar_subquery()))
                                        .order_by(updates.c.update_id).limit(limit))
        return [WaitingUpdate(r.update_id, r.body) for r in rows]

    async def handled(self, update_id: int) -> bool:
        """Mark the update handled; False when it already was (or is not stored)."""
        async with self._db.transaction(single=True) as tx:
            return bool(await tx.execute(update(updates).where(updates.c.update_id == update_id,
                                                               updates.c.handled_at.is_(None))
                                         .values(handled_at=int(self._clock()))))

    async def unhandled(self) -> list[WaitingUpdate]:
        """Every update stored and not handled (a previous run died meanwhile), oldest first."""
        rows = await self._db.fetch_all(select(updates.c.update_id, updates.c.body, updates.c.chat_key)
                                        .where(updates.c.handled_at.is_(None)).order_by(updates.c.update_id))
        return [WaitingUpdate(r.update_id, r.body, r.chat_key) for r in rows]
