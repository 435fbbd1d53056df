"""The price layer's vocabulary: a source's reading of one symbol, with where it came from and how old it is.

A `Reading` is what one source said about one symbol at one block: the price (USD per whole unit, a
`Decimal`), when it was published, the freshness limit that source is held to, and, when it cannot be used,
a short problem code (`PROBLEMS`; each has a catalog entry `prices.problem.<code>`). The first fresh reading
of a symbol's ordered sources wins (bot.market.prices.book).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Why a reading cannot be used. Each code has a catalog entry `prices.problem.<code>` (tests check it).
PROBLEMS = (
    "stale",  # older than the source's freshness limit (a Chainlink feed's heartbeat, a Pyth id's max_age)
    "missing",  # the source has no answer for the symbol (call failed, id absent from Hermes' answer)
    "not_positive",  # zero or negative answer
    "bad_answer",  # a non-numeric price, an exponent outside what Pyth uses, an undecodable answer
    "timeout",  # Hermes did not answer within its timeout
    "unreachable",  # Hermes refused the connection or answered with an HTTP error
    "no_history",  # a TWAP pool without observations covering its window
    "uncertain",  # Pyth's confidence interval wider than the source's max_conf (a fraction of the price)
)


@dataclass(frozen=True)
class Reading:
    """One source's answer for one symbol."""

    symbol: str
    source: str  # the source kind: chainlink, pyth, twap
    price: Decimal | None  # USD per whole unit; None when the source gave nothing usable
    published_at: int  # unix seconds the answer was published (0 when unknown)
    max_age: int  # seconds the answer stays fresh
    problem: str = ""  # one of PROBLEMS when not usable, else ""
    where: str = ""  # the feed address, Pyth id or pool the answer came from
    conf: Decimal | None = None  # Pyth's confidence interval, in USD

    def age(self, now: int) -> int:
        return max(0, now - self.published_at) if self.published_at else 0

    def usable(self, now: int) -> Reading:
        """This reading, marked stale when further than its limit from `now` (older, or, for a past block's
        read, published that much after it)."""
        if not self.problem and self.price is not None and abs(now - self.published_at) > self.max_age:
            return Reading(self.symbol, self.source, self.price, self.published_at, self.max_age, "stale", self.where, self.conf)
        return self

    @property
    def fresh(self) -> bool:
        """Usable as a price (call after `usable(now)`)."""
        return not self.problem and self.price is not None


@dataclass(frozen=True)
class HermesPrice:
    price: Decimal
    conf: Decimal
    publish_time: int


@dataclass(frozen=True)
class HermesAnswer:
    """Hermes' answer for a set of Pyth ids: a price per id, a problem per id it could not give, or one problem
    for the whole request (timeout, unreachable)."""

    prices: dict[str, HermesPrice] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    def for_id(self, feed_id: str) -> HermesPrice | str:
        if feed_id in self.prices:
            return self.prices[feed_id]
        return self.problems.get(feed_id) or self.problem or "missing"


@dataclass(frozen=True)
class TwapPool:
    """The Uniswap V3 pool a TWAP source reads: `token` against USDC."""

    address: str
    fee: int
    token_is_token0: bool
    token_decimals: int
    usdc_decimals: int


@dataclass(frozen=True)
class PriceSetup:
    """What start-up verification learned that the sources need to read (bot.chain.verify builds it)."""

    feed_decimals: dict[str, int] = field(default_factory=dict)  # feed address -> decimals()
    twap_pools: dict[str, TwapPool] = field(default_factory=dict)  # token address -> its USDC pool


@dataclass(frozen=True)
class ReadContext:
    now: int  # the block's timestamp
    setup: PriceSetup
    hermes: HermesAnswer | None  # None: not asked (a past block, no Pyth source)
