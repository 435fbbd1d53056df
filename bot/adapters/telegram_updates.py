"""How the Telegram front end takes its updates: one chat's in order, different chats at once.

python-telegram-bot hands every update to an update processor (`BaseUpdateProcessor`); its default runs them
all concurrently, so `/lang zh_CN` followed at once by `/quote` could be answered in English: the quote ran
before the language was stored. `ChatOrderedUpdates` keys updates by chat: while one of a chat's updates is
handled, the chat's next ones wait in a queue of that chat and run after it, in arrival order, in the same
slot. A chat therefore holds at most one of the `max_concurrent_updates` slots however much it sends, and a
slow chat never delays another.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)


def chat_key(update: object) -> int | None:
    """The chat an update belongs to (the user's, for a press on an inline message); None: not ordered."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


class ChatOrderedUpdates(BaseUpdateProcessor):
    """One chat's updates one after another in the order they came; different chats concurrently."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._waiting: dict[int, deque[Awaitable[Any]]] = {}  # chat -> its updates after the one running

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close: `Application.stop` waits for the running chats, which drain their queues."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        waiting = self._waiting.get(key)
        if waiting is not None:  # the chat is busy: this update runs after the ones before it, in their slot
            waiting.append(coroutine)
            return
        self._waiting[key] = waiting = deque([coroutine])
        try:
            while waiting:
                try:
                    await waiting[0]
                except Exception:  # noqa: BLE001 - the application reported it already; the chat goes on
                    log.debug("telegram: an update of chat %s ended in an error", key)
                finally:
                    waiting.popleft()
        finally:
            del self._waiting[key]
            for left in waiting:  # cancelled (shutdown): close what never ran, so nothing warns "never awaited"
                close = getattr(left, "close", None)
                if close is not None:
                    close()
