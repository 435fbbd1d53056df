"""The `order` kind: a limit, stop-loss or take-profit order's execution, one swap through the index's pool.

It is a buy or sell like any (bot.trading.swap: a fresh quote at Confirm, refused beyond the user's slippage, an
exact approval when short), whose params also name the order and its trigger (`order_id`, `trigger_block`), so the
ledger records it as the buy or sell it is and its outcome names the order. Registered by the composition root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.core.messages import Msg, Usd
from bot.portfolio.fill import Fill
from bot.portfolio.ledger import Stamp, swap_fill
from bot.trading.intents import Intent
from bot.trading.kinds import Kind
from bot.trading.params import SwapParams
from bot.trading.swap import Swap


@dataclass(frozen=True)
class OrderSwapParams(SwapParams):
    """A swap's params and the order that triggered it."""

    order_id: int
    trigger_block: int


def as_swap(intent: Intent) -> Intent:
    """The order's intent as the buy or sell it executes."""
    return replace(intent, kind=str(intent.params["side"]))


class OrderSwap(Swap):
    owner_tells = True  # the order book tells the trigger and its outcome once (outbox key `limits:<id>`)

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        title = Msg("limits.mined", {"id": int(intent.params["order_id"])})
        return [title, *super().told(as_swap(intent), result, fee)]

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        return frozenset({"limits.mined", "trade.mined.buy", "trade.mined.sell"})


def order_fill(intent: Intent, stamp: Stamp) -> Fill | None:
    """The ledger's record of an order's execution: the buy or sell it was (bot.portfolio.ledger.swap_fill)."""
    return swap_fill(as_swap(intent), stamp)
