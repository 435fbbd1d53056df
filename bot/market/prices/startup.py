"""What each price source checks at start-up (bot.chain.verify runs it; `indexbot check` prints what was found).

Every source adds its reads to verification's one Multicall3 batch (`startup_calls`), then reads its results
into the shared `Findings` (`check`): a mismatch the operator must fix is a problem (start-up refuses, naming
it), one the prices survive by falling through is a warning. `settle` is a second, rare round (a TWAP token
with pools at several fee tiers). The Pyth sources share one Hermes request, made beside the chain read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bot.market.prices.model import HermesAnswer, TwapPool


@dataclass(frozen=True)
class StartupEnv:
    """The profile's contracts a source's start-up check needs."""

    multicall3: str
    usdc: str
    usdc_decimals: int
    uniswap_factory: str
    fee_tiers: tuple[int, ...]


@dataclass(frozen=True)
class FeedReport:
    """What start-up verification read from one on-chain feed (a Chainlink price feed or the sequencer feed)."""

    symbol: str  # the price symbol, or "sequencer"
    feed: str
    description: str | None  # description() as the feed answers it (None: unreadable)
    decimals: int | None  # decimals() (None: unreadable)
    answer: Decimal | None  # the latest answer scaled by decimals (the sequencer's: 0 up, 1 down)
    updated_at: int  # latestRoundData().updatedAt (for the sequencer: startedAt, when its status began)
    age_seconds: int | None  # at the block verified (None: unreadable)
    heartbeat: int  # the freshness limit the profile gives it (0 for the sequencer)
    stale: bool  # older than heartbeat (+ slack): a warning, not a refusal


@dataclass(frozen=True)
class PythReport:
    """What Hermes answered at start-up for one Pyth source."""

    symbol: str
    id: str
    price: Decimal | None
    conf: Decimal | None
    publish_time: int  # 0: no answer
    age_seconds: int | None  # at the block verified
    max_age: int
    problem: str  # "" or one of bot.market.prices.PROBLEMS (stale included)


@dataclass
class Findings:
    now: int = 0  # the verified block's time
    hermes: HermesAnswer | None = None  # the one Hermes answer (None: no Hermes client, no Pyth source)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    feeds: list[FeedReport] = field(default_factory=list)
    pyth: list[PythReport] = field(default_factory=list)
    feed_decimals: dict[str, int] = field(default_factory=dict)  # feed address -> decimals()
    twap_pools: dict[str, TwapPool] = field(default_factory=dict)  # token address -> the pool its TWAP reads
    twap_candidates: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # pools at several tiers
