"""Live index state and quotes, one Multicall3 round trip each, cached per block.

A cold quote sends one `eth_call` holding everything it needs (block, time, base fee, the tokenset, the
constituents' on-chain price sources (Chainlink feeds, TWAP pools) and the sequencer feed, the pool's slot0 and
QuoterV2 for every pool of the index). When a symbol is priced by Pyth, the block's one Hermes request goes
out at the same time (bot.market.prices.hermes). A quote for the same thing in the same block, as known from the head
tracker, is served from memory with no RPC and no HTTP at all.

Each symbol takes the first fresh reading of its sources (bot.market.prices.book); an index with a constituent no
source prices has a partial NAV (`IndexState.unpriced`): it is shown as such, with the pool price alone.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Literal, TypeVar

from web3.exceptions import Web3RPCError

from bot.chain import protocol as p
from bot.chain.client import BlockId, Call, Chain, HeadTracker, Result
from bot.core.amounts import from_base_units, to_base_units
from bot.core.errors import UserError
from bot.core.messages import When
from bot.market.engine.basket import TokensetEntry, nav_per_token
from bot.market.prices import HermesAnswer, PriceBook, Priced, ReadContext, Reading, SequencerFeed, SequencerStatus
from bot.market.prices.book import Plan
from bot.market.prices.hermes import Hermes
from bot.chain.profile import IndexRef, Profile
from bot.chain.verify import ChainSetup, Pool

Side = Literal["buy", "sell"]
T = TypeVar("T")
Q96 = Decimal(2) ** 96


@dataclass(frozen=True)
class MarketSettings:
    swap_gas_overhead: int = 60_000  # SwapRouter02 multicall + transfers, on top of QuoterV2's swap estimate
    priority_fee_wei: int = 1_000_000  # 0.001 gwei, typical on Base
    max_price_age_seconds: int = 26 * 3600  # Chainlink heartbeat is 24 h on most Base feeds
    cache_entries: int = 2048


@dataclass(frozen=True)
class IndexState:
    symbol: str
    tokenset: tuple[TokensetEntry, ...]
    nav: Decimal  # USD per whole index token
    dex_price: Decimal | None  # USD per index token at the deepest pool's mid price
    pool_fee: int | None
    rebalancing: bool
    unpriced: tuple[str, ...] = ()  # constituents no source priced fresh: `nav` is then partial

    @property
    def partial(self) -> bool:
        return bool(self.unpriced)

    @property
    def premium(self) -> Decimal | None:
        return None if self.dex_price is None or not self.nav or self.partial else self.dex_price / self.nav - 1

    @property
    def price(self) -> Decimal | None:
        """What one index token is worth: its NAV, or while that is partial, the pool price alone."""
        return self.dex_price if self.partial else self.nav

    def weights(self, prices: dict[str, Decimal]) -> list[tuple[TokensetEntry, Decimal]]:
        """Each priced constituent's share of the (full or partial) NAV, largest first."""
        total = self.nav or Decimal(1)
        rows = [(e, e.units * prices[e.symbol] / total) for e in self.tokenset if e.symbol in prices]
        return sorted(rows, key=lambda r: r[1], reverse=True)


@dataclass(frozen=True)
class Snapshot:
    block: int
    timestamp: int
    basefee: int
    prices: dict[str, Decimal]
    oldest_price_at: int
    indexes: dict[str, IndexState]
    priced: Priced | None = None  # where each price came from, what was tried, the sequencer's status

    def stale(self, max_age: int) -> bool:
        """Some index's NAV is partial (a constituent has no fresh price), or a price is older than `max_age`."""
        return any(s.partial for s in self.indexes.values()) or self.timestamp - self.oldest_price_at > max_age

    @property
    def sequencer(self) -> SequencerStatus | None:
        return self.priced.sequencer if self.priced is not None else None

    def source(self, symbol: str) -> Reading | None:
        """The reading that priced `symbol` at this block, else the last one tried."""
        return self.priced.source(symbol) if self.priced is not None else None

    def sources_of(self, index: str) -> tuple[Reading, ...]:
        """Where each constituent of `index` got its price (or the last source tried), in tokenset order."""
        state = self.indexes[index]
        found = (self.source(e.symbol) for e in state.tokenset)
        return tuple(r for r in found if r is not None)

    def usd(self, symbol: str) -> Decimal:
        """A fresh price, else the last one any source gave (for what only needs an estimate: gas), else 0."""
        if symbol in self.prices:
            return self.prices[symbol]
        reading = self.source(symbol)
        return reading.price if reading is not None and reading.price is not None else Decimal(0)


