"""Each index's daily fee, read from its AssetToken: `fee()` is a daily rate with `feeDecimals()` decimals (8).

The protocol's fee manager collects it about once a day (`collectFeeTokenset()`), shrinking every tokenset amount
by the rate: NAV per token drifts down by it, which is neither a rebalance nor a price move (bot/delivery/alerts/rebalance.py
tells nobody about it). /indexes shows the rate and what it comes to over a year, compounded daily. The reads for
every index go in one Multicall3 `eth_call`, kept for the block they were read at.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.chain.client import Call, Chain, Fn
from bot.chain.profile import Profile

FEE = Fn("fee()", "uint256")
FEE_DECIMALS = Fn("feeDecimals()", "uint256")
DEFAULT_FEE_DECIMALS = 8  # the protocol's constant, for a token whose feeDecimals() cannot be read


@dataclass(frozen=True)
class DailyFee:
    rate: Decimal  # a fraction per day (0.0000411 = 0.00411 % a day)

    @property
    def yearly(self) -> Decimal:
        """What 365 daily collections take from the basket together."""
        return 1 - (1 - self.rate) ** 365


class IndexFees:
    def __init__(self, chain: Chain, profile: Profile) -> None:
        self._chain = chain
        self._tokens = {ref.symbol: ref.token.address for ref in profile.indexes if ref.venue == "pool"}
        self._cached: tuple[int, dict[str, DailyFee]] | None = None

    async def at(self, block: int) -> dict[str, DailyFee]:
        """index symbol -> its daily fee at `block`; an index whose fee() cannot be read is left out."""
        if self._cached is not None and self._cached[0] == block:
            return self._cached[1]
        calls = [c for address in self._tokens.values() for c in (Call(address, FEE), Call(address, FEE_DECIMALS))]
        results = await self._chain.multicall(calls, block=block)
        fees: dict[str, DailyFee] = {}
        for i, symbol in enumerate(self._tokens):
            fee, decimals = results[2 * i], results[2 * i + 1]
            if fee.ok:
                places = int(decimals.one()) if decimals.ok else DEFAULT_FEE_DECIMALS
                fees[symbol] = DailyFee(Decimal(int(fee.one())).scaleb(-places))
        self._cached = (block, fees)
        return fees
