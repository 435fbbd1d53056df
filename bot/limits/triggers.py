"""When an order triggers, from one market snapshot: pure functions, so one block's check of every open order is
a loop over rows in memory (bench/orders.py measures it).

- `buy`: the pool price is at or below the line; `sell`: at or above it (both on the Uniswap pool price);
- `stop`: NAV per token is at or below the line, or, trailing, `trail` % below the highest NAV seen since it was set;
- `takeprofit`: NAV per token is at or above the line;
- a `buy` or `sell` on the premium (`watch` "premium"): the pool price's premium to NAV per token, in percent (negative:
  a discount), is at or below (buy) / at or above (sell) the line, both read from the same snapshot.

A partial NAV (a constituent without a fresh price) triggers nothing, as with price alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.market.quotes import IndexState
from bot.storage.limit_orders import LimitOrder, OrderKind, Watch

HUNDRED = Decimal(100)


def watched(kind: OrderKind, state: IndexState, watch: Watch = "price") -> Decimal | None:
    """The value the order watches now: the pool price for buy / sell, NAV per token for stop / takeprofit, or the
    pool price's premium to NAV in percent (None while either is missing or NAV is partial)."""
    if watch == "premium":
        return None if state.premium is None else state.premium * HUNDRED
    if kind in ("buy", "sell"):
        return state.dex_price
    return None if state.partial else state.nav


def upward(kind: OrderKind) -> bool:
    return kind in ("sell", "takeprofit")


def line_now(order: LimitOrder, value: Decimal) -> Decimal:
    """The line at this value: a trailing stop's follows the highest NAV seen (the peak, or this value if higher)."""
    if order.trail is None:
        return order.line
    peak = max(order.peak or order.line, value)
    return peak * (HUNDRED - order.trail) / HUNDRED


def met(kind: OrderKind, line: Decimal, value: Decimal) -> bool:
    return value >= line if upward(kind) else value <= line


@dataclass(frozen=True)
class Due:
    triggered: list[tuple[LimitOrder, Decimal]]  # (order, the value that triggered it)
    expired: list[int]
    peaks: dict[int, Decimal]  # trailing stops whose peak rose


def due(orders: Iterable[LimitOrder], states: Mapping[str, IndexState], now: int) -> Due:
    """Every open order against one snapshot's index states."""
    triggered: list[tuple[LimitOrder, Decimal]] = []
    expired: list[int] = []
    peaks: dict[int, Decimal] = {}
    values: dict[tuple[str, bool, str], Decimal | None] = {}
    for order in orders:
        if order.expires_at is not None and order.expires_at <= now:
            expired.append(order.id)
            continue
        key = (order.token, order.kind in ("buy", "sell"), order.watch)
        if key not in values:
            state = states.get(order.token)
            values[key] = watched(order.kind, state, order.watch) if state is not None else None
        value = values[key]
        if value is None:
            continue
        if met(order.kind, line_now(order, value), value):
            triggered.append((order, value))
        elif order.trail is not None and value > (order.peak or order.line):
            peaks[order.id] = value
    return Due(triggered, expired, peaks)
