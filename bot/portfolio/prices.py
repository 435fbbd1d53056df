"""The price per token an index is valued at, for its value and its PnL: the one place /positions, /pnl, the PnL card,
inline shares and the daily digest take it from.

- An index traded in a pool: its price in the market's read (NAV per token, or the pool price while NAV is partial),
  as /positions has always valued it (`pool_prices`).
- An index a factory issues (venue "issuance", MAG7.nex): its factory's NAV per token, read on its own chain
  (`nav_price`: the factory's state, bot.issuance.venue.Issuance.state, what /wallet and transfer detection value it
  at). A factory that cannot be read, or prices it at nothing, leaves that index without a price (logged): its card
  says "no price", and every other index is priced as ever.

`IndexPrices.now` reads them all: one market snapshot of the home chain and one factory read per issued index (each
cached for its block, bot.issuance.factory), with BTC's price for the comparison from the same snapshot. A view that
already read a wallet's holdings (/positions) takes its prices from those reads instead (`read_prices`): the same
rules, the same block as the amounts shown, no second read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from bot.chain.profile import IndexRef
from bot.issuance.venue import Issuance
from bot.market.quotes import Market, Snapshot

log = logging.getLogger(__name__)

BTC = "BTC"  # the price symbol the "held in BTC" comparison reads (a constituent of MAG7, priced by the market's sources)


@dataclass(frozen=True)
class Prices:
    """USD per token of each priced index (an unpriced one is absent), and BTC's price now (None: unpriced)."""

    indexes: dict[str, Decimal]
    btc: Decimal | None


def pool_prices(snap: Snapshot) -> dict[str, Decimal]:
    """Each pool index the market's read prices: NAV per token, or the pool price while NAV is partial."""
    return {symbol: state.price for symbol, state in snap.indexes.items() if state.price is not None}


async def nav_price(issuance: Issuance, ref: IndexRef) -> Decimal | None:
    """USD per token of a factory-issued index at its factory's NAV; None when the factory (or its chain) cannot be
    read, or prices it at nothing (logged)."""
    try:
        nav = (await issuance.state(ref)).nav
    except Exception:  # noqa: BLE001 - an unpriced index says so; the others go on
        log.warning("%s's factory unreadable on %s: it has no price now", ref.symbol, issuance.chain_of(ref).name,
                    exc_info=True)
        return None
    return nav if nav > 0 else None


class IndexPrices:
    def __init__(self, market: Market, issuance: Issuance) -> None:
        self._market = market
        self._issuance = issuance

    async def now(self) -> Prices:
        """Every index's price now: the pool indexes from one market snapshot, each issued index at its factory's NAV."""
        snap = await self._market.snapshot()
        prices = pool_prices(snap)
        for ref in self._issuance.indexes:
            price = await nav_price(self._issuance, ref)
            if price is not None:
                prices[ref.symbol] = price
        return Prices(prices, snap.prices.get(BTC))

    async def btc(self) -> Decimal | None:
        """BTC's price now, from the market's snapshot (cached for its block: a view's own read costs nothing more)."""
        return (await self._market.snapshot()).prices.get(BTC)

    async def read_prices(self, pool: Iterable[tuple[str, Decimal | None]],
                          issued: Iterable[tuple[str, Decimal | None]]) -> Prices:
        """The prices a view's own reads give ((symbol, price) of the pool indexes it read, of the issued indexes read
        on their chains), with BTC's now."""
        return Prices({s: p for s, p in (*pool, *issued) if p is not None}, await self.btc())
