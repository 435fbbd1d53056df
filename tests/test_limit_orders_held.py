"""The open orders a watch holds, on both engines: an order set, cancelled, filled or expired through another
process's `LimitOrders` (a second `Database` on the same database) is in or out of the first's book at its next
read, which reads only the rows changed since (one full read, at the start); a change committed late is never
skipped; and the ranked book hands a block every order `due` would find among them all."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import cast

import pytest
from sqlalchemy import func, insert, select

from bot.delivery.outbox import Outbox
from bot.limits.book import LimitOrders, OrderSettings
from bot.limits.held import HeldOrders
from bot.limits.triggers import due
from bot.market.quotes import IndexState
from bot.storage.db import Database
from bot.storage.limit_orders import LimitOrder, LimitOrderRows, NewOrder, OrderKind
from bot.storage.schema import limit_order_clock, limit_orders, users
from bot.trading.executor import Executor

D = Decimal
NOW = 1_800_000_000


async def _user(db: Database) -> int:
    async with db.transaction() as tx:
        known = await tx.scalar(select(func.count()).select_from(users))
        uid = await tx.scalar(insert(users).values(platform="test", platform_user_id=f"h{known}", created_at=0,
                                                   last_seen_at=0).returning(users.c.id))
    return int(uid)


def _book(db: Database) -> LimitOrders:
    """One process's `LimitOrders` on `db`: cancelling and reading orders use its rows only (no chain)."""
    return LimitOrders(LimitOrderRows(db), cast(Executor, None), cast(Outbox, None), OrderSettings(max_open=5), lambda: NOW)


async def _set(book: LimitOrders, uid: int, kind: OrderKind = "stop", line: str = "90", seconds: int | None = None) -> int:
    """An order stored as `LimitOrders.add` stores a vetted one (its wallet's address aside: no chain here)."""
    expires = NOW + seconds if seconds is not None else None
    made = await book.rows.add(NewOrder(uid, "MAG7.ssi", kind, D(50), D(line), None, "test", "1", expires), NOW,
                               book.settings.max_open)
    if made is None:
        raise LookupError("limits.error.too_many")
    return made


async def test_orders_set_cancelled_or_filled_elsewhere_are_in_or_out_at_the_next_read(db: Database, other: Database) -> None:
    watch, elsewhere = _book(db), _book(other)
    uid = await _user(db)
    first = await _set(elsewhere, uid)
    await watch.held.refresh()
    assert set(watch.held.orders) == {first} and watch.held.full_reads == 1
    second = await _set(elsewhere, uid, "sell", "120")
    third = await _set(elsewhere, uid, "buy", "80")
    await watch.held.refresh()
    assert set(watch.held.orders) == {first, second, third} and watch.held.last_read == 2
    await elsewhere.cancel(uid, first)
    await watch.held.refresh()
    assert set(watch.held.orders) == {second, third} and watch.held.last_read == 1
    assert await elsewhere.rows.claim(second, 7, D(121))  # another watch triggers it, then it fills
    await watch.held.refresh()
    assert set(watch.held.orders) == {third}
    assert await elsewhere.rows.end(second, "filled", "mined")
    await watch.held.refresh()
    assert set(watch.held.orders) == {third} and watch.held.last_read == 0  # its end takes no number: nothing read
    assert await elsewhere.rows.expire([third], NOW) == 0  # not due yet: nothing moved
    await watch.held.refresh()
    assert set(watch.held.orders) == {third}
    assert watch.held.full_reads == 1  # every read after the first was the changed rows only


async def test_orders_expired_elsewhere_leave_and_own_moves_are_read_once(db: Database, other: Database) -> None:
    watch, elsewhere = _book(db), _book(other)
    uid = await _user(db)
    await watch.held.refresh()
    assert watch.held.orders == {}
    soon = await _set(elsewhere, uid, seconds=60)
    mine = await _set(watch, uid, "takeprofit", "130")
    await watch.held.refresh()
    assert set(watch.held.orders) == {soon, mine}
    assert await elsewhere.rows.expire([soon], NOW + 60) == 1
    await watch.cancel(uid, mine)  # its own cancel leaves at once
    assert set(watch.held.orders) == {soon}
    await watch.held.refresh()
    assert watch.held.orders == {} and watch.held.last_read == 2
    await watch.held.refresh()
    assert watch.held.last_read == 0 and watch.held.full_reads == 1


