"""Chainlink AggregatorV3 feeds on the chain: `latestRoundData()` in the market's Multicall3 batch.

Each feed is held to its own heartbeat (the longest a feed goes without a new round; default 24 h) plus
`HEARTBEAT_SLACK` for the heartbeat's own round to land. `description` and `decimals`, when the profile
states them, are checked against the feed at start-up (bot.verify); a zero or negative answer is unusable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from eth_utils.address import to_checksum_address

from bot import protocol as p
from bot.chain import Call, Result
from bot.prices.model import PriceSetup, ReadContext, Reading
from bot.prices.registry import SourceConfigError, positive_int, register

DEFAULT_HEARTBEAT = 86_400
HEARTBEAT_SLACK = 60  # seconds: a heartbeat round is sent when the heartbeat elapses and lands a block or two later


@dataclass(frozen=True)
class Chainlink:
    kind: ClassVar[str] = "chainlink"
    symbol: str
    feed: str
    heartbeat: int = DEFAULT_HEARTBEAT
    description: str | None = None  # checked against description() at start-up when given
    decimals: int | None = None  # checked against decimals() at start-up when given

    def calls(self, setup: PriceSetup) -> list[Call]:
        return [Call(self.feed, p.LATEST_ROUND)]

    def pyth_ids(self) -> tuple[str, ...]:
        return ()

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
