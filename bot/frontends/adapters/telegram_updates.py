"""How the Telegram front end takes its updates: one chat's in order, different chats at once.

python-telegram-bot hands every update to an update processor (`BaseUpdateProcessor`); its default runs them
all concurrently, so `/lang zh_CN` followed at once by `/quote` could be answered in English: the quote ran
before the language was stored. `ChatOrderedUpdates` keys updates by chat (and, in a group, by member: one
member's slow trade does not hold up the others): while one of a chat's updates is handled, the chat's next
ones wait in a queue of that chat and run after it, in arrival order, in the same slot. A chat therefore holds
at most one of the `max_concurrent_updates` slots however much it sends, and a slow chat never delays another.
`finished` is awaited after each update (the press journal forgets it).

A press fetched but not handled when the bot is killed would be lost: getUpdates acknowledges everything
before its `offset`, and the Updater asks again at once. `PressJournal` stores presses as they are fetched
(`JournaledPolling` wraps the Updater's getUpdates), and the front end handles what is left at start-up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import delete, select
from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor

from bot.storage.db import Database
from bot.storage.schema import telegram_presses

log = logging.getLogger(__name__)


def chat_key(update: object) -> tuple[int, int] | None:
    """Whose turn an update waits for: its chat and sender (in a group, one member's slow trade does not hold up
    the others; in a private chat the two are one); None: not ordered."""
    if not isinstance(update, Update):
        return None
    chat, user = update.effective_chat, update.effective_user
    if chat is None and user is None:
        return None
    return (chat.id if chat is not None else 0, user.id if user is not None else 0)


class ChatOrderedUpdates(BaseUpdateProcessor):
    """One chat's updates (one member's, in a group) one after another in the order they came; the rest concurrently."""

    def __init__(self, max_concurrent_updates: int, finished: Callable[[object], Awaitable[None]] | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._finished = finished
        self._waiting: dict[tuple[int, int], deque[tuple[object, Awaitable[Any]]]] = {}  # after the running one

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close: `Application.stop` waits for the running chats, which drain their queues."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await self._run(update, coroutine)
            return
        waiting = self._waiting.get(key)
        if waiting is not None:  # the chat is busy: this update runs after the ones before it, in their slot
            waiting.append((update, coroutine))
            return
        self._waiting[key] = waiting = deque([(update, coroutine)])
        try:
            while waiting:
                try:
                    await self._run(*waiting[0])
                except Exception:  # noqa: BLE001 - the application reported it already; the chat goes on
                    log.debug("telegram: an update of chat %s ended in an error", key)
                finally:
                    waiting.popleft()
        finally:
            del self._waiting[key]
            for _, left in waiting:  # cancelled (shutdown): close what never ran, so nothing warns "never awaited"
                close = getattr(left, "close", None)
                if close is not None:
                    close()

    async def _run(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle one update, then tell `finished`; not when cancelled (a shutdown): it was not handled."""
        try:
            await coroutine
        finally:
            if self._finished is not None and not _cancelling():
                try:
                    await self._finished(update)
                except Exception:  # noqa: BLE001 - bookkeeping must not stop the chat's next update
                    log.exception("telegram: could not record update %s as handled", getattr(update, "update_id", "?"))


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


PRESS_MESSAGE_KEEPS = ("message_id", "chat", "date")  # of a pressed message, all a press's handling reads


class PressJournal:
    """Button presses fetched from Telegram and not yet handled, in the database (migration 0015): stored before the
    next getUpdates acknowledges them, forgotten once handled, handled again after a restart. Of the pressed
    message only its id, chat and date are kept: its text may be anything the bot showed (a key being exported)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def keep(self, updates: Sequence[Update]) -> None:
        rows = [{"update_id": u.update_id, "body": json.dumps(_stored(u), separators=(",", ":")),
                 "fetched_at": int(self._clock())} for u in updates if u.callback_query is not None]
        if rows:
            async with self._db.transaction() as tx:  # a press fetched again is kept once
                await tx.execute_many(
                    tx.insert(telegram_presses).on_conflict_do_nothing(index_elements=[telegram_presses.c.update_id]),
                    rows)

    async def forget(self, update: object) -> None:
        if isinstance(update, Update) and update.callback_query is not None:
            async with self._db.transaction() as tx:
                await tx.execute(delete(telegram_presses).where(telegram_presses.c.update_id == update.update_id))

    async def unfinished(self) -> list[dict[str, Any]]:
        """The presses a previous run fetched and did not finish, oldest first."""
        rows = await self._db.fetch_all(select(telegram_presses.c.body).order_by(telegram_presses.c.update_id))
        return [json.loads(row.body) for row in rows]


def _stored(update: Update) -> dict[str, Any]:
    body = update.to_dict()
    message = body["callback_query"].get("message")
    if message is not None:
        body["callback_query"]["message"] = {key: message[key] for key in PRESS_MESSAGE_KEEPS if key in message}
    return body


class JournaledPolling:
    """The bot as python-telegram-bot's Updater sees it: `get_updates` stores the presses it fetched before
    returning them, so before the Updater's next call acknowledges them (`offset`); a press handled again from
    the journal and fetched once more (the previous run died before acknowledging it) comes back as an empty
    update, which no handler takes. Everything else is the bot itself."""

    def __init__(self, bot: Bot, journal: PressJournal, replayed: set[int]) -> None:
        self._bot = bot
        self._journal = journal
        self._replayed = replayed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bot, name)

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        updates = await self._bot.get_updates(*args, **kwargs)
        updates = tuple(Update(u.update_id) if u.update_id in self._replayed else u for u in updates)
        await self._journal.keep(updates)
        return updates
