"""Trades in a fleet (issue 17): a durable job finishes a trade whose process died, without waiting for a restart.

One process alone (SQLite) carries every trade it confirms and reconciles what a crash left at its next start
(bot.trading.reconcile). In a fleet on PostgreSQL the process that confirms a trade still signs, sends and follows
it (the user's answer comes from there, within the inline wait), but first it takes the intent's owner lock
(bot.storage.owners) and defers a `trades.settle` job for it, both before anything is signed. Should that
process die (killed after signing, after broadcasting, anywhere), PostgreSQL drops its lock with its connection
and the job, run by any live worker, takes the trade over:

- the job tries the owner lock; held means the owner lives: it looks again later (a new job, deferred by the
  running one: `recheck_seconds`, doubled at each look up to `RECHECK_MAX_SECONDS`, so a trade followed for
  minutes costs a few runs), and does nothing else. Free, it is now the owner, and:
- an intent confirmed but never signed is cancelled (nothing was sent) and its user told it was interrupted;
- a signed or sent one is followed by the existing follower passes (bot.trading.reconcile.check_once): what the
  node does not know is broadcast again from the stored raw bytes (one transaction per nonce, never re-signed
  from a node's data), what is mined or reverted is settled, a timeout is never a failure (it keeps following);
- its outcome is queued in the outbox under the key `trade:<intent>:<stage>`: a second run of the job (a worker
  killed while it ran, retried as stalled: `Jobs.retry_stalled`) stores that message once (the outbox's unique
  `dedupe`), so the user is told once. The notice edits the trade's message where the platform can, like the
  owner's would have.

Why a per-intent job lock (`intent:<id>`) rather than `wallet:<chain>:<address>`: one wallet's trades are already
taken in turn across processes where it matters, from reading the next nonce to the broadcast (the advisory lock
of bot.storage.nonces); a wallet lock on the follow-up would also make each trade wait for the previous one's
receipt. The same key as `queueing_lock`: a trade deferred twice waits once.

A job follows for at most `slice_seconds`, then defers its successor: no worker slot is held for a trade stuck at
the node for minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.core.messages import Reply
from bot.trading.desks import Desks
from bot.trading.executor import Executor
from bot.trading.intents import Intent, State
from bot.trading.present import interrupted_reply, status_reply
from bot.trading.reconcile import cancel_unsigned, check_once
from bot.trading.status import TradeStatus

log = logging.getLogger(__name__)

TASK = "trades.settle"
RECHECK_SECONDS = 2.0  # while its owner lives, a trade's job looks again this soon (the takeover's delay)...
RECHECK_MAX_SECONDS = 30.0  # ...then twice as late each time, up to this
SLICE_SECONDS = 60.0  # the longest one run of the job follows a trade before handing it to its successor


class JobQueue(Protocol):
    """The fleet's job engine, as trades use it (bot.jobs.engine.Jobs)."""

    def task(self, name: str, run: Callable[..., Awaitable[Any]], **options: Any) -> None: ...

    async def defer(self, name: str, *, lock: str | None = None, queueing_lock: str | None = None,
                    schedule_at: datetime | None = None, priority: int = 0, **kwargs: Any) -> int | None: ...


class Owners(Protocol):
    """Which live process carries an intent (bot.storage.owners.IntentOwners)."""

    async def take(self, intent_id: int) -> None: ...

    async def try_take(self, intent_id: int) -> bool: ...

    async def let_go(self, intent_id: int) -> None: ...


class Outbox(Protocol):
    """Where the outcome is queued for the user, sent by whichever process sends (bot.delivery.outbox)."""

    async def put_chat(self, platform: str, chat_id: str, reply: Reply, kind: str, *, user_id: int | None = None,
                       key: str | None = None, edit_ref: str | None = None) -> int | None: ...


def notice_key(intent_id: int, stage: str) -> str:
    """The outbox key of an intent's outcome notice: one message per intent and outcome, whoever queues it."""
    return f"trade:{intent_id}:{stage}"


