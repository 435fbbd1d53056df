"""Market hours: open inclusive, close exclusive, local weekdays, holidays and daylight saving, config errors.

Expected moments are worked out by hand in UTC. New York is UTC-5 (EST) until Sun 2026-03-08 and from
Sun 2026-11-01, UTC-4 (EDT) in between, so its 09:30-16:00 session is 14:30-21:00 UTC in winter and
13:30-20:00 UTC in summer. London is UTC+0 until Sun 2026-03-29, then UTC+1. Tokyo is UTC+9, no DST.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest

from bot.issuance.hours import ALWAYS_OPEN, MarketHours
from auxil.clock import utc

NYSE_CONFIG: dict[str, Any] = {
    "zone": "America/New_York", "open": "09:30", "close": "16:00",
    "days": ["mon", "tue", "wed", "thu", "fri"], "holidays": ["2026-12-25"],
}
NYSE = MarketHours.from_config(NYSE_CONFIG)
LSE = MarketHours.from_config({"zone": "Europe/London", "open": "08:00", "close": "16:30",
                               "days": ["mon", "tue", "wed", "thu", "fri"]})
TSE = MarketHours.from_config({"zone": "Asia/Tokyo", "open": "09:00", "close": "15:00",
                               "days": ["mon", "tue", "wed", "thu", "fri"]})
WEEKDAYS_UTC = MarketHours.from_config({"zone": "UTC", "open": "00:00", "close": "24:00",
                                        "days": ["mon", "tue", "wed", "thu", "fri"]})


# (market, ts UTC, is_open, next_open UTC, next_close UTC)
CASES = [
    # winter Monday 2026-01-12, EST: open 14:30 UTC, close 21:00 UTC
    (NYSE, "2026-01-12 14:29:59", False, "2026-01-12 14:30", "2026-01-12 21:00"),
    (NYSE, "2026-01-12 14:30", True, "2026-01-12 14:30", "2026-01-12 21:00"),  # exactly at open: open
    (NYSE, "2026-01-12 18:00", True, "2026-01-12 18:00", "2026-01-12 21:00"),
    (NYSE, "2026-01-12 20:59:59", True, "2026-01-12 20:59:59", "2026-01-12 21:00"),
    (NYSE, "2026-01-12 21:00", False, "2026-01-13 14:30", "2026-01-13 21:00"),  # exactly at close: closed
    (NYSE, "2026-01-12 13:30", False, "2026-01-12 14:30", "2026-01-12 21:00"),  # the summer open, in winter
    # summer Monday 2026-07-13, EDT: open 13:30 UTC, close 20:00 UTC
    (NYSE, "2026-07-13 13:29:59", False, "2026-07-13 13:30", "2026-07-13 20:00"),
    (NYSE, "2026-07-13 13:30", True, "2026-07-13 13:30", "2026-07-13 20:00"),
    (NYSE, "2026-07-13 20:00", False, "2026-07-14 13:30", "2026-07-14 20:00"),
    (NYSE, "2026-07-13 20:30", False, "2026-07-14 13:30", "2026-07-14 20:00"),  # the winter close, in summer
    # weekend: Sat 2026-01-17 -> Mon 2026-01-19 14:30 UTC
    (NYSE, "2026-01-17 15:00", False, "2026-01-19 14:30", "2026-01-19 21:00"),
    # Friday close in EST, Monday open in EDT (clocks went forward Sun 2026-03-08)
    (NYSE, "2026-03-06 21:00", False, "2026-03-09 13:30", "2026-03-09 20:00"),
    # Friday close in EDT, Monday open in EST (clocks went back Sun 2026-11-01)
    (NYSE, "2026-10-30 20:00", False, "2026-11-02 14:30", "2026-11-02 21:00"),
    # holiday Fri 2026-12-25: Thursday's close waits for Monday 2026-12-28
    (NYSE, "2026-12-24 21:00", False, "2026-12-28 14:30", "2026-12-28 21:00"),
    (NYSE, "2026-12-25 15:00", False, "2026-12-28 14:30", "2026-12-28 21:00"),  # would be open but a holiday
    # London: GMT on 2026-03-16 (NY already on EDT), BST on 2026-04-13
    (LSE, "2026-03-16 08:00", True, "2026-03-16 08:00", "2026-03-16 16:30"),
    (LSE, "2026-03-16 07:59:59", False, "2026-03-16 08:00", "2026-03-16 16:30"),
    (LSE, "2026-04-13 07:00", True, "2026-04-13 07:00", "2026-04-13 15:30"),
    (LSE, "2026-04-13 15:30", False, "2026-04-14 07:00", "2026-04-14 15:30"),
    # Tokyo: Monday 09:00 JST is Sunday 00:00 UTC, so the local day is not the UTC day
    (TSE, "2026-01-11 23:59:59", False, "2026-01-12 00:00", "2026-01-12 06:00"),
    (TSE, "2026-01-12 00:00", True, "2026-01-12 00:00", "2026-01-12 06:00"),
    (TSE, "2026-01-16 06:00", False, "2026-01-19 00:00", "2026-01-19 06:00"),  # Friday close -> Monday
    # close 24:00: open to the end of Friday, closed on Saturday from 00:00; back-to-back days are one session
    (WEEKDAYS_UTC, "2026-01-16 23:59:59", True, "2026-01-16 23:59:59", "2026-01-17 00:00"),
    (WEEKDAYS_UTC, "2026-01-17 00:00", False, "2026-01-19 00:00", "2026-01-24 00:00"),
    (WEEKDAYS_UTC, "2026-01-12 00:00", True, "2026-01-12 00:00", "2026-01-17 00:00"),
    (WEEKDAYS_UTC, "2026-01-14 08:00", True, "2026-01-14 08:00", "2026-01-17 00:00"),
    # always open: it never closes (not "until midnight", where the next day's session begins)
    (ALWAYS_OPEN, "2026-01-17 12:34:56", True, "2026-01-17 12:34:56", None),
    (ALWAYS_OPEN, "2026-01-18 00:00", True, "2026-01-18 00:00", None),
]


@pytest.mark.parametrize(("hours", "at", "is_open", "next_open", "next_close"), CASES)
def test_hours(hours: MarketHours, at: str, is_open: bool, next_open: str, next_close: str | None) -> None:
    ts = utc(at)
    assert hours.is_open(ts) is is_open
    assert hours.next_open(ts) == utc(next_open)
    assert hours.next_close(ts) == (None if next_close is None else utc(next_close))


def test_a_market_closed_for_longer_than_the_search_horizon_raises() -> None:
    holidays = frozenset(date.fromordinal(date(2026, 1, 1).toordinal() + n) for n in range(500))
    hours = MarketHours("UTC", time(9), time(17), frozenset(range(7)), holidays)
    with pytest.raises(ValueError, match="does not open within"):
        hours.next_open(utc("2026-01-01 00:00"))


def test_config_round_trips() -> None:
    assert NYSE.to_config() == NYSE_CONFIG
    assert NYSE.close == time(16) and NYSE.days == frozenset(range(5)) and NYSE.holidays == {date(2026, 12, 25)}
    for hours in (NYSE, LSE, TSE, WEEKDAYS_UTC, ALWAYS_OPEN):
        assert MarketHours.from_config(hours.to_config()) == hours
    assert ALWAYS_OPEN.to_config()["close"] == "24:00"
    assert MarketHours.from_config({**NYSE_CONFIG, "days": ["FRI", "Mon"]}).days == frozenset({0, 4})


# (override of NYSE_CONFIG, what the error must name)
BAD_CONFIGS: list[tuple[dict[str, Any], list[str]]] = [
    ({"zone": "Mars/Olympus_Mons"}, ["market_hours.zone", "'Mars/Olympus_Mons'"]),
    ({"zone": ""}, ["market_hours.zone", "''"]),
    ({"zone": None}, ["market_hours.zone", "None"]),
    ({"open": "9:30"}, ["market_hours.open", "'9:30'"]),
    ({"open": "24:00"}, ["market_hours.open", "'24:00'"]),
    ({"open": None}, ["market_hours.open", "None"]),
    ({"close": "16:60"}, ["market_hours.close", "'16:60'"]),
    ({"close": "09:30"}, ["market_hours.close", "'09:30'"]),  # equal to open
    ({"close": "08:00"}, ["market_hours.close", "'08:00'"]),  # before open
    ({"days": ["mon", "funday"]}, ["market_hours.days", "'funday'"]),
    ({"days": []}, ["market_hours.days", "at least one"]),
    ({"days": "mon"}, ["market_hours.days", "'mon'"]),
    ({"days": [0, 1]}, ["market_hours.days", "0"]),
    ({"holidays": ["2026-13-01"]}, ["market_hours.holidays", "'2026-13-01'"]),
    ({"holidays": ["25/12/2026"]}, ["market_hours.holidays", "'25/12/2026'"]),
    ({"holidays": "2026-12-25"}, ["market_hours.holidays", "'2026-12-25'"]),
]


@pytest.mark.parametrize(("override", "named"), BAD_CONFIGS)
def test_config_errors_name_the_key_and_value(override: dict[str, Any], named: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        MarketHours.from_config({**NYSE_CONFIG, **override})
    for text in named:
        assert text in str(err.value)


def test_missing_days_and_direct_construction_are_checked() -> None:
    without_days = {k: v for k, v in NYSE_CONFIG.items() if k != "days"}
    with pytest.raises(ValueError, match="market_hours.days"):
        MarketHours.from_config(without_days)
    with pytest.raises(ValueError, match="market_hours.days"):
        MarketHours("UTC", time(9), time(17), frozenset())
    with pytest.raises(ValueError, match="market_hours.days"):
        MarketHours("UTC", time(9), time(17), frozenset({7}))
    with pytest.raises(ValueError, match="market_hours.close"):
        MarketHours("UTC", time(9), time(9), frozenset({0}))


@pytest.mark.parametrize(("hours", "at", "key", "when"), [
    (NYSE, "2026-01-12 18:00", "issuance.market.open", "2026-01-12 21:00"),
    (NYSE, "2026-01-17 15:00", "issuance.market.closed", "2026-01-19 14:30"),
    (WEEKDAYS_UTC, "2026-01-14 08:00", "issuance.market.open", "2026-01-17 00:00"),  # Friday night, not tonight
    (ALWAYS_OPEN, "2026-01-14 08:00", "issuance.market.always", None),
])
def test_what_the_quote_says_of_the_market(hours: MarketHours, at: str, key: str, when: str | None) -> None:
    from bot.issuance.present import market_line

    line = market_line(hours, utc(at))
    assert line.key == key
    assert [p.timestamp for p in line.params.values()] == ([] if when is None else [utc(when)])  # type: ignore[attr-defined]
