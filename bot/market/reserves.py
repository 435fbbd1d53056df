"""Proof of reserves: what each index token's contract says it holds (`getBasket()`) against what its holders are
owed (total supply × tokenset, the tokenset being per 1e8 units = per whole token), per constituent and in USD.

Everything comes from one Multicall3 `eth_call` at one block (`Market.snapshot_with`): the tokenset, `rebalancing()`
and the constituents' prices that every snapshot reads, plus each index's `getBasket()`, `totalSupply()`, `fee()`,
`feeDecimals()` and `lastCollectTimestamp()`. Amounts stay integers in base units; ratios and USD are Decimals.

The daily fee is not a shortfall. The fee manager's `collectFeeTokenset()` takes the fee out of the basket and shrinks
the tokenset by it about once a day, so between two collections the basket may be short of the tokenset by the
fee accrued since the last one (the day running plus any whole day not yet collected). That part is named as the
fee's (`fee_explains`); only a backing below 100 % by more than it is `short` (what the reserves alert tells).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.chain import protocol as p
from bot.chain.client import Call, Fn, Result
from bot.chain.profile import IndexRef
from bot.market.fees import DEFAULT_FEE_DECIMALS, FEE, FEE_DECIMALS, DailyFee
from bot.market.quotes import Market, Snapshot

LAST_COLLECT = Fn("lastCollectTimestamp()", "uint256")
INDEX_UNIT = 10**8  # the tokenset is per 1e8 index units: one whole token
DAY = 86400
_READS = (p.GET_BASKET, p.TOTAL_SUPPLY, FEE, FEE_DECIMALS, LAST_COLLECT)


@dataclass(frozen=True)
class Holding:
    """One constituent: what the basket holds and what the supply is owed, in its base units."""

    symbol: str
    decimals: int
    held: int  # getBasket() amount
    owed: int  # totalSupply × tokenset amount / 1e8
    price: Decimal | None  # USD per whole unit at the block; None: no fresh price

    @property
    def held_units(self) -> Decimal:
        return Decimal(self.held).scaleb(-self.decimals)

    @property
    def owed_units(self) -> Decimal:
        return Decimal(self.owed).scaleb(-self.decimals)

    @property
    def backing(self) -> Decimal | None:
        """held / owed; None when nothing is owed (a constituent held beyond the tokenset)."""
        return Decimal(self.held) / Decimal(self.owed) if self.owed else None


@dataclass(frozen=True)
class Reserves:
    index: str
    block: int
    timestamp: int
    supply: int  # index base units (8 decimals)
    holdings: tuple[Holding, ...]
    rebalancing: bool
    fee: DailyFee | None  # None: the token has no readable fee()
    last_collect: int | None  # lastCollectTimestamp(); None: not readable

    @property
    def unpriced(self) -> tuple[str, ...]:
        return tuple(h.symbol for h in self.holdings if h.price is None)

    @property
    def held_usd(self) -> Decimal:
        return sum((h.held_units * h.price for h in self.holdings if h.price is not None), Decimal(0))

    @property
    def owed_usd(self) -> Decimal:
        return sum((h.owed_units * h.price for h in self.holdings if h.price is not None), Decimal(0))

    @property
    def backing(self) -> Decimal | None:
        """Held against owed in USD over the priced constituents; None when nothing is owed (no supply)."""
        owed = self.owed_usd
        return self.held_usd / owed if owed else None

    @property
    def fee_days(self) -> int:
        """Days of fee the basket may already have paid that the tokenset does not show yet: the day running and
        every whole day since the last collection."""
        if self.last_collect is None:
            return 1
        return max(0, self.timestamp - self.last_collect) // DAY + 1

    @property
    def fee_explains(self) -> Decimal:
        """The fraction of the owed basket the fee accrued since the last collection accounts for."""
        if self.fee is None:
            return Decimal(0)
        return 1 - (1 - self.fee.rate) ** self.fee_days

    @property
    def gap(self) -> Decimal:
        """How far backing is below 100 % (0 at or above)."""
        backing = self.backing
        return max(Decimal(0), 1 - backing) if backing is not None else Decimal(0)

    @property
    def short(self) -> bool:
        """Backed below 100 % by more than the fee explains (what the reserves alert tells holders)."""
        return self.gap > self.fee_explains


def reserve_calls(refs: Sequence[IndexRef]) -> list[Call]:
    return [Call(ref.token.address, fn) for ref in refs for fn in _READS]


def _key(chain: str, symbol: str, addr: str) -> tuple[str, str, str]:
    return chain, symbol, addr.lower()


def reserves_of(ref: IndexRef, snap: Snapshot, results: Sequence[Result]) -> Reserves | None:
    """One index's reserves from its five results; None when its contract has no getBasket() (not an SSI token)."""
    basket_res, supply_res, fee_res, decimals_res, last_res = results
    if not basket_res.ok or not supply_res.ok:
        return None
    state = snap.indexes[ref.symbol]
    supply = int(supply_res.one())
    held = {_key(str(c), str(s), str(a)): (str(s), int(d), int(n)) for c, s, a, d, n in basket_res.one()}
    holdings: list[Holding] = []
    for entry in state.tokenset:
        key = _key(entry.chain, entry.symbol, entry.addr)
        _, _, amount = held.pop(key, (entry.symbol, entry.decimals, 0))
        holdings.append(Holding(entry.symbol, entry.decimals, amount, supply * entry.amount // INDEX_UNIT,
                                snap.prices.get(entry.symbol)))
    for symbol, decimals, amount in held.values():  # held beyond the tokenset (e.g. mid-rebalance)
        holdings.append(Holding(symbol, decimals, amount, 0, snap.prices.get(symbol)))
    fee = None
    if fee_res.ok:
        places = int(decimals_res.one()) if decimals_res.ok else DEFAULT_FEE_DECIMALS
        fee = DailyFee(Decimal(int(fee_res.one())).scaleb(-places))
    last = int(last_res.one()) if last_res.ok else None
    return Reserves(ref.symbol, snap.block, snap.timestamp, supply, tuple(holdings), state.rebalancing, fee, last)


class ReserveReader:
    """Every pool index's reserves, read together at the newest block."""

    def __init__(self, market: Market) -> None:
        self._market = market

    @property
    def indexes(self) -> tuple[IndexRef, ...]:
        return self._market.indexes

    async def read(self) -> dict[str, Reserves | None]:
        """index symbol -> its reserves at one block (None: its contract has no basket to read)."""
        refs = self._market.indexes
        snap, results = await self._market.snapshot_with(reserve_calls(refs))
        n = len(_READS)
        return {ref.symbol: reserves_of(ref, snap, results[i * n:(i + 1) * n]) for i, ref in enumerate(refs)}
