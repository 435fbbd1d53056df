"""Open prompts: the question each user was asked in each chat, until their next plain message there answers it.

One row per user and chat: asking again replaces the question (an upsert). Taking the answer deletes the row in the
statement that reads it (DELETE ... RETURNING), so of two processes of a fleet, or two messages sent at once, one
takes the question and the other finds none.

A question may also be answered on a page (a PIN pad in a Telegram Mini App): its link token is kept only as a hash
(`page`), a new question gets a new one, so a page of a question answered, ended or replaced finds nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from bot.storage.connected import token_hash
from bot.storage.db import Database
from bot.storage.schema import prompts


@dataclass(frozen=True)
class PromptRow:
    user_id: int
    chat_id: str
    prompt: str  # the registered prompt that takes the answer
    state: tuple[str, ...]
    field: str  # the catalog entry naming the value asked for
    secret: str | None
    expires_at: int


class PromptRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def open(self, user_id: int, chat_id: str, prompt: str, state: tuple[str, ...], field: str,
                   secret: str | None, ttl_seconds: int, page: str | None = None) -> None:
        """Ask: the user's open question in this chat from now on, replacing any other. `page`: the link token of the
        page it may be answered on too."""
        now = int(self._clock())
        values = {"prompt": prompt, "state": json.dumps(list(state)), "field": field, "secret": secret,
                  "created_at": now, "expires_at": now + ttl_seconds, "page": None if page is None else token_hash(page)}
        async with self._db.transaction(single=True) as tx:
            await tx.execute(tx.insert(prompts).values(user_id=user_id, chat_id=chat_id, **values)
                             .on_conflict_do_update(index_elements=[prompts.c.user_id, prompts.c.chat_id], set_=values))

    async def take(self, user_id: int, chat_id: str, page: str | None = None, prompt: str | None = None) -> PromptRow | None:
        """The open question, removed as it is read (expired or not: the caller tells which), None if there is none.
        `page`: answered on that page, so only the question that page was made for (not one asked since); `prompt`:
        sent through that question's form, so only if it is still that question."""
        where = [prompts.c.user_id == user_id, prompts.c.chat_id == chat_id]
        if page is not None:
            where.append(prompts.c.page == token_hash(page))
        if prompt is not None:
            where.append(prompts.c.prompt == prompt)
        async with self._db.transaction(single=True) as tx:
            row = await tx.fetch_one(delete(prompts).where(*where).returning(*prompts.c))
        return None if row is None else _row(row)

    async def peek(self, user_id: int, chat_id: str) -> PromptRow | None:
        """The open question, left open (what Discord's Answer button shows as a form)."""
        row = await self._db.fetch_one(
            prompts.select().where(prompts.c.user_id == user_id, prompts.c.chat_id == chat_id))
        return None if row is None else _row(row)

    async def on_page(self, page: str) -> PromptRow | None:
        """The open question the page with link token `page` was made for, left open; None once it is gone."""
        row = await self._db.fetch_one(prompts.select().where(prompts.c.page == token_hash(page)))
        return None if row is None else _row(row)

    async def end(self, user_id: int, chat_id: str) -> bool:
        """Close the question without an answer (Cancel, or a command typed instead): whether one was open. Every
        command asks, so a read comes first and the write (SQLite's one writer) only when a question is open: a chat's
        messages are handled in order, so none is opened between the two."""
        where = (prompts.c.user_id == user_id, prompts.c.chat_id == chat_id)
        if await self._db.scalar(select(prompts.c.user_id).where(*where)) is None:
            return False
        async with self._db.transaction(single=True) as tx:
            gone = await tx.execute(delete(prompts).where(*where))
        return gone > 0

    async def purge_expired(self, now: int | None = None) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute(delete(prompts).where(prompts.c.expires_at < (now or int(self._clock()))))


def _row(row: Any) -> PromptRow:
    return PromptRow(int(row.user_id), str(row.chat_id), str(row.prompt), tuple(json.loads(row.state)),
                     str(row.field), row.secret, int(row.expires_at))
