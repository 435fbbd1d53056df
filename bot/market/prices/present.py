"""How prices, their sources and the sequencer read to a user: catalog keys and typed parameters only.

Keys built here at run time (`prices.source.<kind>`, `prices.problem.<code>`, `sequencer.<state>`) are
enumerated by tests/test_prices.py against both catalogs.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.core.messages import Msg, Usd, When
from bot.market.prices.model import Reading
from bot.market.prices.sequencer import SequencerStatus

AGE_UNITS = ((86_400, "prices.age.days"), (3_600, "prices.age.hours"), (60, "prices.age.minutes"), (1, "prices.age.seconds"))


def age(seconds: int) -> Msg:
    """`42 s`, `3 min`, `2 h`, `4 d`: the largest whole unit."""
    for size, key in AGE_UNITS:
        if seconds >= size:
            return Msg(key, {"n": seconds // size})
    return Msg("prices.age.seconds", {"n": 0})


def source_name(kind: str) -> Msg:
    return Msg(f"prices.source.{kind}")


def reading_line(reading: Reading, now: int) -> Msg:
    """One price and where it came from (or, for a reading that could not be used, why)."""
    if reading.fresh and reading.price is not None:
        return Msg("sources.line", {"symbol": reading.symbol, "price": Usd(reading.price, 4),
                                    "source": source_name(reading.source), "age": age(reading.age(now))})
    return Msg("sources.tried", {"source": source_name(reading.source), "problem": Msg(f"prices.problem.{reading.problem}")})


def symbol_lines(symbol: str, tried: Sequence[Reading], now: int) -> list[Msg]:
    """A symbol's price and source, or every source tried and why none could be used."""
    if tried and tried[-1].fresh:
        lines = [reading_line(tried[-1], now)]
        lines += [reading_line(r, now) for r in tried[:-1]]  # sources ahead of it that fell through
        return lines
    return [Msg("sources.unpriced", {"symbol": symbol}), *(reading_line(r, now) for r in tried)]


def sequencer_line(status: SequencerStatus | None) -> Msg | None:
    """A warning while the sequencer is down, in its grace period or unreadable; None while it is up."""
    if status is None or status.trading:
        return None
    return Msg(f"sequencer.{status.state}", {"since": When(status.since), "until": When(status.grace_until)})


def partial_line(unpriced: Sequence[str], pool_price: Decimal | None) -> Msg:
    if pool_price is None:
        return Msg("prices.partial_no_pool", {"symbols": ", ".join(unpriced)})
    return Msg("prices.partial", {"symbols": ", ".join(unpriced), "price": Usd(pool_price, 4)})


def oldest_age(readings: Sequence[Reading], now: int) -> int:
    return max((r.age(now) for r in readings if r.fresh), default=0)
