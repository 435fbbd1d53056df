"""Issuance and redemption requests waiting for their factory: the only SQL bot.issuance.orders runs.

A row is made from the mined intent that sent the request (`record`, idempotent on the intent id), so a crash
between the receipt and the row is mended by `unrecorded` at the next start. `settle` is a compare-and-set from
`pending`: of two watchers seeing the same fill, one settles it and tells the user.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, case, select, update

from bot.storage.db import Database
from bot.storage.schema import fills, intents, issuance_orders
from bot.trading.intents import Intent

_o, _i = issuance_orders.c, intents.c
_ORDERS = select(
    _o.id, _o.intent_id, _o.user_id, _o.chain, _o.factory, _o.index_symbol, _o.side, _o.nonce, _o.amount_in,
    _o.requested_at, _o.requested_block, _o.expected_at, _o.state, _o.amount_out, _o.price, _o.cancel_intent,
    _o.settled_at, _o.fill_tx, _i.address, _i.platform, _i.chat_id, _i.message_ref, _i.params,
).select_from(issuance_orders.join(intents, _i.id == _o.intent_id))


@dataclass(frozen=True)
class Order:
    id: int
    intent_id: int
    user_id: int
    chain: str  # the profile's name
    factory: str
    index: str
    side: str  # issue or redeem
    nonce: int
    amount_in: int  # base units of what was paid in
    requested_at: int
    requested_block: int
    expected_at: int | None  # the market's next open when it was closed; None: it was open
    state: str  # pending, filled, cancelled
    amount_out: int | None
    price: int | None  # USD per index token, 18 decimals
    cancel_intent: int | None
    settled_at: int | None
    address: str
    platform: str
    chat_id: str
    message_ref: str | None
    params: dict[str, Any]
    fill_tx: str | None = None  # the factory's fill transaction, once filled

    @property
    def symbol_in(self) -> str:
        return str(self.params["symbol_in"])

    @property
    def decimals_in(self) -> int:
        return int(self.params["decimals_in"])

    @property
    def symbol_out(self) -> str:
        return str(self.params["symbol_out"])

    @property
    def decimals_out(self) -> int:
        return int(self.params["decimals_out"])

    @property
    def connected(self) -> bool:
        return self.params.get("wallet") == "connected"


def _order(r: Row[Any]) -> Order:
    def maybe(value: Any) -> int | None:
        return None if value is None else int(value)

    return Order(
        int(r.id), int(r.intent_id), int(r.user_id), str(r.chain), str(r.factory), str(r.index_symbol), str(r.side),
        int(r.nonce), int(r.amount_in), int(r.requested_at), int(r.requested_block), maybe(r.expected_at), str(r.state),
        maybe(r.amount_out), maybe(r.price), maybe(r.cancel_intent), maybe(r.settled_at),
        str(r.address), str(r.platform), str(r.chat_id), r.message_ref, json.loads(r.params), r.fill_tx,
    )


class OrderRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def record(self, intent: Intent) -> bool:
        """The order a mined request intent made (its result holds the factory's nonce); False if known already."""
        res = intent.result or {}
        if intent.kind not in ("issue", "redeem") or "nonce" not in res:
            return False
        params = intent.params
        expected_at = res.get("expected_at")
        async with self._db.transaction() as tx:
            # Known already (the same intent, or the same factory nonce): ON CONFLICT DO NOTHING on any of the
            # table's unique keys, so two processes recording one receipt make one row.
            return await tx.execute(
                tx.insert(issuance_orders).values(
                    intent_id=intent.id, user_id=intent.user_id, chain=params["chain"], factory=params["factory"],
                    index_symbol=params["index"], side=intent.kind, nonce=int(res["nonce"]),
                    amount_in=int(params["amount_in"]), requested_at=int(res["requested_at"]),
                    requested_block=int(res["block"]), expected_at=None if expected_at is None else int(expected_at),
                    state="pending",
                ).on_conflict_do_nothing().execution_options(preserve_rowcount=True)  # psycopg's INSERT row count (else -1)
            ) > 0

    async def unrecorded(self) -> list[int]:
        """Mined request intents with no order row (a crash came between the receipt and the row)."""
        rows = await self._db.fetch_all(
            select(_i.id).select_from(intents.outerjoin(issuance_orders, _o.intent_id == _i.id))
            .where(_i.kind.in_(("issue", "redeem")), _i.state == "mined", _o.id.is_(None)).order_by(_i.id)
        )
        return [int(r.id) for r in rows]

    async def filled_without_fill(self) -> list[Order]:
        """Filled orders the portfolio's ledger has no fill for (a crash came between the fill and its record)."""
        f = fills.c
        rows = await self._db.fetch_all(_ORDERS.outerjoin(fills, f.intent_id == _o.intent_id)
                                        .where(_o.state == "filled", f.id.is_(None)).order_by(_o.id))
        return [_order(r) for r in rows]

    async def get(self, order_id: int) -> Order | None:
        row = await self._db.fetch_one(_ORDERS.where(_o.id == order_id))
        return None if row is None else _order(row)

    async def pending(self) -> list[Order]:
        return [_order(r) for r in await self._db.fetch_all(_ORDERS.where(_o.state == "pending").order_by(_o.id))]

    async def pending_of(self, user_id: int, address: str) -> list[Order]:
        """The pending orders `user_id` requested from `address` (a redemption's tokens sit in the factory until it
        fills), oldest first."""
        rows = await self._db.fetch_all(_ORDERS.where((_o.state == "pending") & (_o.user_id == user_id)).order_by(_o.id))
        return [o for o in map(_order, rows) if o.address.lower() == address.lower()]

    async def of_user(self, user_id: int, limit: int = 10) -> list[Order]:
        """The user's pending orders, then the latest settled ones, newest first."""
        rows = await self._db.fetch_all(
            _ORDERS.where(_o.user_id == user_id)
            .order_by(case((_o.state == "pending", 0), else_=1), _o.id.desc()).limit(limit)
        )
        return [_order(r) for r in rows]

    async def cancelling(self, order_id: int, intent_id: int, before: int | None) -> bool:
        """Mark the order as being cancelled by `intent_id`, if `before` is still its cancellation (compare-and-set:
        of two Cancel presses one wins, on PostgreSQL too, which re-checks the WHERE on the row's latest version)."""
        still = _o.cancel_intent.is_(None) if before is None else _o.cancel_intent == before
        async with self._db.transaction() as tx:
            return await tx.execute(
                update(issuance_orders).where(_o.id == order_id, _o.state == "pending", still)
                .values(cancel_intent=intent_id)
            ) > 0

    async def settle(self, order_id: int, state: str, amount_out: int | None = None, price: int | None = None,
                     fill_tx: str | None = None) -> bool:
        """pending -> filled | cancelled, once (a conditional UPDATE on the state)."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                update(issuance_orders).where(_o.id == order_id, _o.state == "pending")
                .values(state=state, amount_out=amount_out, price=price, settled_at=int(self._clock()), fill_tx=fill_tx)
            ) > 0