@dataclass(frozen=True)
class Quote:
    index: str
    side: Side
    amount_in: Decimal  # USDC for a buy, index tokens for a sell
    amount_out: Decimal
    nav: Decimal
    dex_price: Decimal
    exec_price: Decimal  # USD paid or received per index token
    premium: Decimal  # exec price against NAV: + pays above NAV
    pool_fee: int
    price_impact: Decimal
    gas_units: int
    gas_usd: Decimal
    block: int
    timestamp: int
    prices_stale: bool
    basefee: int = 0  # wei per gas at `block`, for the trade's EIP-1559 fees
    native_usd: Decimal = Decimal(0)  # USD per ETH at `block`, for gas fees paid
    unpriced: tuple[str, ...] = ()  # constituents without a fresh price: `nav` and `premium` are partial
    sequencer: SequencerStatus | None = None  # the L2 sequencer's status at `block` (None: no feed configured)
    sources: tuple[Reading, ...] = ()  # where each constituent's price came from, and how old it is

    @property
    def partial(self) -> bool:
        return bool(self.unpriced)


SEQUENCER_REFUSALS = {  # why a trade is refused, by the sequencer's state (tests/test_prices.py checks the keys)
    "down": "error.trade.sequencer_down",
    "grace": "error.trade.sequencer_grace",
    "unknown": "error.trade.sequencer_unknown",
}


def refuse_unless_sequencer_up(status: SequencerStatus | None) -> None:
    """A trade goes ahead only while the L2 sequencer is up and past its grace period (no feed: always)."""
    if status is None or status.trading:
        return
    raise UserError(SEQUENCER_REFUSALS[status.state], since=When(status.since), until=When(status.grace_until))


