"""What an address holds, valued in USD: one Multicall3 round trip for every balance.

ETH (Multicall3.getEthBalance), USDC, each index token, each staking token, SOSO and sSOSO are read in one
`eth_call`, together with the block number. Values come from the market snapshot at that block: index tokens
and their staked forms at the index's NAV (staking is 1:1), USDC at $1, ETH at the chain's native price feed.
SOSO (and sSOSO, 1:1) at the profile's SOSO feed when it has one; without one its amount is shown without a USD
value and left out of the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, Result
from bot.core.amounts import from_base_units
from bot.market.quotes import Market, Snapshot
from bot.chain.profile import Profile

Kind = Literal["native", "stable", "index", "staked", "soso", "staked_soso"]
ETH_DECIMALS = 18


@dataclass(frozen=True)
class Holding:
    symbol: str
    kind: Kind
    units: int  # base units, as read
    amount: Decimal
    usd: Decimal | None  # None: no price for it
    chain: str | None = None  # the chain's label when it is not the home chain's (ETH and USDC on Ethereum)


@dataclass(frozen=True)
class Balances:
    address: str
    block: int
    holdings: tuple[Holding, ...]

    @property
    def total_usd(self) -> Decimal:
        return sum((h.usd for h in self.holdings if h.usd is not None), Decimal(0))

    @property
    def unpriced(self) -> tuple[Holding, ...]:
        return tuple(h for h in self.holdings if h.usd is None and h.units)

    def of(self, symbol: str) -> Holding:
        return next(h for h in self.holdings if h.symbol == symbol)


@dataclass(frozen=True)
class _Slot:
    symbol: str
    kind: Kind
    decimals: int
    index: str | None = None  # whose NAV prices it


class BalanceReader:
    def __init__(self, profile: Profile, chain: Chain, market: Market, chain_label: str | None = None) -> None:
        """`chain_label`: the holdings are on a chain other than the home chain's, and say so."""
        self._profile = profile
        self._chain = chain
        self._market = market
        self._label = chain_label
        self._slots = self._layout()

    @property
    def profile(self) -> Profile:
        return self._profile

    def _layout(self) -> list[tuple[_Slot, str | None]]:
        """(what, ERC-20 address) in reading order; None = the native coin."""
        prof = self._profile
        slots: list[tuple[_Slot, str | None]] = [
            (_Slot("ETH", "native", ETH_DECIMALS), None),
            (_Slot(prof.usdc.symbol, "stable", prof.usdc.decimals), prof.usdc.address),
        ]
        pool = [ref for ref in prof.indexes if ref.venue == "pool"]  # issued indexes: bot.issuance.venue.holdings
        for ref in pool:
            slots.append((_Slot(ref.symbol, "index", ref.token.decimals, ref.symbol), ref.token.address))
        for ref in pool:
            if ref.staking is not None:
                slots.append((_Slot(ref.staking.symbol, "staked", ref.staking.decimals, ref.symbol), ref.staking.address))
        if prof.soso is not None:
            slots.append((_Slot(prof.soso.symbol, "soso", prof.soso.decimals), prof.soso.address))
        if prof.soso_staking is not None:
            slots.append((_Slot(prof.soso_staking.symbol, "staked_soso", prof.soso_staking.decimals), prof.soso_staking.address))
        return slots

    def calls(self, address: str) -> list[Call]:
        """The balance reads of `address`, in `slots` order, for a caller that batches them with more reads."""
        return [Call(self._profile.multicall3, p.GET_ETH_BALANCE, (address,)) if token is None else Call(token, p.BALANCE_OF, (address,)) for _, token in self._slots]

    def value(self, address: str, block: int, results: Sequence[Result], snap: Snapshot) -> Balances:
        """`results` of `calls(address)`, valued with `snap` (read at `block`)."""
        eth_usd = snap.prices.get(self._profile.native_feed_symbol)
        holdings = []
        for (slot, _), res in zip(self._slots, results, strict=True):
            units = int(res.one()) if res.ok else 0
            amount = from_base_units(units, slot.decimals)
            price: Decimal | None = None
            if slot.kind == "stable":
                price = Decimal(1)
            elif slot.kind == "native":
                price = eth_usd
            elif slot.index is not None and slot.index in snap.indexes:
                price = snap.indexes[slot.index].price  # NAV, or the pool price while the NAV is partial
            elif slot.kind in ("soso", "staked_soso") and self._profile.soso is not None:
                price = snap.prices.get(self._profile.soso.symbol)  # None on a chain without a SOSO feed
            holdings.append(Holding(slot.symbol, slot.kind, units, amount, amount * price if price is not None else None,
                                    self._label))
        return Balances(address, block, tuple(holdings))

    async def read(self, address: str) -> Balances:
        """Every balance of `address` at the newest block, in one round trip, then valued at that block."""
        results = await self._chain.multicall([Call(self._profile.multicall3, p.BLOCK_NUMBER), *self.calls(address)])
        block = int(results[0].one())
        self._market.head.observe(block)  # so the snapshot below is read at (or cached for) this block
        snap = await self._market.snapshot()
        return self.value(address, block, results[1:], snap)
