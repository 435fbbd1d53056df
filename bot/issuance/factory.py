"""What an index factory holds and what a request to it would give: read from the chain, never assumed.

`FactoryReader.read` reads at one block: the list sizes, fee, supply and pending reindex; the current and next
constituents; then each constituent's market share, the factory's holding and its feed's latest answer (a token's
symbol, decimals and feed are read once and kept). Once an index's constituents are known, all of it goes in one
Multicall3 round trip, the lists read again beside what they name: when the lists read back are the ones asked
about, the read is whole; when a reindex changed them, the rest is read again for the new lists at that block (two
more round trips). A state read at the newest block the head tracker saw serves every quote until the next block.
NAV per index token is the holdings at feed prices over the supply (the factory's `initialPrice()` while nothing is
issued).

`quote` mirrors the factory: an issuance's fee is taken from the USDC paid in and the rest buys each
constituent by its market share, minting net / NAV index tokens; a redemption pays the tokens' value at NAV
less the fee. The request is filled later at the NAV of that moment, so the output is what is *expected*.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, HeadTracker, Result
from bot.core.amounts import from_base_units
from bot.chain.profile import IndexRef, Profile

Side = Literal["buy", "sell"]
FEE_DENOMINATOR = 10_000
PRICE_DECIMALS = 18  # the factory's prices: USD per index token with 18 decimals


@dataclass(frozen=True)
class Constituent:
    symbol: str
    address: str
    share: Decimal  # of the index, 0..1 (the factory's market share / 100e18)
    price: Decimal  # USD, from its feed
    held: Decimal  # units the factory holds for the index


@dataclass(frozen=True)
class FactoryState:
    index: IndexRef
    current: tuple[Constituent, ...]
    next: tuple[Constituent, ...]  # the constituents after a pending reindex (empty: none pending)
    reindex_at: int | None
    fee_rate: Decimal  # 0.001 = 0.1 %
    supply: Decimal  # index tokens outstanding
    nav: Decimal  # USD per index token
    block: int
    timestamp: int


@dataclass(frozen=True)
class Leg:
    """What a request buys or sells of one constituent, at today's prices."""

    symbol: str
    usd: Decimal
    units: Decimal


@dataclass(frozen=True)
class RequestQuote:
    index: str
    side: Side
    amount_in: Decimal  # USDC (buy) or index tokens (sell)
    fee: Decimal  # in USDC
    amount_out: Decimal  # expected index tokens (buy) or USDC (sell)
    nav: Decimal
    fee_rate: Decimal
    legs: tuple[Leg, ...]
    state: FactoryState


@dataclass(frozen=True)
class _Layout:
    """An index's constituents as last read: the current list and the next one (a pending reindex's)."""

    current: tuple[str, ...]
    next: tuple[str, ...]

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.current + self.next

    @property
    def unique(self) -> list[str]:
        return list(dict.fromkeys(self.addresses))

    @property
    def size(self) -> int:
        """How many list reads `list_calls` makes."""
        return len(self.addresses)

    @staticmethod
    def of_sizes(f: str, n_now: int, n_next: int) -> list[Call]:
        return [Call(f, p.CURRENT_LIST, (i,)) for i in range(n_now)] + [Call(f, p.ORACLE_LIST, (i,)) for i in range(n_next)]

    def list_calls(self, f: str) -> list[Call]:
        return self.of_sizes(f, len(self.current), len(self.next))

    def detail_calls(self, f: str, meta: dict[str, _Meta]) -> list[Call]:
        """Each constituent's market share (current, then next), the factory's holding and its feed's answer."""
        calls = [Call(f, p.CURRENT_SHARE, (a,)) for a in self.current] + [Call(f, p.ORACLE_SHARE, (a,)) for a in self.next]
        return (calls + [Call(a, p.BALANCE_OF, (f,)) for a in self.unique]
                + [Call(meta[a].feed, p.LATEST_ROUND) for a in self.unique])

    def read_back(self, n_now: int, n_next: int, rows: list[Result]) -> bool:
        """Whether the lists read beside the guess (`rows` starts with `list_calls`' answers) are these lists."""
        if (n_now, n_next) != (len(self.current), len(self.next)):
            return False
        return all(r.ok and str(r.one()) == a for r, a in zip(rows[: self.size], self.addresses, strict=True))


@dataclass(frozen=True)
class _Meta:
    symbol: str
    decimals: int
    feed: str
    feed_decimals: int


