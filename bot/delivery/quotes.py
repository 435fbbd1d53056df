"""Expiring quotes: a quote left alone is edited, at its expiry, to say it expired, with only a Refresh button.

When a front end has shown a reply carrying an intent's Confirm (a buy, sell, stake, unstake, claim or withdrawal
summary), it tells `shown` which message that is; the message is then stored with the quote's expiry
(bot.storage.quote_messages). A message edited into another quote points at the new one; one edited into anything
else is forgotten, so a quote refreshed or replaced meanwhile is never touched.

Job `quotes:expired` sweeps due rows every `every_seconds` (one job of the schedule: APScheduler on SQLite, one
procrastinate job per tick for a whole fleet on PostgreSQL; a restart finds the rows where it left them). For each:
an intent still `quoted` moves to `expired` by compare-and-set, and whichever process won or lost that race, an
`expired` intent's edit goes through the outbox under the key `quote:expired:<message>`, so two sweeps put it once,
and it shares the platform's rate limits with every other message. A confirmed or cancelled quote is only forgotten.
The edit is `edit_only`: a message the user deleted is dropped quietly, never sent anew, and never marks the chat.
What the edited message says is the `EXPIRED_SOURCE` outbox source's, registered by the trade feature (its Refresh).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from bot.core.messages import Reply
from bot.delivery.outbox import Outbox
from bot.delivery.schedule import Schedule
from bot.storage.intents import IntentRows
from bot.storage.quote_messages import QuoteMessage, QuoteMessageRows
from bot.trading.intents import State

log = logging.getLogger(__name__)

SWEEP_JOB = "quotes:expired"
CONFIRM_ACTION = "trade.confirm"  # the Confirm of a stored intent (handlers/shared/confirm.py): its one argument is the id
RESTART_ACTION = "stake.restart"  # an unstake's "Restart cooldown and unstake", its Confirm (handlers/stake.py)
CONFIRMS = frozenset({CONFIRM_ACTION, RESTART_ACTION})
EXPIRED_SOURCE = "quote.expired"  # the outbox source making the edited message, from {"intent": id}


def confirmed_intent(reply: Reply) -> int | None:
    """The intent whose Confirm `reply` carries, if any."""
    for row in reply.buttons:
        for button in row:
            if button.action in CONFIRMS and len(button.args) == 1 and button.args[0].isdigit():
                return int(button.args[0])
    return None


class ExpiringQuotes:
    def __init__(self, rows: QuoteMessageRows, intents: IntentRows, outbox: Outbox, every_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.rows = rows
        self.intents = intents
        self.outbox = outbox
        self.every_seconds = max(1, every_seconds)
        self.clock = clock

    async def shown(self, platform: str, chat_id: str, message_ref: str | None, reply: Reply | None, edited: bool) -> None:
        """A front end showed `reply` as message `message_ref` (`edited`: by editing it): a quote is timed; a message
        that showed one and now shows something else is forgotten. Never raises: the reply is out already."""
        if message_ref is None or reply is None:
            return
        intent_id = confirmed_intent(reply)
        try:
            if intent_id is not None:
                await self.rows.shown(platform, chat_id, message_ref, intent_id)
            elif edited:
                await self.rows.forget(platform, chat_id, message_ref)
        except Exception:  # noqa: BLE001 - the quote still works; it only keeps its buttons past its expiry
            log.exception("%s: the quote shown as %s in %s could not be timed", platform, message_ref, chat_id)

    def says(self, make: Callable[[int], Awaitable[Reply]]) -> None:
        """Register what an expired quote's message says, from its intent id (the trade feature: that it expired, and
        its Refresh); always an edit that is dropped if the message is gone."""

        async def source(payload: dict[str, Any], _reader: int | None, _locale: str) -> Reply:
            return replace(await make(int(payload["intent"])), edit=True, edit_only=True)

        self.outbox.source(EXPIRED_SOURCE, source)

    async def plan(self, schedule: Schedule) -> None:
        """Put the sweep (a schedule's start-up step)."""
        schedule.put(SWEEP_JOB, IntervalTrigger(seconds=self.every_seconds, timezone=UTC), self.sweep)

    async def sweep(self) -> int:
        """The `quotes:expired` job: every quote on show that fell due is dealt with; how many edits were queued."""
        queued = 0
        for row in await self.rows.due(int(self.clock())):
            try:
                queued += await self._lapse(row)
            except Exception:  # noqa: BLE001 - one row failing must not hold up the others; the next sweep tries again
                log.exception("the expiry of quote %s (%s %s) failed", row.intent_id, row.platform, row.chat_id)
        return queued

    async def _lapse(self, row: QuoteMessage) -> int:
        state = row.state
        if state == State.QUOTED.value:
            await self.intents.move(row.intent_id, State.QUOTED, State.EXPIRED)  # won here or elsewhere: read again
            state = await self.rows.state_of(row.intent_id) or ""
        put = None
        if state == State.EXPIRED.value:
            put = await self.outbox.put_chat(
                row.platform, row.chat_id, {"source": EXPIRED_SOURCE, "intent": row.intent_id}, "trade",
                user_id=row.user_id, key=f"quote:expired:{row.platform}:{row.chat_id}:{row.message_ref}:{row.intent_id}",
                edit_ref=row.message_ref)
        await self.rows.done(row)
        return 1 if put is not None else 0
