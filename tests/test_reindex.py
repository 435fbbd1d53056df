"""Market-cap shares that sum to exactly 100e18, the monthly reindex moment, and what a reindex changes.

Shares are worked out with integer arithmetic: floor(cap x 10**20 / total) each, then the units left over
go one each to the largest remainders (cap x 10**20 mod total), ties by symbol.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from bot.market.engine.methodology import MethodologyError
from bot.market.engine.reindex import SHARE_TOTAL, Reindex, market_cap_shares, next_reindex_at, plan_reindex
from auxil.clock import utc

D = Decimal
E18 = 10**18

# weights on 22-09-2024, as caps in tenths of a per mille; total 9966, and AVGO an 8th candidate
MAG7_CAPS = {"MSFT": D(2110), "AAPL": D(2070), "NVDA": D(1900), "GOOG": D(1410), "AMZN": D(1270),
             "META": D(790), "TSLA": D(416), "AVGO": D(350)}
# floors: MSFT 21171984748143688541 r394, AAPL 20770620108368452739 r3126, NVDA 19064820389323700581 r9754,
# GOOG 14148103552077062010 r8340, AMZN 12743327312863736704 r7936, META 7926951635560907084 r856,
# TSLA 4174192253662452337 r9458; they sum to 10**20 - 4, so NVDA, TSLA, GOOG, AMZN get one unit each
MAG7_SHARES = {"MSFT": 21171984748143688541, "AAPL": 20770620108368452739, "NVDA": 19064820389323700582,
               "GOOG": 14148103552077062011, "AMZN": 12743327312863736705, "META": 7926951635560907084,
               "TSLA": 4174192253662452338}

SHARE_CASES: list[tuple[str, dict[str, Decimal], int, dict[str, int]]] = [
    ("top 7 of 8, four leftover units", MAG7_CAPS, 7, MAG7_SHARES),
    ("exact halves and quarters", {"A": D(2), "B": D(1), "C": D(1)}, 3, {"A": 50 * E18, "B": 25 * E18, "C": 25 * E18}),
    # 10**20 / 3 = 33333333333333333333 r1 each: one unit left, equal remainders, so the first symbol takes it
    ("three-way tie", {"C": D(1), "B": D(1), "A": D(1)}, 3,
     {"A": 33333333333333333334, "B": 33333333333333333333, "C": 33333333333333333333}),
    # A: 33333333333333333333 r1/3, B: 66666666666666666666 r2/3: the larger remainder wins over the symbol
    ("larger remainder wins", {"A": D(1), "B": D(2)}, 2, {"A": 33333333333333333333, "B": 66666666666666666667}),
    # 10**20 / 6 = 16666666666666666666 r4: four units left, to A..D by symbol
    ("six-way tie", {s: D("0.5") for s in "FEDCBA"}, 6,
     {"A": 16666666666666666667, "B": 16666666666666666667, "C": 16666666666666666667,
      "D": 16666666666666666667, "E": 16666666666666666666, "F": 16666666666666666666}),
    # equal caps at the cut: X and Y are kept by symbol, Z dropped
    ("tie at the cut", {"Z": D(5), "Y": D(5), "X": D(5)}, 2, {"X": 50 * E18, "Y": 50 * E18}),
    ("one constituent", {"A": D("3.5"), "B": D(1)}, 1, {"A": SHARE_TOTAL}),
    ("zero and negative caps ignored", {"A": D(3), "B": D(0), "C": D(-1), "D": D(1)}, 2,
     {"A": 75 * E18, "D": 25 * E18}),
    # dollar caps, x 10**8: BIG 310000000000017000000, DUST 79, total 310000000000017000079; DUST's floor is
    # 25 r0.484, BIG's 99999999999999999974 r0.516, so BIG takes the one unit left (exact, no 28-digit rounding)
    ("huge and tiny caps", {"BIG": D("3100000000000.17"), "DUST": D("0.00000079")}, 2,
     {"BIG": 99999999999999999975, "DUST": 25}),
]


@pytest.mark.parametrize(("name", "caps", "count", "expected"), SHARE_CASES, ids=[c[0] for c in SHARE_CASES])
def test_market_cap_shares(name: str, caps: dict[str, Decimal], count: int, expected: dict[str, int]) -> None:
    shares = market_cap_shares(caps, count)
    assert shares == expected
    assert sum(shares.values()) == SHARE_TOTAL


@pytest.mark.parametrize(("caps", "count", "message"), [
    ({"A": D(1), "B": D(2)}, 3, "needs 3 constituents with a market cap, got 2"),
    ({"A": D(1), "B": D(0), "C": D(-2)}, 2, "got 1"),
    ({}, 1, "got 0"),
    ({"A": D(1)}, 0, "at least 1"),
    ({"A": D(1), "B": D("NaN")}, 1, "B: market cap NaN"),
    ({"A": D(1), "B": D("Infinity")}, 1, "B: market cap Infinity"),
])
def test_too_few_constituents(caps: dict[str, Decimal], count: int, message: str) -> None:
    with pytest.raises(MethodologyError, match=message):
        market_cap_shares(caps, count)


NY = "America/New_York"  # UTC-5 in winter, UTC-4 from Sun 2026-03-08 to Sun 2026-11-01


@pytest.mark.parametrize(("at", "zone", "day", "when", "expected"), [
    ("2026-12-15 12:00", NY, 1, time(9, 30), "2027-01-01 14:30"),  # across the year end, EST
    ("2026-12-01 14:30", NY, 1, time(9, 30), "2027-01-01 14:30"),  # exactly at the reindex: the next one
    ("2026-12-01 14:29:59", NY, 1, time(9, 30), "2026-12-01 14:30"),  # a second before: this one
    ("2026-06-20 00:00", NY, 1, time(9, 30), "2026-07-01 13:30"),  # summer, EDT
    ("2026-03-01 14:30", NY, 1, time(9, 30), "2026-04-01 13:30"),  # the clocks change in between
    ("2026-01-20 00:00", NY, 15, time(16), "2026-02-15 21:00"),
    ("2026-01-01 04:59:59", NY, 28, time(0), "2026-01-28 05:00"),  # 2025-12-31 23:59:59 in New York
    ("2026-01-31 23:00", "Asia/Tokyo", 1, time(9), "2026-02-01 00:00"),  # 08:00 JST on the 1st
])
def test_next_reindex_at(at: str, zone: str, day: int, when: time, expected: str) -> None:
    assert next_reindex_at(utc(at), zone, day, when) == utc(expected)


def test_next_reindex_defaults_and_bad_day() -> None:
    assert next_reindex_at(utc("2026-02-10 00:00"), NY) == utc("2026-03-01 14:30")  # 1st, 09:30
    for day in (0, 29):
        with pytest.raises(ValueError, match=f"reindex day {day}"):
            next_reindex_at(0, NY, day)


def test_plan_reindex_avgo_replaces_tsla() -> None:
    caps = {**MAG7_CAPS, "TSLA": D(300), "AVGO": D(500)}  # total 2110+2070+1900+1410+1270+790+500 = 10050
    plan = plan_reindex(MAG7_SHARES, caps, 7, at=1_790_000_000)
    assert plan.added == ("AVGO",)
    assert plan.removed == ("TSLA",)
    assert plan.current == MAG7_SHARES
    assert plan.next == market_cap_shares(caps, 7) and sum(plan.next.values()) == SHARE_TOTAL
    assert plan.next["AVGO"] == 4975124378109452736  # 500e20 / 10050 = 4975124378109452736.3
    assert plan.at == 1_790_000_000


def test_plan_reindex_orders_joiners_by_share_then_symbol() -> None:
    current = {"A": 50 * E18, "B": 50 * E18}
    plan = plan_reindex(current, {"A": D(1), "Y": D(1), "Z": D(2), "X": D(1), "B": D(0)}, 4, at=7)
    # total 5: Z 40e18, A, X and Y 20e18 each; Z joins first (largest), then X and Y by symbol; A stays, B leaves
    following = {"Z": 40 * E18, "A": 20 * E18, "X": 20 * E18, "Y": 20 * E18}
    assert plan == Reindex(current, following, ("Z", "X", "Y"), ("B",), 7)


def test_plan_reindex_with_no_change_and_a_copied_current() -> None:
    current = dict(MAG7_SHARES)
    plan = plan_reindex(current, MAG7_CAPS, 7, at=0)
    current["MSFT"] = 0
    assert plan.added == () and plan.removed == ()
    assert plan.next == plan.current == MAG7_SHARES