class _BlockCache:
    """Results keyed by (block, what); only the newest block is kept; identical misses share one call."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[tuple[int, Any], Any] = OrderedDict()
        self._inflight: dict[tuple[int, Any], asyncio.Future[Any]] = {}

    async def get(self, block: int, key: Any, compute: Callable[[], Awaitable[T]]) -> T:
        full = (block, key)
        if full in self._data:
            self._data.move_to_end(full)
            return self._data[full]  # type: ignore[no-any-return]
        if full in self._inflight:
            return await asyncio.shield(self._inflight[full])
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[full] = fut
        try:
            value = await compute()
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved; waiters re-raise it
            raise
        finally:
            self._inflight.pop(full, None)
        fut.set_result(value)
        self.put(block, key, value)
        return value

    def put(self, block: int, key: Any, value: Any) -> None:
        for old in [k for k in self._data if k[0] < block]:
            del self._data[old]
        self._data[(block, key)] = value
        while len(self._data) > self._size:
            self._data.popitem(last=False)


def usd_per_index(sqrt_price_x96: int, pool: Pool, usdc_decimals: int, index_decimals: int) -> Decimal:
    """Pool mid price in USD per whole index token (USDC taken at $1)."""
    with localcontext() as ctx:
        ctx.prec = 60
        raw = (Decimal(sqrt_price_x96) / Q96) ** 2  # token1 base units per token0 base unit
        if pool.usdc_is_token0:  # raw = index units per USDC unit
            return (1 / raw).scaleb(index_decimals - usdc_decimals) if raw else Decimal(0)
        return raw.scaleb(index_decimals - usdc_decimals)


class Market:
    def __init__(
        self, profile: Profile, chain: Chain, setup: ChainSetup, head: HeadTracker, settings: MarketSettings,
        hermes: Hermes | None = None,
    ) -> None:
        self.profile = profile
        self.chain = chain
        self.setup = setup
        self.head = head
        self.settings = settings
        self.hermes = hermes
        self._constituents = {k: set(v) for k, v in setup.constituents.items()}
        self._cache = _BlockCache(settings.cache_entries)
        soso = profile.soso.symbol if profile.soso is not None else None
        self._soso_feed = {soso} if soso is not None and soso in profile.prices else set()
        seq = profile.sequencer
        self.book = PriceBook(profile.prices, setup.prices, SequencerFeed(seq.feed, seq.grace_seconds) if seq else None)
        self._pyth_ids = self.book.pyth_ids() if hermes is not None else ()
        self._pending: set[asyncio.Future[HermesAnswer | None]] = set()

    @property
    def last_fresh(self) -> dict[str, Reading]:
        """Each symbol's last fresh reading seen by this process (points valuation falls back on it)."""
        return self.book.last_fresh

    @property
    def indexes(self) -> tuple[IndexRef, ...]:
        """The indexes bought in a pool (an issued index is quoted by its factory: bot.issuance)."""
        return tuple(ref for ref in self.profile.indexes if ref.venue == "pool")

    # -- reading ---------------------------------------------------------------------------------------

    def _state_calls(self, refs: Sequence[IndexRef]) -> tuple[list[Call], list[str], Plan]:
        mc = self.profile.multicall3
        calls = [Call(mc, p.BLOCK_NUMBER), Call(mc, p.BLOCK_TIMESTAMP), Call(mc, p.BASEFEE)]
        always = {self.profile.native_feed_symbol} | self._soso_feed  # gas in USD; SOSO for boosts and balances
        symbols = sorted(always.union(*(self._constituents.get(r.symbol, set()) for r in refs)))
        for ref in refs:
            calls += [Call(ref.token.address, p.GET_TOKENSET), Call(ref.token.address, p.REBALANCING)]
            calls += [Call(pool.address, p.SLOT0) for pool in self.setup.pools.get(ref.symbol, ())]
        price_calls, plan = self.book.plan(symbols)
        return calls + price_calls, symbols, plan

    async def _hermes_answer(self, block: BlockId, at: int | None) -> HermesAnswer | None:
        """The block's one Hermes answer for every Pyth id of the profile, shared by every read of that block
        (a past block's is asked once its time is known: `_read`)."""
        if self.hermes is None or not self._pyth_ids or at is not None:
            return None
        hermes, ids = self.hermes, self._pyth_ids
        if isinstance(block, int):
            return await self._cache.get(block, "hermes", lambda: hermes.latest(ids))
        return await hermes.latest(ids)

    def _parse_state(self, refs: Sequence[IndexRef], symbols: list[str], results: list[Result], plan: Plan,
                     hermes: HermesAnswer | None) -> tuple[Snapshot, dict[str, list[int]]]:
        it = iter(results)
        block, timestamp, basefee = (int(next(it).one()) for _ in range(3))
        raw_sets: dict[str, tuple[Result, Result, list[Result]]] = {}
        for ref in refs:
            tokenset_res, rebalancing_res = next(it), next(it)
            raw_sets[ref.symbol] = (tokenset_res, rebalancing_res, [next(it) for _ in self.setup.pools.get(ref.symbol, ())])
        priced = self.book.resolve(plan, list(it), ReadContext(timestamp, self.setup.prices, hermes))
        prices = priced.prices
        oldest = min([timestamp] + [r.published_at for s in prices if (r := priced.source(s)) is not None and r.published_at])
        states: dict[str, IndexState] = {}
        slot0s: dict[str, list[int]] = {}
        for ref in refs:
            tokenset_res, rebalancing_res, slot_results = raw_sets[ref.symbol]
            if not tokenset_res.ok:
                raise UserError("error.chain.unreadable", index=ref.symbol)
            tokenset = tuple(TokensetEntry(str(c), str(s), str(a), int(d), int(n)) for c, s, a, d, n in tokenset_res.one())
            needed = {e.symbol for e in tokenset}
            if not needed <= set(symbols) and (needed - set(symbols)) & set(self.profile.prices):
                # rebalanced into new constituents: learn them and read again
                self._constituents[ref.symbol] = needed
                raise _Relearn()
            unpriced = tuple(sorted(needed - set(prices)))
            pools = self.setup.pools.get(ref.symbol, ())
            slot0s[ref.symbol] = [int(r.values[0]) if r.ok else 0 for r in slot_results]
            dex = None
            if pools and slot0s[ref.symbol][0]:
                dex = usd_per_index(slot0s[ref.symbol][0], pools[0], self.profile.usdc.decimals, ref.token.decimals)
            priced_set = tuple(e for e in tokenset if e.symbol in prices)
            states[ref.symbol] = IndexState(
                ref.symbol, tokenset, nav_per_token(priced_set, prices), dex, pools[0].fee if pools else None,
                bool(rebalancing_res.one()) if rebalancing_res.ok else False, unpriced,
            )
        return Snapshot(block, timestamp, basefee, prices, oldest, states, priced), slot0s

    def _block(self) -> BlockId:
        head = self.head.fresh_head()
        return head if head is not None else "latest"

    async def _read(self, refs: Sequence[IndexRef], extra: Callable[[], list[Call]] | None = None,
                    at: int | None = None) -> tuple[Snapshot, dict[str, list[int]], list[Result]]:
        block: BlockId = self._block() if at is None else at
        hermes = asyncio.ensure_future(self._hermes_answer(block, at))  # the HTTP request alongside the chain read
        try:
            for _ in range(2):
                calls, symbols, plan = self._state_calls(refs)
                tail = extra() if extra else []
                try:
                    results = await self.chain.multicall(calls + tail, block=block)
                except Web3RPCError:
                    if block == "latest" or at is not None:
                        raise
                    # A load-balanced node behind the tracked head may not know that block yet: read the newest.
                    block = "latest"
                    results = await self.chain.multicall(calls + tail, block=block)
                answer = await hermes
                if answer is None and at is not None and self.hermes is not None and self._pyth_ids:
                    # a past block: Hermes' prices at its time, asked once its time is known
                    answer = await self.hermes.at(int(results[1].one()), self._pyth_ids)
                try:
                    snap, slot0s = self._parse_state(refs, symbols, results[: len(calls)], plan, answer)
                except _Relearn:
                    continue
                self.head.observe(snap.block)
                if answer is not None and not isinstance(block, int):
                    self._cache.put(snap.block, "hermes", answer)
                return snap, slot0s, results[len(calls):]
        finally:
            if not hermes.done():  # the chain read failed first: let the request end by itself (other reads of
                self._pending.add(hermes)  # the block may share it; it has its own timeout), kept referenced
                hermes.add_done_callback(self._pending.discard)
        raise UserError("error.chain.unreadable", index=", ".join(r.symbol for r in refs))

    async def snapshot(self) -> Snapshot:
        """Every index's state at the newest block."""
        block = self.head.fresh_head()
        if block is not None:
            return await self._cache.get(block, "snapshot", self._snapshot_now)
        snap = await self._snapshot_now()
        self._cache.put(snap.block, "snapshot", snap)
        return snap

    async def snapshot_with(self, extra: Sequence[Call]) -> tuple[Snapshot, list[Result]]:
        """Every index's state and the results of `extra`, read together in one round trip at one block.

        The snapshot is cached for its block like `snapshot()`'s, so a later quote or view there costs nothing.
        """
        snap, _, results = await self._read(self.indexes, lambda: list(extra))
        self._cache.put(snap.block, "snapshot", snap)
        return snap, results

    async def snapshot_at(self, block: int, extra: Sequence[Call] = ()) -> tuple[Snapshot, list[Result]]:
        """Every index's state and `extra` at a given past or present block (a points snapshot's block)."""
        snap, _, results = await self._read(self.indexes, lambda: list(extra), at=block)
        return snap, results

    async def _snapshot_now(self) -> Snapshot:
        snap, _, _ = await self._read(self.indexes)
        return snap

    # -- quoting ---------------------------------------------------------------------------------------

    async def quote(self, ref: IndexRef, side: Side, amount: Decimal) -> Quote:
        """A buy quote for `amount` USDC, or a sell quote for `amount` index tokens."""
        key = ("quote", ref.symbol, side, amount)
        block = self.head.fresh_head()
        if block is not None:
            return await self._cache.get(block, key, lambda: self._quote_now(ref, side, amount))
        q = await self._quote_now(ref, side, amount)
        self._cache.put(q.block, key, q)
        return q

    async def _quote_now(self, ref: IndexRef, side: Side, amount: Decimal) -> Quote:
        pools = self.setup.pools.get(ref.symbol, ())
        if not pools:
            raise UserError("error.quote.no_pool", index=ref.symbol)
        usdc, index = self.profile.usdc, ref.token
        token_in, token_out = (usdc, index) if side == "buy" else (index, usdc)
        amount_units = to_base_units(amount, token_in.decimals)

        def quoter_calls() -> list[Call]:
            return [
                Call(self.profile.quoter_v2, p.QUOTE_EXACT_INPUT_SINGLE, ((token_in.address, token_out.address, amount_units, pool.fee, 0),))
                for pool in pools
            ]

        snap, slot0s, quotes = await self._read([ref], quoter_calls)
        state = snap.indexes[ref.symbol]
        best = max(
            ((i, r) for i, r in enumerate(quotes) if r.ok and int(r.values[0]) > 0),
            key=lambda pair: int(pair[1].values[0]),
            default=None,
        )
        if best is None:
            raise UserError("error.quote.no_liquidity", index=ref.symbol)
        i, res = best
        pool, out_units, gas_estimate = pools[i], int(res.values[0]), int(res.values[3])
        amount_out = from_base_units(out_units, token_out.decimals)
        mid = usd_per_index(slot0s[ref.symbol][i], pool, usdc.decimals, index.decimals)
        fee = Decimal(pool.fee).scaleb(-6)
        if side == "buy":
            exec_price = amount / amount_out
            ideal_out = amount * (1 - fee) / mid
        else:
            exec_price = amount_out / amount
            ideal_out = amount * mid * (1 - fee)
        gas_units = gas_estimate + self.settings.swap_gas_overhead
        eth_usd = snap.usd(self.profile.native_feed_symbol)  # gas: an estimate, a stale price will do
        gas_wei = gas_units * (snap.basefee + self.settings.priority_fee_wei)
        return Quote(
            index=ref.symbol,
            side=side,
            amount_in=amount,
            amount_out=amount_out,
            nav=state.nav,
            dex_price=mid,
            exec_price=exec_price,
            premium=exec_price / state.nav - 1 if state.nav and not state.partial else Decimal(0),
            pool_fee=pool.fee,
            price_impact=max(Decimal(0), 1 - amount_out / ideal_out),
            gas_units=gas_units,
            gas_usd=Decimal(gas_wei).scaleb(-18) * eth_usd,
            block=snap.block,
            timestamp=snap.timestamp,
            prices_stale=state.partial,
            basefee=snap.basefee,
            native_usd=eth_usd,
            unpriced=state.unpriced,
            sequencer=snap.sequencer,
            sources=snap.sources_of(ref.symbol),
        )


class _Relearn(Exception):
    """The tokenset names constituents whose feeds were not in the batch; read again with them."""
