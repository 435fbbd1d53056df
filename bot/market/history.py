"""NAV history for /chart: the bot samples every pool index itself (no archive node needed).

The `charts:nav` job (`NavHistory.sample`, every `alerts.chart_sample_seconds`, once per interval across a fleet)
reads one market snapshot: at one block, per index, NAV per token (the tokenset × the constituents' prices that
quotes use), the pool's mid price and the premium. Each is stored with its block, time, tokenset and prices
(bot.storage.navs); an index whose NAV is partial (a constituent without a fresh price) is not sampled. Samples
past `alerts.chart_keep_days` are pruned by the same job.

Weights "before the last rebalance" come from the samples too: the newest sample whose composition differs from
today's (its weights at today's prices differ by more than `MOVED` for some constituent, or another set of
constituents). A daily fee collection shrinks every amount alike and leaves the weights as they were: not a rebalance.
Everything stays Decimal and integers; only bot.market.navchart turns values into plotting coordinates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.chain.profile import IndexRef
from bot.market.engine.basket import TokensetEntry, weights
from bot.market.quotes import Market

DAY = 86400
PERIODS: Mapping[str, int] = {"7d": 7, "30d": 30, "90d": 90}  # what /chart takes, in days
MOVED = Decimal("0.001")  # a weight that moved by more than 0.1 point: the composition changed
PAGE = 500  # samples read at a time while looking back for the previous composition

Holding = tuple[str, int, int]  # (symbol, decimals, amount per whole index token in base units)


@dataclass(frozen=True)
class NavSample:
    token: str  # the index token's address
    block: int
    at: int  # the block's timestamp
    nav: Decimal  # USD per whole index token
    pool: Decimal | None  # USD per index token at the pool's mid price
    premium: Decimal | None  # pool / NAV - 1
    tokenset: tuple[Holding, ...]
    prices: Mapping[str, Decimal]

    def weights(self, prices: Mapping[str, Decimal] | None = None) -> dict[str, Decimal]:
        """Each constituent's share of NAV, at `prices` (default: the sample's own)."""
        entries = [TokensetEntry("", s, "", d, a) for s, d, a in self.tokenset]
        return weights(entries, self.prices if prices is None else prices)


@dataclass(frozen=True)
class Composition:
    """The weights now, and before the last change of composition the samples show (None: none seen yet)."""

    index: str
    now: dict[str, Decimal]
    now_at: int
    before: dict[str, Decimal] | None
    before_at: int | None  # the time of the last sample with the old composition
    oldest_at: int  # the first sample kept: no change was seen since then when `before` is None


def differs(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> bool:
    """Two weightings are different compositions: another set of constituents, or a weight moved by more than MOVED."""
    return set(a) != set(b) or any(abs(a[s] - b[s]) > MOVED for s in a)


class SampleRows(Protocol):
    """What the history needs of its storage (bot.storage.navs.NavSampleRows)."""

    async def add(self, samples: Sequence[NavSample]) -> int: ...
    async def since(self, token: str, at: int) -> list[NavSample]: ...
    async def latest(self, token: str, limit: int = 1) -> list[NavSample]: ...
    async def before(self, token: str, block: int, limit: int) -> list[NavSample]: ...
    async def prune(self, before_at: int) -> int: ...


class NavHistory:
    def __init__(self, market: Market, rows: SampleRows, every_seconds: int, keep_days: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._market = market
        self._rows = rows
        self.every_seconds = every_seconds
        self.keep_days = keep_days
        self._clock = clock

    @property
    def indexes(self) -> tuple[IndexRef, ...]:
        return self._market.indexes

    async def sample(self) -> int:
        """The `charts:nav` job: one snapshot, a sample per index at its block, then the old ones pruned; how many
        samples were new (0 when another process already sampled this block)."""
        snap = await self._market.snapshot()
        samples: list[NavSample] = []
        for ref in self._market.indexes:
            state = snap.indexes.get(ref.symbol)
            if state is None or state.partial or not state.nav:
                continue
            tokenset = tuple((e.symbol, e.decimals, e.amount) for e in state.tokenset)
            prices = {e.symbol: snap.prices[e.symbol] for e in state.tokenset}
            samples.append(NavSample(ref.token.address, snap.block, snap.timestamp, state.nav, state.dex_price,
                                     state.premium, tokenset, prices))
        added = await self._rows.add(samples)
        await self._rows.prune(int(self._clock()) - self.keep_days * DAY)
        return added

    async def period(self, ref: IndexRef, days: int) -> list[NavSample]:
        """The index's samples of the last `days` days, oldest first."""
        return await self._rows.since(ref.token.address, int(self._clock()) - days * DAY)

    def first_due(self) -> int:
        """When a sample is taken at the latest, counting from now (the job runs once per interval)."""
        return int(self._clock()) + self.every_seconds

    async def composition(self, ref: IndexRef) -> Composition | None:
        """The newest sample's weights and those of the newest sample with another composition; None: no samples."""
        newest = await self._rows.latest(ref.token.address)
        if not newest:
            return None
        now = newest[0]
        now_weights = now.weights()
        block, oldest_at = now.block, now.at
        while True:
            page = await self._rows.before(ref.token.address, block, PAGE)
            for old in page:
                if differs(old.weights(now.prices), now_weights):
                    return Composition(ref.symbol, now_weights, now.at, old.weights(), old.at, oldest_at)
            if len(page) < PAGE:
                oldest_at = page[-1].at if page else oldest_at
                return Composition(ref.symbol, now_weights, now.at, None, None, oldest_at)
            block = page[-1].block


def ordered(weights_: Mapping[str, Decimal], also: Sequence[str] = ()) -> list[str]:
    """Constituents by weight, largest first, then those only in `also` (gone since)."""
    names = sorted(weights_, key=lambda s: weights_[s], reverse=True)
    return names + [s for s in also if s not in weights_]
