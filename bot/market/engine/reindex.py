"""Market-cap weighting with a monthly reindex: the methodology of a stock index issued by a factory.

The index holds the `count` largest constituents by market cap, each weighted by its share of their total
market cap. A factory keeps weights as integer market shares summing to exactly SHARE_TOTAL (100e18, i.e.
100 % with 18 decimals). Each share is the exact weight rounded down, and the units left over go one each to
the largest rounding remainders (ties by symbol), so the sum is exact and the result deterministic. The
arithmetic is exact rational (Fraction over the Decimal caps), so no rounding of the division can push a
share over. The list is refreshed monthly at `next_reindex_at`; `plan_reindex` says what that changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from bot.market.engine.methodology import MethodologyError

SHARE_TOTAL = 100 * 10**18


def market_cap_shares(caps: Mapping[str, Decimal], count: int) -> dict[str, int]:
    """The top `count` symbols by market cap (ties by symbol), as integer shares summing to SHARE_TOTAL.

    MethodologyError when count < 1, a cap is not a finite number, or fewer than `count` caps are positive.
    """
    if count < 1:
        raise MethodologyError(f"market-cap weighting needs a count of at least 1, got {count}")
    for symbol, cap in caps.items():
        if not cap.is_finite():
            raise MethodologyError(f"{symbol}: market cap {cap} is not a number")
    ranked = sorted((s for s, cap in caps.items() if cap > 0), key=lambda s: (-caps[s], s))
    if len(ranked) < count:
        raise MethodologyError(f"market-cap weighting needs {count} constituents with a market cap, got {len(ranked)}")
    chosen = ranked[:count]
    total = sum((Fraction(caps[s]) for s in chosen), Fraction(0))
    exact = {s: Fraction(caps[s]) * SHARE_TOTAL / total for s in chosen}
    shares = {s: exact[s].numerator // exact[s].denominator for s in chosen}
    left = SHARE_TOTAL - sum(shares.values())  # 0 <= left < count: each floor lost less than one unit
    for s in sorted(chosen, key=lambda s: (-(exact[s] - shares[s]), s))[:left]:
        shares[s] += 1
    return shares


def next_reindex_at(ts: int, zone: str, day: int = 1, at: time = time(9, 30)) -> int:
    """The first monthly reindex moment strictly after `ts` (unix seconds): day `day` (1..28) of a month at
    `at` local time in `zone`, e.g. the 1st at 09:30 New York time."""
    if not 1 <= day <= 28:
        raise ValueError(f"reindex day {day} is not between 1 and 28")
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(ts, tz)
    this_month = int(datetime.combine(date(local.year, local.month, day), at, tz).timestamp())
    if this_month > ts:
        return this_month
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return int(datetime.combine(date(year, month, day), at, tz).timestamp())


@dataclass(frozen=True)
class ReindexSchedule:
    """When the monthly reindex happens: day `day` (1..28) of each month at `at`, in the market's time zone."""

    day: int = 1
    at: time = time(9, 30)

    @classmethod
    def from_config(cls, raw: Mapping[str, object]) -> ReindexSchedule:
        """From a profile's {day = 1, at = "09:30"} (both optional); ValueError naming the bad value."""
        day, at = raw.get("day", 1), raw.get("at", "09:30")
        if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 28:
            raise ValueError(f"reindex.day: {day!r} is not a day of the month between 1 and 28")
        try:
            return cls(day, time.fromisoformat(str(at)))
        except ValueError:
            raise ValueError(f"reindex.at: {at!r} is not a time like '09:30'") from None

    def next_after(self, ts: int, zone: str) -> int:
        return next_reindex_at(ts, zone, self.day, self.at)


@dataclass(frozen=True)
class Reindex:
    """What a reindex changes: the shares before and after, who joins and who leaves, and when."""

    current: dict[str, int]  # symbol -> market share now (out of SHARE_TOTAL)
    next: dict[str, int]  # symbol -> market share after the reindex
    added: tuple[str, ...]  # joining: in next, not in current; largest new share first, then by symbol
    removed: tuple[str, ...]  # leaving: in current, not in next; by symbol
    at: int  # when it applies (unix seconds)


def plan_reindex(current: Mapping[str, int], caps: Mapping[str, Decimal], count: int, at: int) -> Reindex:
    """The reindex at `at`: the top `count` by today's market caps replace `current`."""
    following = market_cap_shares(caps, count)
    added = tuple(sorted((s for s in following if s not in current), key=lambda s: (-following[s], s)))
    removed = tuple(sorted(s for s in current if s not in following))
    return Reindex(dict(current), following, added, removed, at)
