"""Rows of the orders that act by themselves (migrations 0030 to 0032 and 0034, bot.limits).

Every move of an order is a compare-and-set on its state, so two checks of one block (two workers, a restart)
trigger an order once: `claim` moves it open → firing with the block and value that triggered it, `link` stores
its one execution intent before that intent is signed, `end` moves firing → filled / failed (or expired: a connected
wallet's order whose signing link was left unsigned, outcome `unsigned`).

Every move into or out of `open` (`add`, `cancel`, `claim`, `expire`) stamps the row with the next number of
`limit_order_clock` (migration 0032) in its transaction, so a watch keeps its orders current by reading only the rows
changed since (`changed_since`): the clock's row stays locked until that transaction ends, so numbers commit in
their order (PostgreSQL, several processes) and a read that sees number n has seen every number below it; on SQLite
the one writer does the same. No row is ever deleted. Moves that keep an order out of `open` (`link`, `end`,
`mark_told`) and a trailing stop's `peaks` (kept by the watch that raises them) take no number.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, func, select, update

from bot.storage.db import Database, Tx
from bot.storage.schema import limit_order_clock, limit_orders, users

OrderKind = Literal["buy", "sell", "stop", "takeprofit"]
OrderState = Literal["open", "firing", "filled", "failed", "cancelled", "expired"]
Watch = Literal["price", "premium"]  # what `line` is: USD per token, or the pool price's premium to NAV in percent


@dataclass(frozen=True)
class LimitOrder:
    id: int
    user_id: int
    token: str
    kind: OrderKind
    amount: Decimal  # USDC for a buy; percent of the holding otherwise
    line: Decimal  # USD per token
    trail: Decimal | None  # percent below the peak NAV, for a trailing stop
    peak: Decimal | None
    state: OrderState
    platform: str
    chat_id: str
    created_at: int
    expires_at: int | None
    trigger_block: int | None
    trigger_value: Decimal | None
    intent_id: int | None
    outcome: str | None
    told: bool
    address: str | None = None  # the wallet it was set for (migration 0031); None: set before, custodial
    watch: Watch = "price"  # what `line` is (migration 0034)


@dataclass(frozen=True)
class NewOrder:
    user_id: int
    token: str
    kind: OrderKind
    amount: Decimal
    line: Decimal
    trail: Decimal | None
    platform: str
    chat_id: str
    expires_at: int | None
    address: str | None = None  # the wallet it is set for: it never trades from another
    request_key: str | None = None  # the Confirm that sets it: the same key again sets nothing more
    watch: Watch = "price"


_o = limit_orders.c
_ALL = select(limit_orders)
_clock = limit_order_clock.c


async def _stamp(tx: Tx) -> int:
    """The next change number; the clock's row (made by the first) stays locked until `tx` ends. Taken before any
    order row is touched, so two writers never wait on each other the other way round."""
    tick = tx.insert(limit_order_clock).values(id=1, n=1)
    return int(await tx.scalar(tick.on_conflict_do_update(index_elements=[_clock.id], set_={"n": _clock.n + 1})
                               .returning(_clock.n)))


def _dec(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


def _order(r: Row[Any]) -> LimitOrder:
    return LimitOrder(int(r.id), int(r.user_id), str(r.token), r.kind, Decimal(str(r.amount)), Decimal(str(r.line)),
                      _dec(r.trail), _dec(r.peak), r.state, str(r.platform), str(r.chat_id), int(r.created_at),
                      int(r.expires_at) if r.expires_at is not None else None,
                      int(r.trigger_block) if r.trigger_block is not None else None, _dec(r.trigger_value),
                      int(r.intent_id) if r.intent_id is not None else None, r.outcome, bool(r.told),
                      str(r.address) if r.address is not None else None, r.watch)


class LimitOrderRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, new: NewOrder, now: int, limit: int) -> int | None:
        """A new open order; None when the user has `limit` open ones already (counted under a lock on the user). With
        a `request_key` the user set an order with before: that order's id, and nothing new."""
        async with self._db.transaction() as tx:
            await tx.lock(select(users.c.id).where(users.c.id == new.user_id))
            if new.request_key is not None:
                before = await tx.scalar(select(_o.id).where(_o.user_id == new.user_id, _o.request_key == new.request_key))
                if before is not None:
                    return int(before)
            count = await tx.scalar(select(func.count()).select_from(limit_orders).where(
                _o.user_id == new.user_id, _o.state.in_(("open", "firing"))))
            if int(count) >= limit:
                return None
            changed = await _stamp(tx)
            made = await tx.scalar(tx.insert(limit_orders).values(changed=changed,
                user_id=new.user_id, token=new.token, kind=new.kind, amount=str(new.amount), line=str(new.line),
                trail=str(new.trail) if new.trail is not None else None, platform=new.platform, chat_id=new.chat_id,
                created_at=now, expires_at=new.expires_at, address=new.address,
                request_key=new.request_key, watch=new.watch).returning(_o.id))
        assert made is not None
        return int(made)

    async def get(self, order_id: int) -> LimitOrder | None:
        row = await self._db.fetch_one(_ALL.where(_o.id == order_id))
        return _order(row) if row is not None else None

    async def of_user(self, user_id: int) -> list[LimitOrder]:
        """The user's open orders (and those triggering now), oldest first."""
        rows = await self._db.fetch_all(_ALL.where(_o.user_id == user_id, _o.state.in_(("open", "firing"))).order_by(_o.id))
        return [_order(r) for r in rows]

    async def open(self) -> list[LimitOrder]:
        return [_order(r) for r in await self._db.fetch_all(_ALL.where(_o.state == "open").order_by(_o.id))]

    async def clock(self) -> int:
        """The last change number given (read before `open()`, a watch's first read: what `changed_since` goes on from)."""
        return int(await self._db.scalar(select(func.coalesce(func.max(_clock.n), 0))))

    async def changed_since(self, number: int) -> tuple[list[LimitOrder], int]:
        """Orders moved into or out of `open` after change `number`, in any state now, and the newest number read."""
        rows = await self._db.fetch_all(_ALL.add_columns(_o.changed.label("_n")).where(_o.changed > number))
        return [_order(r) for r in rows], max((int(r._n) for r in rows), default=number)

    async def firing(self) -> list[LimitOrder]:
        return [_order(r) for r in await self._db.fetch_all(_ALL.where(_o.state == "firing").order_by(_o.id))]

    async def untold(self) -> list[LimitOrder]:
        """Ended orders whose end was not queued to their user yet (a crash in between)."""
        rows = await self._db.fetch_all(_ALL.where(_o.state.in_(("filled", "failed", "expired")), _o.told == 0))
        return [_order(r) for r in rows]

    async def _leave_open(self, *where: Any, **values: Any) -> int:
        """Move the open orders `where` selects out of `open`, stamped with one change number."""
        async with self._db.transaction() as tx:
            changed = await _stamp(tx)
            return await tx.execute(update(limit_orders).where(*where, _o.state == "open").values(changed=changed, **values))

    async def cancel(self, user_id: int, order_id: int) -> bool:
        return await self._leave_open(_o.id == order_id, _o.user_id == user_id, state="cancelled") == 1

    async def claim(self, order_id: int, block: int, value: Decimal) -> bool:
        """open → firing, once: the trigger of this order at `block`."""
        return await self._leave_open(_o.id == order_id, state="firing", trigger_block=block, trigger_value=str(value)) == 1

    async def expire(self, ids: list[int], now: int) -> int:
        if not ids:
            return 0
        return await self._leave_open(_o.id.in_(ids), _o.expires_at <= now, state="expired")

    async def peaks(self, peaks: dict[int, Decimal]) -> None:
        """Trailing stops' new peaks, in one transaction (no change number: the watch that raised them holds them)."""
        if not peaks:
            return
        async with self._db.transaction() as tx:
            for order_id, peak in peaks.items():
                await tx.execute(update(limit_orders).where(_o.id == order_id, _o.state == "open").values(peak=str(peak)))

    async def link(self, order_id: int, intent_id: int) -> bool:
        """The trigger's one execution intent, stored before it is signed."""
        return await self._db.execute(update(limit_orders).where(
            _o.id == order_id, _o.state == "firing", _o.intent_id.is_(None)).values(intent_id=intent_id)) == 1

    async def end(self, order_id: int, state: OrderState, outcome: str) -> bool:
        return await self._db.execute(update(limit_orders).where(_o.id == order_id, _o.state == "firing").values(
            state=state, outcome=outcome)) == 1

    async def mark_told(self, order_id: int) -> None:
        await self._db.execute(update(limit_orders).where(_o.id == order_id).values(told=1))
