"""What an index holds, and what that is worth: the index engine's shared vocabulary.

A `TokensetEntry` mirrors the AssetToken contract's `Token` struct: `amount` of the constituent (in its own
base units, `decimals`) held per whole index token (1e8 units). NAV per index token is the sum over the
tokenset of amount / 10**decimals * price(symbol), priced from feeds, never from balances on Base.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class TokensetEntry:
    chain: str
    symbol: str
    addr: str
    decimals: int
    amount: int

    @property
    def units(self) -> Decimal:
        """Whole constituent units per whole index token."""
        return Decimal(self.amount).scaleb(-self.decimals)


class MissingPrice(KeyError):
    """A constituent has no price; NAV cannot be computed."""


def nav_per_token(tokenset: Sequence[TokensetEntry], prices: Mapping[str, Decimal]) -> Decimal:
    """USD value of one whole index token."""
    total = Decimal(0)
    for entry in tokenset:
        try:
            price = prices[entry.symbol]
        except KeyError as exc:
            raise MissingPrice(entry.symbol) from exc
        total += entry.units * price
    return total


def weights(tokenset: Sequence[TokensetEntry], prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Each constituent's share of NAV (sums to 1). A constituent without a price (a partial NAV: bot.market.quotes)
    is left out and the others share the NAV of the priced ones, so a past block read without one of its prices
    still gives the others' weights instead of failing for ever."""
    priced = [e for e in tokenset if e.symbol in prices]
    nav = nav_per_token(priced, prices)
    if nav == 0:
        return {e.symbol: Decimal(0) for e in priced}
    return {e.symbol: e.units * prices[e.symbol] / nav for e in priced}