class TradeFollowUps:
    """Owns the trades this process confirms and finishes those whose owner died (see the module docstring)."""

    def __init__(self, jobs: JobQueue, owners: Owners, desks: Desks, outbox: Outbox, *,
                 recheck_seconds: float = RECHECK_SECONDS, slice_seconds: float = SLICE_SECONDS) -> None:
        self.jobs = jobs
        self.owners = owners
        self.desks = desks
        self.outbox = outbox
        self.recheck_seconds = recheck_seconds
        self.slice_seconds = slice_seconds

    def register(self) -> None:
        """The task on the job engine, and this process as the owner of what its desks confirm."""
        self.jobs.task(TASK, self.settle)
        for desk in self.desks:
            desk.carried_by(self)

    # -- the owner's side (bot.trading.executor.confirm) ------------------------------------------------------

    async def own(self, intent_id: int) -> None:
        """This process carries the intent from now on; its job stands by (first look after `recheck_seconds`)."""
        await self.owners.take(intent_id)
        try:
            await self.defer(intent_id, self.recheck_seconds)
        except BaseException:
            await self.owners.let_go(intent_id)
            raise

    async def claim(self, intent_id: int) -> bool:
        return await self.owners.try_take(intent_id)

    async def let_go(self, intent_id: int) -> None:
        await self.owners.let_go(intent_id)

    async def defer(self, intent_id: int, delay: float = 0.0, looks: int = 0) -> int | None:
        """The intent's job, to run after `delay` seconds (None: one is waiting already). `looks`: how many times
        its jobs found the owner alive so far."""
        key = f"intent:{intent_id}"
        at = datetime.now(UTC) + timedelta(seconds=delay) if delay > 0 else None
        return await self.jobs.defer(TASK, lock=key, queueing_lock=key, schedule_at=at, intent_id=intent_id,
                                     looks=looks)

    def _later(self, looks: int) -> float:
        return float(min(self.recheck_seconds * 2 ** min(looks, 16), max(RECHECK_MAX_SECONDS, self.recheck_seconds)))

    # -- the job --------------------------------------------------------------------------------------------

    async def settle(self, intent_id: int, looks: int = 0) -> str:
        """One run of an intent's job: "settled" (nothing left to do), "owned" (its owner lives), "told" (taken
        over and finished here) or "following" (taken over, still pending: handed to the next run)."""
        intent = await self.desks.home.intents.get(intent_id)
        if intent is None or intent.state.terminal or intent.state is State.HELD:
            return "settled"
        if not await self.owners.try_take(intent_id):
            await self.defer(intent_id, self._later(looks + 1), looks + 1)
            return "owned"
        try:
            return await self._take_over(intent_id)
        finally:
            await self.owners.let_go(intent_id)

    async def _take_over(self, intent_id: int) -> str:
        intent = await self.desks.home.intents.get(intent_id)  # read again: its owner may have finished meanwhile
        if intent is None or intent.state.terminal or intent.state is State.HELD:
            return "settled"
        desk = self.desks.of(intent)
        log.warning("intent %s (%s): its process is gone; finishing it here", intent.id, intent.state.value)
        cancelled = await cancel_unsigned(desk, intent)
        if cancelled is not None:
            if cancelled:
                await self._tell(intent, "interrupted", interrupted_reply())
            return "told"
        ends = time.monotonic() + self.slice_seconds
        while True:
            seen = desk.head.head
            status = await check_once(desk, intent)
            if status is not None and status.final:
                await self._tell_outcome(desk, status)
                return "told"
            if time.monotonic() > ends:
                await self.defer(intent_id, self.recheck_seconds)
                return "following"
            await desk.head.next_block(seen, timeout=desk.settings.retry_seconds)

    async def _tell_outcome(self, desk: Executor, status: TradeStatus) -> None:
        if status.intent.state is State.CANCELLED:  # its owner answered the user already
            return
        await self._tell(status.intent, status.stage, status_reply(status, desk.profile, desk.kinds))

    async def _tell(self, intent: Intent, stage: str, reply: Reply) -> None:
        message_id = await self.outbox.put_chat(intent.platform, intent.chat_id, reply, "trade", user_id=intent.user_id,
                                                key=notice_key(intent.id, stage), edit_ref=intent.message_ref)
        log.info("intent %s: %s %s", intent.id, stage, "told" if message_id is not None else "was told already")
