"""The outbox: everything the bot says without being asked, stored before it is sent, sent once.

Producers (trades in progress, alerts, DCA runs, announcements) call `Outbox.put` (a user's private chat) or
`Outbox.put_chat` (a given chat); the message is a row in SQLite before anything is sent, so it survives a
restart. Each running front end has a `Dispatcher` that sends what is due (bot/delivery/outbox/dispatch.py). In a
fleet on PostgreSQL one process per platform sends, elected by an advisory lock (bot/delivery/outbox/election.py);
the others only put, and a put wakes that sender through NOTIFY (bot.storage.outbox).

    priority 0  a user's own business (a trade's progress): first, and never held by quiet hours
    priority 1  alerts (rebalance, digest, cooldown, price, DCA)
    priority 2  bulk (announcements)

A `key` makes a message idempotent: putting the same key twice stores it once (a job that runs twice, a
restart in the middle of a fan-out). A user who switched a kind off in /alerts, blocked the bot, or never
opened a private chat with it gets nothing (`put` returns None); where the platform lets the bot write first
(Discord, to a member of a server it shares) the user's private chat is an address the front end opens when
it first sends there. `reach` tells at once whether a user's private chat can be reached.

On a platform in `keep_refused` (Discord: a member whose DMs are closed can still be answered privately, in an
interaction only they see) a refused message is kept rather than lost: it stays 'blocked', and so does every later
one for that user (stored, then marked by the sender without a request), until the front end shows them the next
time the user comes (`OutboxRows.take_kept`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from bot.core.delivery import Delivery
from bot.core.messages import Reply
from bot.delivery.outbox import codec
from bot.delivery.outbox.dispatch import Deliverer, Dispatcher, Source
from bot.delivery.outbox.render import Renderer
from bot.metrics import OUTBOX_SENDER_ACTIVE
from bot.storage.outbox import NewMessage, OutboxRows

log = logging.getLogger(__name__)

PRIORITY = {"trade": 0, "announcement": 2}  # everything else: 1
WAIT_FOR_DELIVERY = 60.0  # how long `tell` waits for its message to be shown before answering "not yet"
WAIT_FOR_REACH = 10.0  # how long `reach` waits, while the user waits for the command's answer
RESULT_POLL = 1.0  # seconds between looks at a waited-for message's state that another process sends


class Outbox:
    def __init__(self, rows: OutboxRows, renderer: Renderer, clock: Callable[[], float] = time.time,
                 on_blocked: Callable[[int], None] | None = None, keep_refused: Collection[str] = ()) -> None:
        self.rows = rows
        self.keep_refused = frozenset(keep_refused)  # platforms whose refused messages are kept (module doc)
        self.renderer = renderer
        self._clock = clock
        self._on_blocked = on_blocked
        self._sources: dict[str, Source] = {}
        self._dispatchers: dict[str, Dispatcher] = {}
        self._results: dict[int, asyncio.Future[Delivery]] = {}
        self._retired: list[Dispatcher] = []  # replaced by a new front end of their platform; stopped with the outbox
        self._elsewhere: set[str] = set()  # platforms another process of the fleet sends (bot.delivery.outbox.election)

    # -- producers -----------------------------------------------------------------------------------------

    async def tell_instead(self, platform: str, chat_id: str, reply: Reply, user_id: int | None) -> int | None:
        """A press's outcome (a trade's result) that the edit of the pressed message could not show (a 5xx, the
        message deleted): a new message in `chat_id`, stored before it is sent and retried like any other."""
        return await self.put_chat(platform, chat_id, replace(reply, edit=False), "trade", user_id=user_id)

    async def put(self, user_id: int, reply: Reply | dict[str, Any], kind: str, *, key: str | None = None,
                  urgent: bool = False, due_at: int | None = None) -> int | None:
        """Queue a message for the user's private chat; None when they do not get it (see module doc) or the
        key was queued before. A user whose private chat refuses the bot on a `keep_refused` platform gets it kept."""
        to = await self.rows.recipient(user_id, kind)
        if to is None or not to.wants or to.dm_chat is None or (to.blocked and to.platform not in self.keep_refused):
            return None
        return await self.put_chat(to.platform, to.dm_chat, reply, kind, user_id=user_id, key=key, urgent=urgent,
                                   due_at=due_at)

    async def put_chat(self, platform: str, chat_id: str, reply: Reply | dict[str, Any], kind: str, *,
                       user_id: int | None = None, key: str | None = None, urgent: bool = False,
                       due_at: int | None = None, edit_ref: str | None = None, announcement_id: int | None = None) -> int | None:
        """Queue a message for one chat. `reply` is a Reply, or a dict with "source" naming a registered
        source that makes the Reply at send time in the reader's language (an announcement's variants)."""
        payload = json.dumps(reply) if isinstance(reply, dict) else codec.dumps(reply)
        message = NewMessage(platform, chat_id, user_id, kind, PRIORITY.get(kind, 1), payload, urgent or kind == "trade",
                             key, edit_ref, announcement_id, due_at)
        message_id = await self.rows.add(message, int(self._clock()))
        if message_id is not None:
            self.wake(platform)
        return message_id

    async def reach(self, user_id: int, reply: Reply, timeout: float = WAIT_FOR_REACH) -> Delivery | None:
        """Show `reply` in the user's private chat now, to learn whether their messages can reach them at all
        (e.g. from `/alert` in a group): the platform's answer; `blocked` at once when the bot knows no private
        chat it may write to; None when no answer came within `timeout` (no front end running, a slow platform).
        Asked for by the user, so a "blocked the bot" mark is lifted and tried once more."""
        to = await self.rows.recipient(user_id, "notice")
        if to is None or to.dm_chat is None:
            return Delivery("blocked", error="no private chat")
        if not self.running(to.platform):  # nothing would show it now: nothing is queued, the caller hears "unknown"
            return None
        if to.blocked:
            await self.rows.unblock(user_id)
        message_id = await self.put_chat(to.platform, to.dm_chat, reply, "trade", user_id=user_id)
        if message_id is None:
            return None
        delivery = await self.result(message_id, timeout)
        if delivery is not None and delivery.status == "blocked":  # the caller tells the user now: nothing to keep
            await self.rows.unkeep([message_id], "reach: told at once")
        return delivery

    def source(self, name: str, make: Source) -> None:
        """Register how payloads {"source": name, ...} become a Reply at send time."""
        self._sources[name] = make

    def wake(self, platform: str | None = None) -> None:
        for name, dispatcher in self._dispatchers.items():
            if platform is None or name == platform:
                dispatcher.start()  # attached outside a running loop (a synchronous caller): starts now
                dispatcher.wake()

    async def result(self, message_id: int, timeout: float = WAIT_FOR_DELIVERY) -> Delivery | None:
        """Wait until message `message_id` was shown or refused; None when it is still waiting (no front end
        for its platform, held, or slower than `timeout`)."""
        waiter = self._results.setdefault(message_id, asyncio.get_running_loop().create_future())
        state = await self.rows.state_of(message_id)  # after registering: a send finishing meanwhile is not missed
        if state is None or state[0] not in ("pending", "sending"):
            self._results.pop(message_id, None)
            return Delivery(state[0], state[1]) if state is not None else None  # type: ignore[arg-type]
        deadline = asyncio.get_running_loop().time() + timeout
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:  # resolved here by this process's sender; another process's is seen in the row
                return await asyncio.wait_for(asyncio.shield(waiter), min(left, RESULT_POLL))
            except TimeoutError:
                state = await self.rows.state_of(message_id)
                if state is not None and state[0] not in ("pending", "sending"):
                    if self._results.get(message_id) is waiter:
                        del self._results[message_id]
                    return Delivery(state[0], state[1])  # type: ignore[arg-type]
        return None

    # -- front ends ----------------------------------------------------------------------------------------

    def running(self, platform: str) -> bool:
        """Whether something sends this platform's messages: this process, or the fleet's active sender."""
        return platform in self._dispatchers or platform in self._elsewhere

    def sending(self, platform: str) -> bool:
        """Whether this process is the one sending this platform's messages."""
        return platform in self._dispatchers

    def elsewhere(self, platform: str) -> None:
        """Another process of the fleet sends this platform's messages (this one only puts them): `tell` and `reach`
        queue for it, and `result` reads the outcome from the database."""
        self._elsewhere.add(platform)
        if platform not in self._dispatchers:
            OUTBOX_SENDER_ACTIVE.labels(platform=platform).set(0)

    def attach(self, front: Deliverer) -> None:
        """Start sending this platform's messages through `front` (what is pending goes out now)."""
        old = self._dispatchers.get(front.name)
        if old is not None and old.front is front:
            return
        dispatcher = Dispatcher(front, self.rows, self.renderer, self._sources, self._results,
                                on_blocked=self._on_blocked, clock=self._clock)
        self._dispatchers[front.name] = dispatcher
        OUTBOX_SENDER_ACTIVE.labels(platform=front.name).set(1)
        dispatcher.start()
        if old is not None:
            old.halt()
            self._retired.append(old)

    async def detach(self, front: Deliverer) -> None:
        dispatcher = self._dispatchers.get(front.name)
        if dispatcher is not None and dispatcher.front is front:
            del self._dispatchers[front.name]
            OUTBOX_SENDER_ACTIVE.labels(platform=front.name).set(0)
            await dispatcher.stop()

    async def stop(self) -> None:
        for name in list(self._dispatchers):
            await self._dispatchers.pop(name).stop()
        while self._retired:
            await self._retired.pop().stop()
