"""The open orders a process's watch holds in memory: kept current from the rows changed since its last read, and
ranked by line, so that a block visits the orders it may act on, not all of them.

`refresh()` reads every open row once (the watch's start), then only the orders moved into or out of `open` since
(`LimitOrderRows.changed_since`, migration 0032): one set or cancelled by another process, or claimed, filled or
expired by another watch, is in or out by the next check. Change numbers commit in their order and no row is ever
deleted, so that read misses nothing and no full re-read is needed. (A move that took no number, code writing `state`
around `LimitOrderRows`, would leave a stale order held until it triggers or expires; its claim or expiry is a
compare-and-set that refuses it: it never trades.)

`candidates(states, now)` is every held order a block may trigger, expire or raise the peak of: per index, kind and
what the line is (a price, or a premium to NAV), fixed lines sorted (a falling kind, buy or stop, is crossed by every
line at or above the value it watches; a rising one by every line at or below it), trailing stops sorted by their line at the stored peak and by that peak, expiries
by time. It holds everything `bot.limits.triggers.due` would find among all held orders, so `due` then decides on
those few; a kind not ranked here is handed over at every block.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from operator import itemgetter

from bot.limits.triggers import line_now, upward, watched
from bot.market.quotes import IndexState
from bot.storage.limit_orders import LimitOrder, LimitOrderRows, OrderKind, Watch

RANKED = frozenset({"buy", "sell", "stop", "takeprofit"})
_first = itemgetter(0)
Key = tuple[str, OrderKind, Watch]  # (index, kind, what the line is: a price or a premium to NAV)


def _remove(ranked: list[tuple[Decimal, int]] | list[tuple[int, int]], entry: tuple[Decimal, int] | tuple[int, int]) -> None:
    i = bisect_left(ranked, entry)
    if i < len(ranked) and ranked[i] == entry:
        del ranked[i]


class HeldOrders:
    def __init__(self, rows: LimitOrderRows) -> None:
        self.rows = rows
        self.orders: dict[int, LimitOrder] = {}
        self.number: int | None = None  # the newest change number read; None before the first read
        self.full_reads = 0
        self.last_read = 0  # rows the last refresh read
        self._lines: dict[Key, list[tuple[Decimal, int]]] = {}  # fixed lines
        self._trails: dict[Key, list[tuple[Decimal, int]]] = {}  # trailing stops' lines at their stored peak
        self._peaks: dict[Key, list[tuple[Decimal, int]]] = {}  # trailing stops' stored peaks
        self._expiries: list[tuple[int, int]] = []
        self._other: set[int] = set()  # kinds not ranked: checked at every block

    async def refresh(self) -> None:
        """Every open order the first time, then the orders changed since the last read."""
        if self.number is None:
            number = await self.rows.clock()  # before the rows: a change after it is read again next time, never lost
            opened = await self.rows.open()
            self.full_reads += 1
            self.last_read = len(opened)
            for order in opened:
                self._put(order)
            self.number = number
            return
        changed, self.number = await self.rows.changed_since(self.number)
        self.last_read = len(changed)
        for order in changed:
            held = self.drop(order.id)
            if order.state != "open":
                continue
            if held is not None and held.peak is not None and (order.peak is None or order.peak < held.peak):
                order = replace(order, peak=held.peak)  # a peak this watch raised and has not seen written back
            self._put(order)

    def drop(self, order_id: int) -> LimitOrder | None:
        order = self.orders.pop(order_id, None)
        if order is None:
            return None
        if order.expires_at is not None:
            _remove(self._expiries, (order.expires_at, order.id))
        self._other.discard(order.id)
        key = (order.token, order.kind, order.watch)
        if order.trail is None and key in self._lines:
            _remove(self._lines[key], (order.line, order.id))
        elif order.trail is not None and key in self._trails:
            peak = order.peak or order.line
            _remove(self._trails[key], (line_now(order, peak), order.id))
            _remove(self._peaks[key], (peak, order.id))
        return order

    def raise_peak(self, order_id: int, peak: Decimal) -> None:
        order = self.drop(order_id)
        if order is not None:
            self._put(replace(order, peak=peak))

    def _put(self, order: LimitOrder) -> None:
        self.orders[order.id] = order
        if order.expires_at is not None:
            insort(self._expiries, (order.expires_at, order.id))
        key = (order.token, order.kind, order.watch)
        if order.kind not in RANKED or (order.trail is not None and upward(order.kind)):
            self._other.add(order.id)
        elif order.trail is None:
            insort(self._lines.setdefault(key, []), (order.line, order.id))
        else:
            peak = order.peak or order.line
            insort(self._trails.setdefault(key, []), (line_now(order, peak), order.id))
            insort(self._peaks.setdefault(key, []), (peak, order.id))

    def candidates(self, states: Mapping[str, IndexState], now: int) -> list[LimitOrder]:
        """The held orders this block may act on (a superset of what `due` finds among them all), by id."""
        ids = set(self._other)
        ids.update(order_id for _, order_id in self._expiries[:bisect_right(self._expiries, now, key=_first)])
        values: dict[Key, Decimal | None] = {}

        def value(key: Key) -> Decimal | None:
            if key not in values:
                state = states.get(key[0])
                values[key] = watched(key[1], state, key[2]) if state is not None else None
            return values[key]

        for key, ranked in self._lines.items():
            now_ = value(key)
            if now_ is not None:
                crossed = ranked[:bisect_right(ranked, now_, key=_first)] if upward(key[1]) else \
                    ranked[bisect_left(ranked, now_, key=_first):]
                ids.update(order_id for _, order_id in crossed)
        for key, ranked in self._trails.items():
            now_ = value(key)
            if now_ is not None:
                ids.update(order_id for _, order_id in ranked[bisect_left(ranked, now_, key=_first):])
                peaks = self._peaks[key]
                ids.update(order_id for _, order_id in peaks[:bisect_left(peaks, now_, key=_first)])
        return [self.orders[i] for i in sorted(ids)]
