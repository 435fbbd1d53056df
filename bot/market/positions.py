"""Staking positions and SOSO boost of an address, read from the chain in one Multicall3 round trip.

`PositionReader.read(address)` sends one `eth_call` holding the market state (block, time, every index's NAV
inputs; see `Market.snapshot_with`), every balance (`BalanceReader.calls`), and per staking token (each
index's and sSOSO) `cooldownInfos(address)`, `cooldown()` and `paused()`; SOSO is priced by the market's read of
the profile's SOSO feed, when it has one. Nothing comes from the bot's own bookkeeping: what it returns is what the contracts will do.

`paused()` is not part of the protocol's StakeToken interface everywhere: a failed call means "unknown"
(`paused=None`), never "paused". Claimable is the cooling amount once its end time is at or before the
block's timestamp, else 0 (the contract's `withdraw` rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.chain import protocol as p
from bot.market.balances import BalanceReader, Balances
from bot.points.boost import BoostTable, Level, level_for, multiplier, next_level, soso_needed
from bot.chain.client import Call, Result
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.market.quotes import Market, Snapshot
from bot.chain.profile import Profile, TokenRef


@dataclass(frozen=True)
class Position:
    """One asset and its staking token: amounts in whole tokens, `price` in USD per token (None: unpriced)."""

    symbol: str  # the asset: an index symbol or SOSO
    staking_symbol: str | None  # None: the asset has no staking token
    held: Decimal
    staked: Decimal
    cooling: Decimal
    cooling_ends_at: int | None  # unix time; None when nothing is cooling down
    claimable: Decimal
    cooldown_seconds: int | None  # the staking token's cooldown() now (what a new unstake would get)
    paused: bool | None  # None: the token has no readable paused()
    price: Decimal | None
    locked: Decimal = Decimal(0)  # of `staked`, what lockers hold (staked - getAvailableBalance); 0 without locks
    factory: bool = False  # issued by a factory (venue "issuance"): `price` is its NAV per token (bot.portfolio.issued)
    redeeming: Decimal = Decimal(0)  # a factory's index: what pending redemptions hold in the factory, still the user's

    def usd(self, amount: Decimal) -> Decimal | None:
        return None if self.price is None else amount * self.price

    @property
    def cooling_down(self) -> Decimal:
        """What is cooling and not yet claimable."""
        return self.cooling - self.claimable


@dataclass(frozen=True)
class Boost:
    """The SOSO boost: `ratio` = staked SOSO value / index value (held + staked), None when it cannot be told."""

    soso_staked: Decimal
    soso_price: Decimal | None  # None: no SOSO price feed (or it answered nothing) — never guessed
    soso_usd: Decimal | None
    index_usd: Decimal
    ratio: Decimal | None
    level: Level | None
    next: Level | None
    soso_to_next: Decimal | None  # more SOSO to stake to reach `next`; None when unpriced or at the top

    @property
    def priced(self) -> bool:
        return self.soso_price is not None


@dataclass(frozen=True)
class Positions:
    address: str
    block: int
    timestamp: int  # the block's
    indexes: tuple[Position, ...]
    soso: Position | None
    boost: Boost
    balances: Balances


class PositionReader:
    def __init__(self, profile: Profile, market: Market, balances: BalanceReader, table: BoostTable) -> None:
        self._profile = profile
        self._market = market
        self._balances = balances
        self.table = table
        self._stakes: list[tuple[str, TokenRef, TokenRef]] = [
            (ref.symbol, ref.token, ref.staking) for ref in profile.indexes if ref.staking is not None and ref.venue == "pool"
        ]
        if profile.soso is not None and profile.soso_staking is not None:
            self._stakes.append((profile.soso.symbol, profile.soso, profile.soso_staking))

    def _stake_calls(self, address: str) -> list[Call]:
        calls = []
        for _, _, staking in self._stakes:
            calls += [
                Call(staking.address, p.COOLDOWN_INFOS, (address,)),
                Call(staking.address, p.COOLDOWN),
                Call(staking.address, p.PAUSED),
                Call(staking.address, p.GET_AVAILABLE_BALANCE, (address,)),
            ]
        return calls

    async def read(self, address: str) -> Positions:
        """Everything above for `address`, at one block, in one round trip."""
        return (await self.read_many((address,)))[0]

    async def read_many(self, addresses: Sequence[str]) -> list[Positions]:
        """`read` of each address, all at one block in one round trip (transfer detection's periodic sweep)."""
        per = [[*self._balances.calls(a), *self._stake_calls(a)] for a in addresses]
        snap, results = await self._market.snapshot_with([c for calls in per for c in calls])
        got, at = [], 0
        for address, calls in zip(addresses, per, strict=True):
            got.append(self._positions(address, snap, results[at:at + len(calls)]))
            at += len(calls)
        return got

    def _positions(self, address: str, snap: Snapshot, results: Sequence[Result]) -> Positions:
        n = len(self._balances.calls(address))
        balances = self._balances.value(address, snap.block, results[:n], snap)
        it = iter(results[n:])
        stakes: dict[str, tuple[Result, Result, Result, Result]] = {
            sym: (next(it), next(it), next(it), next(it)) for sym, _, _ in self._stakes}
        soso_price = snap.prices.get(self._profile.soso.symbol) if self._profile.soso is not None else None  # the market's feed read
        prices: dict[str, Decimal | None] = {s: st.price for s, st in snap.indexes.items()}  # pool price while partial
        if self._profile.soso is not None:
            prices[self._profile.soso.symbol] = soso_price

        def position(symbol: str, token: TokenRef, staking: TokenRef | None) -> Position:
            held = balances.of(token.symbol).amount
            if staking is None:
                return Position(symbol, None, held, Decimal(0), Decimal(0), None, Decimal(0), None, None, prices.get(symbol))
            info, cooldown, paused, available = stakes[symbol]
            if not info.ok or not cooldown.ok:
                raise UserError("error.chain.unreadable", index=staking.symbol)
            cooling_units, ends_at = (int(v) for v in info.values)
            cooling = from_base_units(cooling_units, token.decimals)
            staked = balances.of(staking.symbol).amount
            free = from_base_units(int(available.one()), staking.decimals) if available.ok else staked  # no locks: all
            return Position(
                symbol, staking.symbol, held, staked, cooling,
                ends_at if cooling_units else None,
                cooling if cooling_units and ends_at <= snap.timestamp else Decimal(0),
                int(cooldown.one()), bool(paused.one()) if paused.ok else None, prices.get(symbol),
                max(staked - free, Decimal(0)),
            )

        indexes = tuple(position(ref.symbol, ref.token, ref.staking) for ref in self._profile.indexes if ref.venue == "pool")
        soso = None
        if self._profile.soso is not None:
            soso = position(self._profile.soso.symbol, self._profile.soso, self._profile.soso_staking)
        return Positions(address, snap.block, snap.timestamp, indexes, soso, self._boost(indexes, soso, soso_price), balances)

    def _boost(self, indexes: tuple[Position, ...], soso: Position | None, price: Decimal | None) -> Boost:
        index_usd = sum((pos.usd(pos.held + pos.staked) or Decimal(0) for pos in indexes), Decimal(0))
        staked = soso.staked if soso is not None else Decimal(0)
        return boost_of(self.table, staked, price, index_usd)


def boost_of(table: BoostTable, soso_staked: Decimal, soso_price: Decimal | None, index_usd: Decimal) -> Boost:
    """The boost that `soso_staked` SOSO at `soso_price` gives against `index_usd` of index holdings."""
    if soso_price is None:
        return Boost(soso_staked, None, None, index_usd, None, None, None, None)
    soso_usd = soso_staked * soso_price
    ratio = soso_usd / index_usd if index_usd > 0 else None
    level = level_for(table, ratio)
    upcoming = next_level(table, level)
    needed = soso_needed(upcoming, index_usd, soso_usd, soso_price) if upcoming is not None and index_usd > 0 else None
    return Boost(soso_staked, soso_price, soso_usd, index_usd, ratio, level, upcoming, needed)


def points_effect(positions: Positions, table: BoostTable, symbol: str, kind: str, amount: Decimal | None) -> dict[str, str]:
    """What a stake or unstake of `amount` (None: all) `symbol` does to the daily points, as intent params.

    An index stake moves tokens from the held to the staked multiplier, both with the user's current boost
    (`held_x`, `staked_x`, `level`); a SOSO stake or unstake changes the boost level (`level_from`, `level_to`;
    "0" for none), left out when SOSO has no price. Values are strings so they survive the intent's JSON.
    """
    boost = positions.boost
    level = boost.level
    soso = positions.soso
    if soso is None or symbol != soso.symbol:
        return {"held_x": str(multiplier(table, symbol, "held", level)), "staked_x": str(multiplier(table, symbol, "staked", level)),
                "level": str(level.number if level else 0), "boost_x": str(level.boost if level else 1)} if kind == "stake" else {}
    if not boost.priced or kind not in ("stake", "unstake"):
        return {}
    moved = amount if amount is not None else (soso.held if kind == "stake" else soso.staked)
    staked = boost.soso_staked + moved if kind == "stake" else max(Decimal(0), boost.soso_staked - moved)
    after = boost_of(table, staked, boost.soso_price, boost.index_usd).level
    return {"level_from": str(level.number if level else 0), "level_to": str(after.number if after else 0)}
