"""Price alerts (`/alert`): a line on an index's NAV per token, or on its pool price's premium to NAV.

Kinds and when an armed alert fires:
- `above X`: NAV per token (from the price feeds, `IndexState.nav`) is X or more;
- `below X`: NAV per token is X or less;
- `premium P` (percent, P ≠ 0): the Uniswap price's premium to NAV (`IndexState.premium`) is P or more when
  P > 0, or its discount is -P or more (premium ≤ P) when P < 0.

An alert fires once, then waits until the value has moved back past the line by the re-arm margin
(`rearm_usd_fraction` of the line for USD, `rearm_premium_points` percentage points for premium) before it can
fire again, so a price hovering at the line does not spam. An alert made while its condition already holds
starts disarmed: it fires at the next crossing, not at once.

`PriceAlerts.check()` (the `alerts:prices` job) evaluates every live alert from ONE market snapshot, fires
and re-arms them by compare-and-set in one transaction, then queues each fired alert's message with
`outbox.put(user, reply, "price", key="price:<id>:<fired_count>", urgent=True)`; `sent_count` records the
queueing, so an alert fired just before a crash is queued by the next check, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from bot.delivery.alerts.config import AlertsConfig
from bot.core.errors import UserError
from bot.core.messages import Button, Count, Msg, Param, Pct, Reply, Usd
from bot.market.quotes import IndexState, Market, Snapshot
from bot.delivery.outbox import Outbox
from bot.storage.market_alerts import AlertKind, PriceAlert, PriceAlertRows

log = logging.getLogger(__name__)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CheckResult:
    block: int | None  # the snapshot's block; None when no alert was live (nothing read)
    fired: int
    rearmed: int
    queued: int


def watched_value(alert: PriceAlert, state: IndexState) -> Decimal | None:
    """What the alert watches, now: NAV per token (USD), or the premium as a ratio (None: no pool price, or a
    partial NAV: a constituent without a fresh price must not fire an alert)."""
    if alert.kind in ("above", "below"):
        return None if state.partial else state.nav
    return state.premium


def line_of(alert: PriceAlert) -> Decimal:
    """The line in the watched value's units (the premium's percent as a ratio)."""
    return alert.threshold / HUNDRED if alert.kind == "premium" else alert.threshold


def upward(alert: PriceAlert) -> bool:
    """Whether it fires when the value rises to the line (above, positive premium) rather than falls to it."""
    return alert.kind == "above" or (alert.kind == "premium" and alert.threshold > 0)


def rearm_level(alert: PriceAlert, config: AlertsConfig) -> Decimal:
    """How far back past the line the value must go before the alert can fire again."""
    line = line_of(alert)
    margin = alert.threshold * config.rearm_usd_fraction if alert.kind != "premium" else config.rearm_premium_points / HUNDRED
    return line - margin if upward(alert) else line + margin


def crossed(alert: PriceAlert, value: Decimal) -> bool:
    return value >= line_of(alert) if upward(alert) else value <= line_of(alert)


def back_past(alert: PriceAlert, value: Decimal, config: AlertsConfig) -> bool:
    level = rearm_level(alert, config)
    return value <= level if upward(alert) else value >= level


def shown_level(alert: PriceAlert, level: Decimal) -> Param:
    """A line or re-arm level as the user reads it: dollars, or "1.5 % premium" / "1 % discount"."""
    if alert.kind != "premium":
        return Usd(level, 6 if level < 1 else 2)
    return Msg("indexes.premium" if level >= 0 else "indexes.discount", {"pct": Pct(abs(level), 2)})


def now_line(state: IndexState, block: int) -> Msg:
    """NAV and, beside it, the pool price with its premium or discount."""
    if state.dex_price is None or state.premium is None:
        return Msg("alert.now_nav", {"nav": Usd(state.nav), "block": block})
    premium = Msg("indexes.premium" if state.premium >= 0 else "indexes.discount", {"pct": Pct(abs(state.premium))})
    return Msg("alert.now", {"nav": Usd(state.nav), "price": Usd(state.dex_price), "premium": premium, "block": block})


def describe(alert: PriceAlert) -> Msg:
    """`MAG7.ssi: NAV at or above $105.00` and the like."""
    key = {"above": "alert.line.above", "below": "alert.line.below"}.get(alert.kind, "alert.line.premium")
    return Msg(key, {"index": alert.token, "line": shown_level(alert, line_of(alert))})


def fired_reply(alert: PriceAlert, value: Decimal, state: IndexState, block: int, config: AlertsConfig) -> Reply:
    """The alert's message: what crossed which line, the prices now, and when it re-arms."""
    what = "alert.fired.nav" if alert.kind != "premium" else "alert.fired.premium"
    lines = [
        Msg("alert.fired.title", {"id": alert.id, "index": alert.token}, style="title"),
        Msg(what, {"value": shown_level(alert, value), "line": describe(alert)}),
        now_line(state, block),
        Msg("alert.rearm.down" if upward(alert) else "alert.rearm.up", {"level": shown_level(alert, rearm_level(alert, config))}),
    ]
    return Reply.of(*lines, buttons=((delete_button(alert.id),),))


