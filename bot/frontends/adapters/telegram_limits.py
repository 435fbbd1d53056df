"""Telegram's flood limits, kept before each request leaves (python-telegram-bot's rate-limiter hook).

Telegram asks bots to stay under about 30 messages a second overall, one a second per private chat and 20 a
minute per group or channel, and answers 429 "retry after N" when they do not. `TelegramRateLimiter` keeps
the three limits for the message-sending methods (send*, edit*, copy*, forward*) and the pauses a 429 asks for:

- overall: slots spaced evenly at `SAFETY` x the limit, and never more than the limit in any window;
- per chat: 1 a second in a private chat (after a burst of up to `per_chat_burst`, as Telegram allows) and 20
  a minute in a group or channel, for every message, replies included: a user who sends 20 commands at once gets their 20 answers at that chat's pace, while a slot the
  chat cannot use goes to another chat's message at once;
- windows count each request from the moment it was *answered*: wherever Telegram stamps a request
  between sending and answering, two requests `size` apart are a full window apart there;
- by priority: a free slot goes to the lowest `rate_limit_args["priority"]` waiting (0 replies, 1 notices,
  2 bulk; none = 0), first come first served within one, so a bulk backlog holds a reply by one slot at most;
- on RetryAfter for a message to a chat: that chat waits out `retry_after` (Telegram's per-chat flood control
  concerns that chat only), then the refused message is tried again (at most `max_retries` times; then the
  error goes to the caller, and the outbox reschedules its message). A 429 for a request to no chat, or 429s
  for `GLOBAL_AFTER_CHATS` different chats within one pause (what the overall limit looks like: Telegram's
  answer does not say which limit it was), pause every request.

One scheduler (`_pump`) hands out slots, woken by a new request, an answer or one timer: no task, no polling.

In a fleet (PostgreSQL) the limits are the fleet's: a message this process lets go then also takes its moment in
the fleet's shared pace (`fleet`, bot.storage.send_pace) for the overall limit and its chat's, and waits for it; a
429 holds that key for every process. Without a fleet (SQLite, one process) this process's limits are the bot's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import warnings
from bisect import insort
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.config import TelegramLimits
from bot.core.delivery import Leaving, Withdrawn
from bot.metrics import RATE_LIMITED
from bot.storage.send_pace import Pace, SendPace

log = logging.getLogger(__name__)

__all__ = ["Bucket", "TelegramLimits", "TelegramRateLimiter", "Window", "retry_seconds"]

SAFETY = 0.98  # of the overall limit: evenly spaced slots at 29.4 messages/s
MAX_RETRIES = 3
GLOBAL_AFTER_CHATS = 2  # different chats refused within one pause: the overall limit, not one chat's
FLEET_KEY = "telegram"  # the fleet's overall pace; a chat's is FLEET_KEY:<chat id>
# The fleet's pace is kept by the moments messages leave, not by when Telegram answers them as this process's windows
# are: what is spared here absorbs the differences in how long messages from different processes take to arrive.
FLEET_SAFETY = 0.9  # of the overall limit (27 messages/s): slack for about a tenth of a second of arrival jitter
FLEET_CHAT_SPARE = 1  # of a private chat's burst: one message's slack (a second at Telegram's pace)
MESSAGE_METHODS = ("send", "edit", "copy", "forward")  # endpoint prefixes that count as messages


def retry_seconds(err: RetryAfter) -> float:
    """How long Telegram asked us to wait (PTB 22 warns while `retry_after` moves from int to timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Window:
    """At most `size` requests per `period` seconds, each counted from its answer: a request may start while
    fewer than `size` are in flight or were answered within the last `period`."""

    def __init__(self, size: int, period: float) -> None:
        self.size = size
        self.period = period
        self.in_flight = 0
        self.paused_until = -math.inf  # a 429 for this window's chat: nothing starts before then
        self._answered: deque[float] = deque(maxlen=size)

    def ready_at(self, now: float) -> float:
        """When the next request may start: `now` if at once, `inf` if only an answer can free a place."""
        while self._answered and self._answered[0] <= now - self.period:
            self._answered.popleft()
        over = self.in_flight + len(self._answered) - self.size
        if over < 0:
            return max(now, self.paused_until)
        if self.in_flight >= self.size:
            return math.inf
        return max(self._answered[over] + self.period, self.paused_until)

    def idle(self, now: float) -> bool:
        """Nothing in flight, nothing answered within the period, no pause: forgetting this window changes nothing."""
        return (self.in_flight == 0 and self.paused_until <= now
                and (not self._answered or self._answered[-1] <= now - self.period))

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight -= 1
        self._answered.append(now)


class Bucket:
    """A private chat's limit: `rate` a second on average, up to `burst` at once after a quiet spell (Telegram
    "may allow short bursts" over one a second per chat; the Bot API emulator keeps the same bucket). Same
    interface as `Window`. A message is debited when it is answered, and counted as taken while in flight, so
    the bucket never holds more than Telegram's, which debits on arrival."""

    def __init__(self, burst: int, rate: float) -> None:
        self.size = burst
        self.rate = rate
        self.in_flight = 0
        self.paused_until = -math.inf
        self._tokens = float(burst)
        self._at = -math.inf

    def _level(self, now: float) -> float:
        return min(float(self.size), self._tokens + (now - self._at) * self.rate)

    def ready_at(self, now: float) -> float:
        short = self.in_flight + 1 - self._level(now)
        return max(now if short <= 0 else now + short / self.rate, self.paused_until)

    def idle(self, now: float) -> bool:
        return self.in_flight == 0 and self.paused_until <= now and self._level(now) >= self.size

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight -= 1
        self._tokens, self._at = self._level(now) - 1.0, now


@dataclass(eq=False)
class _Waiter:
    priority: int
    seq: int
    chat: Window | Bucket | None  # the chat's limit, when the request goes to a chat
    granted: asyncio.Future[None] = field(repr=False)

    @property
    def order(self) -> tuple[int, int]:
        return (self.priority, self.seq)


class TelegramRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """Telegram's overall, per-chat and per-group limits, priorities, and the pause a 429 asks for."""

    def __init__(self, limits: TelegramLimits | None = None, *, max_retries: int = MAX_RETRIES, safety: float = SAFETY,
                 clock: Callable[[], float] = time.monotonic, fleet: SendPace | None = None) -> None:
        self.limits = limits or TelegramLimits()
        self.fleet = fleet
        self._fleet_failed = False  # the shared pace's database failed (logged once until it answers again)
        self.max_retries = max_retries
        self._clock = clock
        scale = self.limits.scale
        self._overall = Window(self.limits.per_second, 1.0 / scale)
        self._gap = 1.0 / (self.limits.per_second * scale * safety)
        self._chats: dict[str, Window | Bucket] = {}
        self._sweep_at = 1024
        self._queue: list[_Waiter] = []  # kept sorted by (priority, seq)
        self._seq = itertools.count()
        self._next_slot = -math.inf
        self.paused_until = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._refused_chats: dict[str, float] = {}  # chat -> end of its pause, for telling the overall limit apart
        self.pauses = 0  # pauses of every request (for logs and benches)
        self.chat_pauses = 0  # pauses of one chat

    async def initialize(self) -> None:
        """Nothing to open: the scheduler runs on the caller's event loop."""

    async def shutdown(self) -> None:
        """Forget the timer; requests still waiting are cancelled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiter in self._queue:
            waiter.granted.cancel()
        self._queue.clear()

    async def process_request(
        self, callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any, kwargs: dict[str, Any], endpoint: str, data: dict[str, Any], rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for a slot (messages) or the end of a pause (everything else), call, and retry after a 429.

        `rate_limit_args["leaving"]`, when given, is awaited once the first slot is granted, right before the
        request leaves (the outbox marks its message 'sending' then, not while it queues here); False withdraws
        the request (`Withdrawn`)."""
        priority = int((rate_limit_args or {}).get("priority", 0))
        leaving: Leaving | None = (rate_limit_args or {}).get("leaving")
        message = endpoint.startswith(MESSAGE_METHODS)
        seq = next(self._seq)
        for attempt in itertools.count(1):
            chat_id = data.get("chat_id") if message else None
            chat = await self._slot(priority, seq, chat_id) if message else None
            if not message:
                await self._unpaused()
            try:
                if message and self.fleet is not None:  # inside the try: a wait cancelled here gives the slot back
                    await self._fleet_turn(chat_id)
                if leaving is not None and attempt == 1 and not await leaving():
                    raise Withdrawn()
                return await callback(*args, **kwargs)
            except RetryAfter as err:
                RATE_LIMITED.labels(platform="telegram").inc()  # every request goes through here: each 429 once
                wait = retry_seconds(err)
                everything = self._pause(wait, None if chat is None else str(chat_id))
                if self.fleet is not None:
                    await self._fleet_hold(None if everything else chat_id, wait)
                if attempt > self.max_retries:
                    raise
                log.warning("telegram: %s refused by flood control; %s waits %.1fs", endpoint,
                            "every request" if everything else "that chat", wait)
            finally:
                if message:
                    self._finished(chat)
        raise AssertionError("unreachable")

    # -- the fleet's shared pace (PostgreSQL) ----------------------------------------------------------------

    def _paces(self, chat_id: object) -> list[Pace]:
        """The overall key first (every process locks it first), then the chat's, as `_chat` paces them here."""
        scale, limits = self.limits.scale, self.limits
        paces = [Pace(FLEET_KEY, 1.0 / (limits.per_second * scale * FLEET_SAFETY), 1)]
        if chat_id is not None:
            key = str(chat_id)
            if key.startswith(("-", "@")):
                # A group's 20 a minute as a GCRA: half at once, the other half spread over the minute, so no 60 s
                # holds more than 20 (a bucket cannot keep a sliding window exactly; this process's window still does).
                burst = max(1, limits.per_group_per_minute // 2)
                paces.append(Pace(f"{FLEET_KEY}:{key}", 60.0 / scale / max(1, limits.per_group_per_minute - burst), burst))
            else:
                paces.append(Pace(f"{FLEET_KEY}:{key}", 1.0 / (limits.per_chat_per_second * scale),
                                  max(1, limits.per_chat_burst - FLEET_CHAT_SPARE)))
        return paces

    async def _fleet_turn(self, chat_id: object) -> None:
        """Wait for this message's moment in the fleet's pace. When the database cannot say, the message goes on this
        process's limits alone (logged): a reply is never held back by the pace's own failure."""
        assert self.fleet is not None
        try:
            wait = await self.fleet.reserve(self._paces(chat_id))
        except Exception as err:  # noqa: BLE001 - any failure of the shared pace falls back to the local limits
            if not self._fleet_failed:
                log.warning("telegram: the fleet's shared pace failed (%s); sending on this process's limits alone",
                            type(err).__name__)
            self._fleet_failed = True
            return
        if self._fleet_failed:
            log.info("telegram: the fleet's shared pace answers again")
            self._fleet_failed = False
        if wait > 0:
            await asyncio.sleep(wait)

    async def _fleet_hold(self, chat_id: object, seconds: float) -> None:
        """A 429: the chat (or, for the overall limit, every chat) waits in every process of the fleet too."""
        assert self.fleet is not None
        key = FLEET_KEY if chat_id is None else f"{FLEET_KEY}:{chat_id}"
        try:
            await self.fleet.hold(key, seconds)
        except Exception as err:  # noqa: BLE001 - this process's own pause holds regardless
            log.warning("telegram: could not hold %s in the fleet's shared pace (%s)",
                        "every chat" if chat_id is None else "that chat", type(err).__name__)

    # -- slots -----------------------------------------------------------------------------------------

    async def _slot(self, priority: int, seq: int, chat_id: object) -> Window | Bucket | None:
        """Wait for this message's turn; the chat's window (started) or None."""
        chat = self._chat(chat_id)
        waiter = _Waiter(priority, seq, chat, asyncio.get_running_loop().create_future())
        insort(self._queue, waiter, key=lambda w: w.order)
        self._pump()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._finished(chat)  # granted, then cancelled before the request left: give the slot back
            elif waiter in self._queue:
                self._queue.remove(waiter)
                self._pump()
            raise
        return chat

    async def _unpaused(self) -> None:
        """Wait out a pause (requests that are not messages take no slot)."""
        while (left := self.paused_until - self._clock()) > 0:
            await asyncio.sleep(left)

    def _chat(self, chat_id: object) -> Window | Bucket | None:
        if chat_id is None:
            return None
        key = str(chat_id)
        group = key.startswith(("-", "@"))  # groups, supergroups and channels have negative ids or @names
        window = self._chats.get(key)
        if window is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            scale = self.limits.scale
            window = (Window(self.limits.per_group_per_minute, 60.0 / scale) if group
                      else Bucket(self.limits.per_chat_burst, self.limits.per_chat_per_second * scale))
            self._chats[key] = window
        return window

    def _sweep(self) -> None:
        now = self._clock()
        self._chats = {key: w for key, w in self._chats.items() if not w.idle(now)}
        self._sweep_at = max(1024, 2 * len(self._chats))

    def _finished(self, chat: Window | Bucket | None) -> None:
        now = self._clock()
        self._overall.finish(now)
        if chat is not None:
            chat.finish(now)
        self._pump()

    def _pause(self, seconds: float, chat_id: str | None) -> bool:
        """Pause the chat a 429 was for, or everything (no chat, or several chats refused at once); whether it
        was everything."""
        now = self._clock()
        until = now + seconds
        window = self._chats.get(chat_id) if chat_id is not None else None
        if window is not None and chat_id is not None:
            self._refused_chats = {key: end for key, end in self._refused_chats.items() if end > now}
            self._refused_chats[chat_id] = max(self._refused_chats.get(chat_id, until), until)
            window.paused_until = max(window.paused_until, until)
            if len(self._refused_chats) < GLOBAL_AFTER_CHATS:
                self.chat_pauses += 1
                self._pump()
                return False
        self.pauses += 1
        self.paused_until = max(self.paused_until, until)
        self._pump()
        return True

    def _pump(self) -> None:
        """Grant every slot that is free now, in priority order; set one timer for the next."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._clock()
        if any(w.granted.done() for w in self._queue):  # cancelled while waiting, not yet taken out
            self._queue = [w for w in self._queue if not w.granted.done()]
        while self._queue:
            free_at = max(self.paused_until, self._next_slot, self._overall.ready_at(now))
            if free_at > now:
                self._wake_at(free_at, now)
                return
            chosen = next((w for w in self._queue if w.chat is None or w.chat.ready_at(now) <= now), None)
            if chosen is None:  # every waiter's chat is full: the earliest of them, or an answer, wakes us
                self._wake_at(min(w.chat.ready_at(now) for w in self._queue if w.chat is not None), now)
                return
            self._queue.remove(chosen)
            self._overall.start()
            if chosen.chat is not None:
                chosen.chat.start()
            # Evenly spaced without drift: a timer a little late keeps the schedule; after a pause or an idle
            # spell the next slot comes at least half a gap later (no burst; the windows guard the limits).
            self._next_slot = max(self._next_slot + self._gap, now + self._gap / 2)
            chosen.granted.set_result(None)

    def _wake_at(self, at: float, now: float) -> None:
        if math.isfinite(at):
            self._timer = asyncio.get_running_loop().call_later(max(0.0, at - now), self._pump)
