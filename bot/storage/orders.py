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

import aiosqlite

from bot.storage.db import Database
from bot.trading.intents import Intent

_COLS = (
    "o.id, o.intent_id, o.user_id, o.chain, o.factory, o.index_symbol, o.side, o.nonce, o.amount_in, o.requested_at, "
    "o.requested_block, o.expected_at, o.state, o.amount_out, o.price, o.cancel_intent, o.settled_at, "
    "i.address, i.platform, i.chat_id, i.message_ref, i.params"
)
_FROM = "FROM issuance_orders o JOIN intents i ON i.id = o.intent_id"


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


def _order(r: aiosqlite.Row) -> Order:
    return Order(
        int(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]), int(r[7]), int(r[8]), int(r[9]),
        int(r[10]), None if r[11] is None else int(r[11]), str(r[12]), None if r[13] is None else int(r[13]),
        None if r[14] is None else int(r[14]), None if r[15] is None else int(r[15]), None if r[16] is None else int(r[16]),
        str(r[17]), str(r[18]), str(r[19]), r[20], json.loads(r[21]),
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
        async with self._db.transaction() as tx:
            return await tx.execute(
                """INSERT OR IGNORE INTO issuance_orders (intent_id, user_id, chain, factory, index_symbol, side, nonce,
                       amount_in, requested_at, requested_block, expected_at, state)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')""",
                (intent.id, intent.user_id, params["chain"], params["factory"], params["index"], intent.kind, int(res["nonce"]),
                 str(params["amount_in"]), int(res["requested_at"]), int(res["block"]), res.get("expected_at")),
            ) > 0

    async def unrecorded(self) -> list[int]:
        """Mined request intents with no order row (a crash came between the receipt and the row)."""
        rows = await self._db.fetch_all(
            """SELECT i.id FROM intents i LEFT JOIN issuance_orders o ON o.intent_id = i.id
               WHERE i.kind IN ('issue', 'redeem') AND i.state = 'mined' AND o.id IS NULL ORDER BY i.id"""
        )
        return [int(r[0]) for r in rows]

    async def get(self, order_id: int) -> Order | None:
        row = await self._db.fetch_one(f"SELECT {_COLS} {_FROM} WHERE o.id = ?", (order_id,))
        return None if row is None else _order(row)

    async def pending(self) -> list[Order]:
        return [_order(r) for r in await self._db.fetch_all(f"SELECT {_COLS} {_FROM} WHERE o.state = 'pending' ORDER BY o.id")]

    async def of_user(self, user_id: int, limit: int = 10) -> list[Order]:
        """The user's pending orders, then the latest settled ones, newest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLS} {_FROM} WHERE o.user_id = ? ORDER BY o.state != 'pending', o.id DESC LIMIT ?", (user_id, limit)
        )
        return [_order(r) for r in rows]

    async def cancelling(self, order_id: int, intent_id: int, before: int | None) -> bool:
        """Mark the order as being cancelled by `intent_id`, if `before` is still its cancellation (compare-and-set:
        of two Cancel presses one wins)."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                """UPDATE issuance_orders SET cancel_intent = ?
                   WHERE id = ? AND state = 'pending' AND cancel_intent IS ?""", (intent_id, order_id, before),
            ) > 0

    async def settle(self, order_id: int, state: str, amount_out: int | None = None, price: int | None = None) -> bool:
        """pending -> filled | cancelled, once."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                """UPDATE issuance_orders SET state = ?, amount_out = ?, price = ?, settled_at = ?
                   WHERE id = ? AND state = 'pending'""",
                (state, None if amount_out is None else str(amount_out), None if price is None else str(price),
                 int(self._clock()), order_id),
            ) > 0
