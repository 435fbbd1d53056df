"""Chainlink AggregatorV3 feeds on the chain: `latestRoundData()` in the market's Multicall3 batch.

Each feed is held to its own heartbeat (the longest a feed goes without a new round; default 24 h) plus
`HEARTBEAT_SLACK` for the heartbeat's own round to land. `description` and `decimals`, when the profile
states them, are checked against the feed at start-up (bot.chain.verify); a zero or negative answer is unusable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from eth_utils.address import to_checksum_address

from bot.chain import protocol as p
from bot.chain.client import Call, Result
from bot.market.prices.model import PriceSetup, ReadContext, Reading
from bot.market.prices.source import SourceDefaults
from bot.market.prices.registry import SourceConfigError, positive_int, register
from bot.market.prices.startup import FeedReport, Findings, StartupEnv

DEFAULT_HEARTBEAT = 86_400
HEARTBEAT_SLACK = 60  # seconds: a heartbeat round is sent when the heartbeat elapses and lands a block or two later


_FEED_READS = (p.DECIMALS, p.DESCRIPTION, p.LATEST_ROUND)


@dataclass(frozen=True)
class Chainlink(SourceDefaults):
    kind: ClassVar[str] = "chainlink"
    symbol: str
    feed: str
    heartbeat: int = DEFAULT_HEARTBEAT
    description: str | None = None  # checked against description() at start-up when given
    decimals: int | None = None  # checked against decimals() at start-up when given

    def calls(self, setup: PriceSetup) -> list[Call]:
        return [Call(self.feed, p.LATEST_ROUND)]

    def read(self, results: Sequence[Result], ctx: ReadContext) -> Reading:
        limit = self.heartbeat + HEARTBEAT_SLACK
        res = results[0]
        if not res.ok:
            return Reading(self.symbol, self.kind, None, 0, limit, "missing", self.feed)
        answer, updated = int(res.values[1]), int(res.values[3])
        if answer <= 0:
            return Reading(self.symbol, self.kind, None, updated, limit, "not_positive", self.feed)
        price = Decimal(answer).scaleb(-ctx.setup.feed_decimals.get(self.feed, 8))
        return Reading(self.symbol, self.kind, price, updated, limit, where=self.feed).usable(ctx.now)

    def describe(self) -> dict[str, Any]:
        return {"source": self.kind, "feed": self.feed, "heartbeat": self.heartbeat, "description": self.description}

    def addresses(self) -> dict[str, str]:
        return {f"{self.symbol} feed ({self.description or 'chainlink'})": self.feed}

    def startup_calls(self, env: StartupEnv) -> list[Call]:
        return [Call(self.feed, fn) for fn in _FEED_READS]

    def check(self, results: Sequence[Result], env: StartupEnv, found: Findings) -> None:
        """A description or decimals other than the profile's refuses the start; a stale, failing or
        non-positive answer is a warning (the price falls through)."""
        decimals, description, latest = results
        report = self._report(found.now, decimals, description, latest)
        found.feeds.append(report)
        name = f"feed {self.symbol} at {self.feed}"
        if report.decimals is None:
            found.problems.append(f"{name}: decimals() failed (not an AggregatorV3 feed)")
            return
        found.feed_decimals[self.feed] = report.decimals
        if self.decimals is not None and report.decimals != self.decimals:
            found.problems.append(f"{name}: decimals() is {report.decimals}, expected {self.decimals}")
        if self.description is not None and report.description != self.description:
            found.problems.append(f"{name}: description() is {report.description!r}, expected {self.description!r}")
        if report.answer is None:
            found.warnings.append(f"{name}: latestRoundData() failed; its price falls through to the next source")
        elif report.answer <= 0:
            found.warnings.append(f"{name}: its latest answer is {report.answer}; its price falls through to the next source")
        elif report.stale:
            found.warnings.append(f"{name} is stale: last updated {report.age_seconds} s ago, heartbeat {self.heartbeat} s")

    def _report(self, now: int, decimals: Result, description: Result, latest: Result) -> FeedReport:
        dec = int(decimals.one()) if decimals.ok else None
        desc = str(description.one()) if description.ok else None
        answer, updated, age = None, 0, None
        if latest.ok:
            updated = int(latest.values[3])
            answer = Decimal(int(latest.values[1])).scaleb(-(dec if dec is not None else 8))
            age = max(0, now - updated)
        stale = age is None or age > self.heartbeat + HEARTBEAT_SLACK
        return FeedReport(self.symbol, self.feed, desc, dec, answer, updated, age, self.heartbeat, stale)


@register("chainlink")
def parse(symbol: str, raw: dict[str, Any], where: str) -> Chainlink:
    try:
        feed = to_checksum_address(str(raw["feed"]))
    except KeyError as exc:
        raise SourceConfigError(f"{where}: missing feed") from exc
    except ValueError as exc:
        raise SourceConfigError(f"{where}: feed {raw['feed']!r} is not an address") from exc
    decimals = raw.get("decimals")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 36):
        raise SourceConfigError(f"{where}: decimals must be a whole number from 0 to 36, not {decimals!r}")
    description = raw.get("description")
    return Chainlink(symbol, feed, positive_int(raw, "heartbeat", DEFAULT_HEARTBEAT, where),
                     str(description) if description is not None else None, decimals)