async def test_a_change_committed_late_is_not_skipped(db: Database, other: Database) -> None:
    """A number taken first and committed last: the later writer waits for it, so no reader sees the later one
    alone and moves past the earlier (PostgreSQL's concurrent transactions; SQLite's one writer)."""
    watch, elsewhere = _book(db), _book(other)
    uid = await _user(db)
    kept = await _set(elsewhere, uid)
    await watch.held.refresh()
    async with db.transaction() as tx:  # a writer in the middle of setting an order: its number taken, not committed
        n = await tx.scalar(limit_order_clock.update().values(n=limit_order_clock.c.n + 1).returning(limit_order_clock.c.n))
        assert n is not None  # the first order made the clock's row
        slow = await tx.scalar(insert(limit_orders).values(
            user_id=uid, token="MAG7.ssi", kind="buy", amount="10", line="70", platform="test", chat_id="1",
            created_at=NOW, changed=n).returning(limit_orders.c.id))
        cancel = asyncio.create_task(elsewhere.cancel(uid, kept))  # takes the next number: waits for the first
        await asyncio.sleep(0.5)
        assert not cancel.done()
        await watch.held.refresh()
        assert set(watch.held.orders) == {kept}
    await cancel
    await watch.held.refresh()
    assert set(watch.held.orders) == {int(slow)}
    assert watch.held.full_reads == 1


async def test_max_open_is_counted_across_processes(db: Database, other: Database) -> None:
    watch, elsewhere = _book(db), _book(other)
    uid = await _user(db)
    for n in range(5):
        await _set(watch if n % 2 else elsewhere, uid)
    before = await db.scalar(select(func.count()).select_from(limit_orders))
    clock = await db.scalar(select(limit_order_clock.c.n))
    assert clock == 5
    with pytest.raises(LookupError):  # a sixth is refused
        await _set(elsewhere, uid)
    assert await db.scalar(select(func.count()).select_from(limit_orders)) == before
    assert await db.scalar(select(limit_order_clock.c.n)) == clock  # nothing stamped either


class _Rows:
    """Rows in memory, for the ranking alone (no database)."""

    def __init__(self, orders: list[LimitOrder]) -> None:
        self._orders = orders

    async def clock(self) -> int:
        return 0

    async def open(self) -> list[LimitOrder]:
        return self._orders


KINDS: tuple[OrderKind, ...] = ("buy", "sell", "stop", "takeprofit")
TOKENS = ("MAG7.ssi", "MEME.ssi", "DEFI.ssi")


def _random_orders(rng: random.Random, n: int) -> list[LimitOrder]:
    orders = []
    for i in range(1, n + 1):
        kind = rng.choice(KINDS)
        trail = D(rng.choice((5, 10, 25))) if kind == "stop" and rng.random() < 0.4 else None
        line = D(rng.randint(8000, 12000)) / 100
        peak = line * 100 / (100 - trail) if trail is not None and rng.random() < 0.5 else None
        expires = rng.choice((None, NOW - 1, NOW, NOW + 1, NOW + 3600))
        orders.append(LimitOrder(i, 1, rng.choice(TOKENS), kind, D(50), line, trail, peak, "open", "test", "1", 0,
                                 expires, None, None, None, None, False))
    return orders


def _states(rng: random.Random) -> dict[str, IndexState]:
    states = {}
    for token in TOKENS[:-1] if rng.random() < 0.2 else TOKENS:  # an index missing from the snapshot
        nav = D(rng.randint(8000, 12000)) / 100
        dex = None if rng.random() < 0.1 else D(rng.randint(8000, 12000)) / 100
        states[token] = IndexState(token, (), nav, dex, 3000, rng.random() < 0.1)
    return states


async def test_the_ranked_book_hands_a_block_everything_due_would_find() -> None:
    rng = random.Random(19)
    for _ in range(40):
        orders = _random_orders(rng, 300)
        held = HeldOrders(cast(LimitOrderRows, _Rows(orders)))
        await held.refresh()
        for _ in range(5):
            states = _states(rng)
            every = due(sorted(held.orders.values(), key=lambda o: o.id), states, NOW)  # oldest first, as handed
            candidates = held.candidates(states, NOW)
            assert due(candidates, states, NOW) == every
            assert len(candidates) < len(held.orders)  # it is a ranking, not everything
            for order_id in every.expired:
                held.drop(order_id)
            for order_id, peak in every.peaks.items():
                held.raise_peak(order_id, peak)
            for order, _value in every.triggered[: len(every.triggered) // 2]:
                held.drop(order.id)
