"""The price book: each symbol's ordered sources, read together with the rest of the market's state.

`plan(symbols)` gives the on-chain calls of every source of those symbols (and the sequencer feed's), which
the market appends to its one Multicall3 batch; Pyth sources need the block's one Hermes answer instead.
`resolve` then takes each symbol's first fresh reading; a symbol with none is unpriced and keeps every
reading tried (what was wrong with each). The last fresh reading of each symbol is remembered (`last_fresh`)
for whoever must still value it later (points valuation), with its age.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.chain.client import Call, Result
from bot.market.prices.model import PriceSetup, ReadContext, Reading
from bot.market.prices.source import PriceSource
from bot.market.prices.sequencer import SequencerFeed, SequencerStatus


@dataclass(frozen=True)
class Plan:
    symbols: tuple[str, ...]
    slices: tuple[tuple[str, PriceSource, int, int], ...]  # (symbol, source, first result, end) in order
    sequencer_at: int | None  # index of the sequencer feed's result
    size: int  # how many calls the plan added


@dataclass(frozen=True)
class Priced:
    """The prices of one block: fresh ones, and every reading tried per symbol (the winner last)."""

    prices: dict[str, Decimal]
    readings: dict[str, tuple[Reading, ...]]
    unpriced: frozenset[str]
    sequencer: SequencerStatus | None = None

    def source(self, symbol: str) -> Reading | None:
        """The reading that priced `symbol`, else its last failed one (None when it has no source at all)."""
        tried = self.readings.get(symbol, ())
        return tried[-1] if tried else None


@dataclass
class PriceBook:
    sources: Mapping[str, tuple[PriceSource, ...]]
    setup: PriceSetup
    sequencer: SequencerFeed | None = None
    last_fresh: dict[str, Reading] = field(default_factory=dict)

    def plan(self, symbols: Iterable[str]) -> tuple[list[Call], Plan]:
        calls: list[Call] = []
        slices = []
        ordered = tuple(sorted(set(symbols)))
        for symbol in ordered:
            for source in self.sources.get(symbol, ()):
                own = source.calls(self.setup)
                slices.append((symbol, source, len(calls), len(calls) + len(own)))
                calls += own
        seq_at = None
        if self.sequencer is not None:
            seq_at = len(calls)
            calls += self.sequencer.calls()
        return calls, Plan(ordered, tuple(slices), seq_at, len(calls))

    def pyth_ids(self, symbols: Iterable[str] | None = None) -> tuple[str, ...]:
        """Every Pyth id of `symbols` (default: of the whole book), for the block's one Hermes request."""
        wanted = self.sources if symbols is None else {s: self.sources.get(s, ()) for s in symbols}
        return tuple(sorted({i for srcs in wanted.values() for src in srcs for i in src.pyth_ids()}))

    def resolve(self, plan: Plan, results: Sequence[Result], ctx: ReadContext) -> Priced:
        tried: dict[str, list[Reading]] = {s: [] for s in plan.symbols}
        prices: dict[str, Decimal] = {}
        for symbol, source, start, end in plan.slices:
            if symbol in prices:
                continue  # an earlier source was fresh
            reading = source.read(results[start:end], ctx)
            tried[symbol].append(reading)
            if reading.fresh and reading.price is not None:
                prices[symbol] = reading.price
                self.last_fresh[symbol] = reading
        sequencer = None
        if self.sequencer is not None and plan.sequencer_at is not None:
            sequencer = self.sequencer.read(results[plan.sequencer_at], ctx.now)
        return Priced(prices, {s: tuple(r) for s, r in tried.items()}, frozenset(plan.symbols) - set(prices), sequencer)
