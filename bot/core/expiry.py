"""Messages a front end deletes at their time (an exported key after 60 s), each promise stored first.

A front end hands `Expiries` the one call that deletes a message on its platform; `after` stores the promise in
the database (`pending_deletions`) and then times it, `resume` (at start-up) deletes every message that fell due
while the bot was down and times the others, `stop` deletes the pending ones early rather than never. A promise is
forgotten once the platform has answered, and kept for the next start when it could not be asked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from bot.storage.deletions import PendingDeletion, PendingDeletionRows

log = logging.getLogger(__name__)

# Deletes one message: True when deleted, False when the platform refused (gone already, no right to), None when
# the platform could not be asked (the promise is then kept for the next start).
DeleteFn = Callable[[str, str], Awaitable[bool | None]]


class Expiries:
    def __init__(self, rows: PendingDeletionRows, platform: str, delete: DeleteFn, clock: Callable[[], float] = time.time) -> None:
        self._rows = rows
        self._platform = platform
        self._delete = delete
        self._clock = clock
        self._timers: dict[tuple[str, str], tuple[PendingDeletion, asyncio.Task[None]]] = {}

    @property
    def pending(self) -> list[PendingDeletion]:
        """The deletions timed in this process."""
        return [pending for pending, _ in self._timers.values()]

    async def after(self, chat_id: str, message_id: str, seconds: int) -> None:
        """Delete this message `seconds` from now: stored before the timer starts, so a crash cannot lose it."""
        pending = PendingDeletion(self._platform, chat_id, message_id, int(self._clock()) + seconds)
        await self._rows.add(pending)
        self._time(pending)

    async def resume(self) -> None:
        """At start-up: delete now every message that fell due while the bot was down, and time the others."""
        for pending in await self._rows.of(self._platform):
            if pending.due_at <= self._clock():
                await self._carry_out(pending)
            else:
                self._time(pending)

    async def stop(self) -> None:
        """Delete every pending message now: early rather than never (a key must not outlive the bot)."""
        for pending, task in list(self._timers.values()):
            task.cancel()
            await self._carry_out(pending)
        self._timers.clear()

    def _time(self, pending: PendingDeletion) -> None:
        """Time one deletion, replacing any timer for the same message."""
        key = (pending.chat_id, pending.message_id)
        if key in self._timers:
            self._timers.pop(key)[1].cancel()
        task = asyncio.create_task(self._at(pending), name=f"delete:{self._platform}:{pending.chat_id}:{pending.message_id}")
        self._timers[key] = (pending, task)
        task.add_done_callback(partial(self._ended, key))

    def _ended(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if key in self._timers and self._timers[key][1] is task:  # not one replaced since
            del self._timers[key]

    async def _at(self, pending: PendingDeletion) -> None:
        await asyncio.sleep(max(0.0, pending.due_at - self._clock()))
        await self._carry_out(pending)

    async def _carry_out(self, pending: PendingDeletion) -> None:
        try:
            answered = await self._delete(pending.chat_id, pending.message_id)
        except Exception:  # noqa: BLE001 - a failed deletion stays promised for the next start
            log.exception("%s: deleting message %s in %s failed", self._platform, pending.message_id, pending.chat_id)
            return
        if answered is not None:  # deleted, or the platform said no: nothing left to try
            await self._rows.done(pending)