class FactoryReader:
    def __init__(self, profile: Profile, chain: Chain, head: HeadTracker | None = None) -> None:
        self.profile = profile
        self.chain = chain
        self.head = head  # with one, a state read at the newest block serves every read until the next block
        self._meta: dict[str, _Meta] = {}
        self._states: dict[str, FactoryState] = {}
        self._layouts: dict[str, _Layout] = {}  # by index symbol: the constituents the next read guesses

    def forget(self, meta: bool = True) -> None:
        """Drop the states read (and, with `meta`, the constituents' token metadata and lists): the next read asks
        again. The lists alone are only a guess the next read checks, as on a new block."""
        self._states.clear()
        if meta:
            self._meta.clear()
            self._layouts.clear()  # a guess names each constituent's feed from the metadata

    async def read(self, ref: IndexRef) -> FactoryState:
        fresh = self.head.fresh_head() if self.head is not None else None
        cached = self._states.get(ref.symbol)
        if fresh is not None and cached is not None and cached.block >= fresh:
            return cached
        state = await self._read(ref)
        self._states[ref.symbol] = state
        return state

    async def _read(self, ref: IndexRef) -> FactoryState:
        f, mc = ref.factory, self.profile.multicall3
        assert f is not None
        known = self._layouts.get(ref.symbol)
        head_calls = [
            Call(mc, p.BLOCK_NUMBER), Call(f, p.TOTAL_CURRENT_LIST), Call(f, p.TOTAL_ORACLE_LIST), Call(f, p.REINDEX_TIME),
            Call(f, p.FEE_RATE), Call(f, p.INITIAL_PRICE), Call(ref.token.address, p.TOTAL_SUPPLY), Call(mc, p.BLOCK_TIMESTAMP),
        ]
        guess = [*known.list_calls(f), *known.detail_calls(f, self._meta)] if known is not None else []
        rows = await self.chain.multicall(head_calls + guess)
        head, guessed = rows[: len(head_calls)], rows[len(head_calls):]
        block, n_now, n_next, reindex, fee, initial, supply, now = (_int(r) for r in head)  # the rest read at `block`
        if known is not None and known.read_back(n_now, n_next, guessed):
            layout, details = known, guessed[known.size:]
        else:  # first read, or a reindex changed the lists: read them, then what they name, at the same block
            lists = await self.chain.multicall(_Layout.of_sizes(f, n_now, n_next), block=block)
            addresses = [str(r.one()) for r in lists if r.ok]
            await self._learn(f, [a for a in addresses if a not in self._meta], block)
            layout = _Layout(tuple(addresses[:n_now]), tuple(addresses[n_now:]))
            details = await self.chain.multicall(layout.detail_calls(f, self._meta), block=block)
        self._layouts[ref.symbol] = layout
        return self._state(ref, layout, details, block, reindex, fee, initial, supply, now)

    def _state(self, ref: IndexRef, layout: _Layout, rows: list[Result], block: int, reindex: int, fee: int,
               initial: int, supply: int, now: int) -> FactoryState:
        addresses, unique = layout.addresses, layout.unique
        shares = [_int(r) for r in rows[: len(addresses)]]
        held = dict(zip(unique, (_int(r) for r in rows[len(addresses): len(addresses) + len(unique)]), strict=True))
        prices = {a: self._price(a, r) for a, r in zip(unique, rows[len(addresses) + len(unique):], strict=True)}

        def entry(a: str, share: int) -> Constituent:
            m = self._meta[a]
            return Constituent(m.symbol, a, Decimal(share) / p.SHARE_TOTAL, prices[a], from_base_units(held[a], m.decimals))

        n_now = len(layout.current)
        current = tuple(entry(a, s) for a, s in zip(layout.current, shares[:n_now], strict=True))
        following = tuple(entry(a, s) for a, s in zip(layout.next, shares[n_now:], strict=True))
        units = from_base_units(supply, ref.token.decimals)
        value = sum((c.held * c.price for c in current), Decimal(0))
        nav = value / units if units else from_base_units(initial, PRICE_DECIMALS)
        return FactoryState(ref, current, following, reindex or None, Decimal(fee) / FEE_DENOMINATOR, units, nav,
                            block, now)

    async def _learn(self, f: str, tokens: list[str], block: int) -> None:
        """Symbol, decimals and price feed of tokens not seen before; then each feed's decimals."""
        if not tokens:
            return
        rows = await self.chain.multicall(
            [c for a in tokens for c in (Call(a, p.SYMBOL), Call(a, p.DECIMALS), Call(f, p.PRICE_FEED_OF, (a,)))], block=block
        )
        feeds = [str(rows[3 * i + 2].one()) for i in range(len(tokens))]
        decimals = await self.chain.multicall([Call(feed, p.DECIMALS) for feed in feeds], block=block)
        for i, a in enumerate(tokens):
            self._meta[a] = _Meta(str(rows[3 * i].one()), _int(rows[3 * i + 1]), feeds[i], _int(decimals[i]))

    def _price(self, token: str, row: Result) -> Decimal:
        return from_base_units(int(row.values[1]), self._meta[token].feed_decimals) if row.ok else Decimal(0)

    async def quote(self, ref: IndexRef, side: Side, amount: Decimal) -> RequestQuote:
        return quote(await self.read(ref), side, amount, self.profile.usdc.decimals)


def quote(state: FactoryState, side: Side, amount: Decimal, usdc_decimals: int) -> RequestQuote:
    """What a request of `amount` (USDC to issue, index tokens to redeem) is expected to give at `state`."""
    cent = Decimal(1).scaleb(-usdc_decimals)
    if side == "buy":
        fee = (amount * state.fee_rate).quantize(cent, rounding="ROUND_FLOOR")
        net = amount - fee
        out = net / state.nav if state.nav else Decimal(0)
        legs = tuple(Leg(c.symbol, net * c.share, net * c.share / c.price if c.price else Decimal(0)) for c in state.current)
    else:
        value = amount * state.nav
        fee = (value * state.fee_rate).quantize(cent, rounding="ROUND_FLOOR")
        out = (value - fee).quantize(cent, rounding="ROUND_FLOOR")
        part = amount / state.supply if state.supply else Decimal(0)
        legs = tuple(Leg(c.symbol, c.held * part * c.price, c.held * part) for c in state.current)
    return RequestQuote(state.index.symbol, side, amount, fee, out, state.nav, state.fee_rate, legs, state)


def _int(row: Result) -> int:
    return int(row.one()) if row.ok else 0