def delete_button(alert_id: int) -> Button:
    return Button(Msg("alert.button.delete", {"id": alert_id}), "alert.delete", (str(alert_id),))


class PriceAlerts:
    def __init__(self, rows: PriceAlertRows, market: Market, outbox: Outbox | None, config: AlertsConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.rows = rows
        self.market = market
        self.outbox = outbox
        self.config = config
        self._clock = clock

    async def add(self, user_id: int, index: str, kind: AlertKind, threshold: Decimal) -> tuple[PriceAlert, IndexState, int]:
        """Store a new alert line (validated by the handler); (the alert, the index now, the block read). It starts
        disarmed when its condition already holds. UserError when the user has the most alerts allowed."""
        snap = await self.market.snapshot()
        state = snap.indexes[index]
        draft = PriceAlert(0, user_id, index, kind, threshold, True, 0, 0, None, None)
        value = watched_value(draft, state)
        if value is None:
            raise UserError("alert.error.no_pool", index=index)
        armed = not crossed(draft, value)
        alert_id = await self.rows.add(user_id, index, kind, threshold, armed, int(self._clock()), self.config.max_per_user)
        if alert_id is None:
            raise UserError("alert.error.too_many", count=Count(self.config.max_per_user))
        made = await self.rows.get(alert_id)
        assert made is not None
        return made, state, snap.block

    async def of_user(self, user_id: int) -> list[PriceAlert]:
        return await self.rows.of_user(user_id)

    async def delete(self, user_id: int, alert_id: int) -> bool:
        return await self.rows.delete(user_id, alert_id, int(self._clock()))

    async def check(self) -> CheckResult:
        """Evaluate every live alert against one snapshot, fire / re-arm in one transaction, queue the messages."""
        alerts = await self.rows.live()
        if not alerts:
            return CheckResult(None, 0, 0, 0)
        snap = await self.market.snapshot()
        fired: list[tuple[int, Decimal, int]] = []
        rearmed: list[int] = []
        for alert in alerts:
            state = snap.indexes.get(alert.token)
            value = watched_value(alert, state) if state is not None else None
            if value is None:
                continue
            if alert.armed and crossed(alert, value):
                fired.append((alert.id, value, snap.block))
            elif not alert.armed and back_past(alert, value, self.config):
                rearmed.append(alert.id)
        if fired or rearmed:
            await self.rows.settle(fired, rearmed, int(self._clock()))
        queued = await self._queue(snap)
        return CheckResult(snap.block, len(fired), len(rearmed), queued)

    async def _queue(self, snap: Snapshot) -> int:
        """Queue every fired alert whose message is not queued yet (this check's, or one a crash left)."""
        queued = 0
        for alert in await self.rows.unsent():
            state = snap.indexes.get(alert.token)
            if state is None or alert.fired_value is None:
                continue
            reply = fired_reply(alert, alert.fired_value, state, snap.block, self.config)
            if self.outbox is not None and await self.outbox.put(
                    alert.user_id, reply, "price", key=f"price:{alert.id}:{alert.fired_count}", urgent=True) is not None:
                queued += 1
            await self.rows.sent(alert.id, alert.fired_count)
        return queued
