"""One platform's sender: takes due messages from the outbox, most pressing first, and hands them to the
platform's front end, a few at a time, one at a time per chat.

Each message is marked 'sending' in the database when its request leaves (after any wait for the platform's
limits) and marked with the platform's answer after, so a crash leaves at most the requests on the wire undecided; those become 'unknown' at the next
start and are never sent again (nobody gets a message twice). Pacing is the front end's business: each
platform's adapter applies that platform's limits (Telegram's through its rate limiter, shared with direct
replies, which go first), so the sender only keeps a few requests in flight to use the allowance fully.

Messages for one reader due at the same moment go out as one (alerts only: never a trade's progress, an
edit or an announcement). Non-urgent messages wait out the reader's quiet hours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from bot.core.delivery import Delivery, Leaving
from bot.core.messages import Rendered, Reply
from bot.core.router import Markup
from bot.delivery.outbox import codec
from bot.delivery.outbox.quiet import quiet_until
from bot.delivery.outbox.render import Renderer, merge
from bot.storage.outbox import OutboxRow, OutboxRows

log = logging.getLogger(__name__)

MAX_BATCH = 5  # alerts merged into one message at most
MAX_BATCH_CHARS = 3500  # and no longer than this (Telegram's limit is 4096)
MAX_ATTEMPTS = 8  # refusals that said "later" before a message is given up as failed
IDLE_WAIT = 30.0  # seconds between looks at the outbox when nothing is due (a put wakes it at once)
BATCHED_KINDS = frozenset({"rebalance", "digest", "cooldown", "price", "dca"})

Source = Callable[[dict[str, Any], int | None, str], Awaitable[Reply]]  # payload, reader, locale -> reply


class Deliverer(Protocol):
    """What a front end offers for unprompted messages (see bot.frontends.adapters.base.Frontend)."""

    name: str

    @property
    def markup(self) -> Markup: ...

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None: ...


async def post(front: Deliverer, chat_id: str, rendered: Rendered, edit_ref: str | None, bulk: bool,
               leaving: Leaving) -> Delivery:
    """Ask the front end to show one message: its `post` when it has one (which awaits `leaving` right before the
    request leaves, after any wait for the platform's limits), else its plain `deliver` (`leaving` first)."""
    poster = getattr(front, "post", None)
    if poster is not None:
        result: Delivery = await poster(chat_id, rendered, edit_ref, bulk=bulk, leaving=leaving)
        return result
    if not await leaving():
        return Delivery("withdrawn")
    ref = await front.deliver(chat_id, rendered, edit_ref)
    return Delivery.sent(ref) if ref is not None else Delivery("failed", error="not delivered")


class Dispatcher:
    def __init__(
        self, front: Deliverer, rows: OutboxRows, renderer: Renderer, sources: dict[str, Source],
        results: dict[int, asyncio.Future[Delivery]], *, on_blocked: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.front = front
        self._rows = rows
        self._renderer = renderer
        self._sources = sources
        self._results = results
        self._on_blocked = on_blocked
        self._clock = clock
        self._at_once = max(1, int(getattr(front, "sends_at_once", 4)))
        self._busy: dict[str, asyncio.Task[None]] = {}  # chat -> its send in flight
        self._left: set[str] = set()  # chats whose request has left (marked 'sending')
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sending (at once from a running event loop; otherwise at the outbox's next use from one)."""
        if self._task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._task = loop.create_task(self._run(), name=f"outbox:{self.front.name}")

    def wake(self) -> None:
        self._changed.set()

    def halt(self) -> None:
        """Stop taking messages now (replaced by another front end); `stop` later waits for what is in flight."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop taking messages; a request that left is answered and recorded, one still waiting for its turn
        is called off (its message stays pending)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for chat, task in self._busy.items():
            if chat not in self._left:
                task.cancel()  # still waiting for its turn: it stays pending, for the next start
        if self._busy:
            await asyncio.gather(*self._busy.values(), return_exceptions=True)

    async def _run(self) -> None:
        recovered = await self._rows.recover(self.front.name)
        if recovered:
            log.warning("outbox %s: %d messages were in flight at the last stop; not sent again", self.front.name, recovered)
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox %s: a round failed; trying again shortly", self.front.name)
                await asyncio.sleep(1)

    async def _round(self) -> None:
        self._changed.clear()
        free = self._at_once - len(self._busy)
        now = int(self._clock())
        rows = await self._rows.due(self.front.name, now, free * MAX_BATCH, list(self._busy)) if free > 0 else []
        if not rows:
            await self._wait(now)
            return
        for chat, group in _by_chat(rows):
            if len(self._busy) >= self._at_once:
                break
            sendable = await self._screen(group, now)
            if sendable:
                task = asyncio.create_task(self._send(chat, sendable))
                self._busy[chat] = task
                task.add_done_callback(partial(self._done, chat))

    async def _wait(self, now: int) -> None:
        timeout = IDLE_WAIT  # every slot busy: only a completion frees one, and it wakes us (no query for that)
        if len(self._busy) < self._at_once:
            due = await self._rows.next_due(self.front.name)
            timeout = IDLE_WAIT if due is None else min(IDLE_WAIT, max(0.05, due - now))
            if due is not None and due <= now and self._busy:
                timeout = IDLE_WAIT  # what is due waits for a chat in flight: its completion wakes us
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation (stop())
                await self._changed.wait()
        except TimeoutError:
            pass

    def _done(self, chat: str, _task: asyncio.Task[None]) -> None:
        self._busy.pop(chat, None)
        self._left.discard(chat)
        self._changed.set()

    async def _screen(self, group: list[OutboxRow], now: int) -> list[OutboxRow]:
        """Drop what goes to a user who blocked the bot, hold what their quiet hours hold; a batch for the rest."""
        blocked = [r.id for r in group if r.blocked]
        if blocked:
            await self._rows.drop_blocked(blocked)
        held: dict[int, list[int]] = {}
        ready: list[OutboxRow] = []
        for row in group:
            if row.blocked:
                continue
            until = None if row.urgent else quiet_until(now, row.zone, row.quiet)
            if until is not None:
                held.setdefault(until, []).append(row.id)
            else:
                ready.append(row)
        for until, ids in held.items():
            await self._rows.postpone(ids, until, claimed=False)
        if not ready:
            return []
        first = ready[0]
        if first.kind not in BATCHED_KINDS or first.edit_ref is not None:
            return [first]
        return [r for r in ready if r.kind in BATCHED_KINDS and r.edit_ref is None][:MAX_BATCH]

    async def _send(self, chat: str, rows: list[OutboxRow]) -> None:
        """Send `rows` to `chat` (one message, or a batch merged into one); what is left of a batch that was only
        partly claimed goes again, as a batch of what this sender claimed."""
        while rows:
            rows = await self._send_once(chat, rows)

    async def _send_once(self, chat: str, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Send one message; the rows to send again (see `_send`), usually none."""
        parts: list[Rendered] = []
        taken: list[OutboxRow] = []  # the rows of `parts`, one each
        for row in rows:
            try:
                rendered = await self._render(row)
            except Exception:
                log.exception("outbox %s: message %d cannot be rendered", self.front.name, row.id)
                await self._rows.claim([row.id])
                await self._rows.finish([row.id], "failed", error="render")
                self._resolve([row.id], Delivery("failed", error="render"))
                continue
            if parts and (rendered.image is not None or len(merge([*parts, rendered]).text) > MAX_BATCH_CHARS):
                break  # the rest go in the next message
            parts.append(rendered)
            taken.append(row)
            if rendered.image is not None:
                break
        if not taken:
            return []
        ids: list[int] = []
        again: list[OutboxRow] = []

        async def leaving() -> bool:
            """Marked 'sending' only now, when the platform's limits let the request go: a crash while it waited
            for its turn leaves it pending, to be sent after the restart. A batch goes only if all of it was
            claimed: the merged text holds every message, and one that another claimer took is not this one's to
            send. The part claimed goes back to pending and is sent again, as what this sender holds."""
            self._left.add(chat)  # from here on stop() lets it finish: marked and sent, or neither
            claimed = await self._rows.claim([r.id for r in taken])
            if claimed and len(claimed) < len(taken):
                await self._rows.release(claimed)
                again.extend(r for r in taken if r.id in set(claimed))
                claimed = []
            ids.extend(claimed)
            if not ids:
                self._left.discard(chat)
            return bool(ids)

        first = taken[0]
        try:
            result = await post(self.front, chat, merge(parts), first.edit_ref, first.priority >= 2, leaving)
        except Exception as err:  # a bug in the front end: recorded, never retried blindly
            log.exception("outbox %s: delivery to %s raised", self.front.name, chat)
            result = Delivery("unknown", error=type(err).__name__)
        if again:
            return again
        if not ids and result.status != "withdrawn":  # refused before it left (a channel gone, a bug): say so
            ids = await self._rows.claim([r.id for r in taken])
            if result.status == "unknown":
                result = Delivery("failed", error=result.error)  # it certainly never left
        if ids:  # none: withdrawn, it was no longer pending (cancelled meanwhile)
            await self._record(ids, taken, result)
        return []

    async def _record(self, ids: list[int], rows: list[OutboxRow], result: Delivery) -> None:
        if result.status == "retry" and min(r.attempts for r in rows) + 1 < MAX_ATTEMPTS:
            await self._rows.postpone(ids, int(self._clock() + max(1.0, result.retry_after)), result.error)
            return
        if result.status == "retry":  # refused "later" once too often: failed, and a waiter hears so
            result = Delivery("failed", result.ref, error=result.error)
        await self._rows.finish(ids, result.status, result.ref, result.error)
        if result.status == "blocked":
            for user_id in {r.user_id for r in rows if r.user_id is not None}:
                await self._rows.block_user(user_id)
                if self._on_blocked is not None:
                    self._on_blocked(user_id)
        self._resolve(ids, result)

    def _resolve(self, ids: list[int], result: Delivery) -> None:
        for message_id in ids:
            waiter = self._results.pop(message_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(result)

    async def _render(self, row: OutboxRow) -> Rendered:
        payload = json.loads(row.payload)
        locale = await self._renderer.locale_of(row.user_id)
        source = self._sources.get(payload.get("source", "")) if isinstance(payload, dict) and "source" in payload else None
        reply = await source(payload, row.user_id, locale) if source is not None else codec.loads(row.payload)
        return await self._renderer.render(row.user_id, reply, self.front.markup, locale)


def _by_chat(rows: list[OutboxRow]) -> list[tuple[str, list[OutboxRow]]]:
    groups: dict[str, list[OutboxRow]] = {}
    for row in rows:
        groups.setdefault(row.chat_id, []).append(row)
    return list(groups.items())
