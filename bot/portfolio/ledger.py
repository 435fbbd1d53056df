"""The ledger's writer: a mined intent becomes a fill, once.

Each kind that fills something registers a `FillReader` (the composition root passes the mapping: `buy` and `sell`
read a swap); the ledger asks the mapping for the intent's kind and never tests kinds itself. `on_mined` is one of
the pipeline's mined hooks (bot.trading.follow, where every outcome is settled); `sweep` at start-up records the
mined intents a crash kept from their fill. The row is unique per intent, so settling twice records once.

What was received is what the receipt's Transfer events of the index's own token or the stablecoin said (read by
the kind when it settled, bot.trading.swap.transferred); nothing here is signed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.portfolio.fill import Fill
from bot.portfolio.pnl import IndexPnl, pnl_of
from bot.portfolio.prices import BTC, IndexPrices
from bot.storage.fills import FillRows
from bot.storage.intents import IntentRows
from bot.storage.orders import Order
from bot.trading.intents import Intent
from bot.trading.params import SwapParams, from_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stamp:
    """When a fill is recorded: BTC's price then (None: unpriced) and the time."""

    btc_usd: Decimal | None
    at: int


FillReader = Callable[[Intent, Stamp], Fill | None]
BtcPrice = Callable[[], Awaitable[Decimal | None]]


def swap_fill(intent: Intent, stamp: Stamp) -> Fill | None:
    """A mined buy or sell: the amount in as quoted and signed, the amount out from the receipt's Transfer events."""
    result = intent.result or {}
    if "received" not in result:
        return None
    params = from_json(SwapParams, intent.params)
    received = int(result["received"])
    fill = Fill(
        intent.id, intent.user_id, intent.chain_id, intent.kind, params.index, params.symbol_in, params.amount_in,
        params.decimals_in, params.symbol_out, received, params.decimals_out, Decimal(0),
        int(intent.params.get("pool_fee", 0)), Decimal(str(result.get("gas_usd", "0"))), stamp.btc_usd,
        str(result.get("tx_hash", "")), int(result.get("block", 0)), stamp.at, wallet=intent.address,
    )
    price = fill.usd / fill.tokens if fill.tokens else Decimal(0)
    return Fill(**{**fill.__dict__, "price_usd": price})


class FillLedger:
    def __init__(self, rows: FillRows, readers: Mapping[str, FillReader], btc_usd: BtcPrice,
                 clock: Callable[[], float], chain_ids: Mapping[str, int] | None = None) -> None:
        self.rows = rows
        self._chain_ids = dict(chain_ids or {})  # a profile's name -> its chain id (a factory order names its chain)
        self._readers = dict(readers)
        self._btc_usd = btc_usd
        self._clock = clock

    @property
    def kinds(self) -> tuple[str, ...]:
        """The intent kinds that fill something (a mined one without its fill is not settled for the ledger yet)."""
        return tuple(self._readers)

    async def stamp(self) -> Stamp:
        """BTC's price now (None when unreadable) and the time: what every fill recorded now carries."""
        try:
            btc = await self._btc_usd()
        except Exception:  # noqa: BLE001 - an unreadable price leaves the comparison out, never the fill
            log.warning("BTC price unreadable: a fill is recorded without it", exc_info=True)
            btc = None
        return Stamp(btc, int(self._clock()))

    async def on_mined(self, intent: Intent) -> None:
        """The pipeline's mined hook: the intent's fill, if its kind fills something."""
        await self.record(intent)

    async def record(self, intent: Intent) -> bool:
        """Record the fill of a mined intent whose kind fills something; True when this call recorded it."""
        reader = self._readers.get(intent.kind)
        if reader is None:
            return False
        fill = reader(intent, await self.stamp())
        return fill is not None and await self.rows.record(fill)

    async def order_filled(self, order: Order, amount_out: int, price_e18: int, tx_hash: str, gas_usd: Decimal,
                           block: int) -> None:
        """A factory filled an issuance or redemption request (bot.issuance.orders' filled hook): a fill keyed by the
        request's intent, at the factory's price, at the block of the factory's fill (its event's); the gas is the
        request's. Factories charge no pool fee (0)."""
        stamp = await self.stamp()
        price = Decimal(price_e18).scaleb(-18)
        await self.rows.record(Fill(
            order.intent_id, order.user_id, int(order.params.get("chain_id", 0)) or self._chain_ids.get(order.chain, 0),
            order.side, order.index, order.symbol_in, order.amount_in, order.decimals_in, order.symbol_out, amount_out,
            order.decimals_out, price, 0, gas_usd, stamp.btc_usd, tx_hash, block, stamp.at, wallet=order.address,
        ))

    async def pnl_now(self, prices: IndexPrices, user_id: int) -> dict[str, IndexPnl]:
        """Each index the user filled, at its price now (bot.portfolio.prices: a pool index's in the market's read, a
        factory's index at its NAV), with BTC's price now from the same read; {} when the user has no fill."""
        fills = await self.rows.all(user_id)
        if not fills:
            return {}
        now = await prices.now()
        return pnl_of(fills, now.indexes, now.btc)

    async def sweep(self, intents: IntentRows) -> int:
        """Fills for mined intents that have none (a crash between the outcome and its fill); how many."""
        recorded = 0
        for intent_id in await self.rows.unrecorded(self.kinds):
            intent = await intents.get(intent_id)
            if intent is not None and await self.record(intent):
                recorded += 1
        return recorded
