"""When a stock market is open: a daily session on chosen weekdays in the market's own time zone, less holidays.

An issued stock index is filled only while its constituents' market is open, so the bot tells a user when a
pending request is expected to complete (`next_open`, `next_close`). Opening is inclusive and closing exclusive.
Days are the market's local weekdays (0 = Monday) and daylight saving follows the zone: New York's 09:30 open is
14:30 UTC in winter and 13:30 UTC in summer. A holiday closes the whole local day.

A close of 24:00 (end of the day) is written "24:00" in config and held as `time(0)`: a close at midnight
could not otherwise come after the open, so it is unambiguous. Each day is its own session, so a market open
00:00-24:00 every day closes at each midnight and reopens at the same instant (`is_open` stays true).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY = "24:00"
_MIDNIGHT = time(0)
_HORIZON_DAYS = 400  # how far ahead a session is looked for before giving up
_WEEK = 7 * 24 * 3600
_HHMM = re.compile(r"(\d\d):(\d\d)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


@dataclass(frozen=True)
class MarketHours:
    """The weekly trading window of one market, e.g. New York 09:30-16:00 Monday to Friday."""

    zone: str  # IANA zone the times and holidays are in, e.g. "America/New_York"
    open: time  # local opening time (inclusive)
    close: time  # local closing time (exclusive); time(0) means 24:00, the end of the day
    days: frozenset[int]  # local weekdays the market opens, 0 = Monday
    holidays: frozenset[date] = frozenset()  # local dates it stays closed all day

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"market_hours.zone: {self.zone!r} is not an IANA time zone") from None
        if self.close != _MIDNIGHT and self.close <= self.open:
            raise ValueError(f"market_hours.close: {_fmt(self.close)!r} is not after open {_fmt(self.open)!r}")
        if not self.days:
            raise ValueError("market_hours.days: at least one day is needed")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"market_hours.days: {sorted(self.days)!r} are not all weekdays 0..6")

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> MarketHours:
        """From {zone, open "09:30", close "16:00" | "24:00", days ["mon", ...], holidays ["2026-12-25", ...]}
        (holidays optional); ValueError naming the bad key and value."""
        days_raw = raw.get("days")
        if not isinstance(days_raw, (list, tuple)):
            raise ValueError(f"market_hours.days: {days_raw!r} is not a list of day names like 'mon'")
        days = frozenset(_day(name) for name in days_raw)
        holidays_raw = raw.get("holidays", ())
        if not isinstance(holidays_raw, (list, tuple)):
            raise ValueError(f"market_hours.holidays: {holidays_raw!r} is not a list of YYYY-MM-DD dates")
        zone = raw.get("zone")
        if not isinstance(zone, str):
            raise ValueError(f"market_hours.zone: {zone!r} is not an IANA time zone")
        return cls(
            zone=zone,
            open=_hhmm(raw.get("open"), "open"),
            close=_MIDNIGHT if raw.get("close") == END_OF_DAY else _hhmm(raw.get("close"), "close"),
            days=days,
            holidays=frozenset(_holiday(d) for d in holidays_raw),
        )

    def to_config(self) -> dict[str, Any]:
        """The config mapping `from_config` reads back to an equal MarketHours."""
        return {
            "zone": self.zone,
            "open": _fmt(self.open),
            "close": END_OF_DAY if self.close == _MIDNIGHT else _fmt(self.close),
            "days": [DAY_NAMES[d] for d in sorted(self.days)],
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
        }

    def is_open(self, ts: int) -> bool:
        """Whether the market is trading at unix time `ts`."""
        start, _ = self._session(ts)
        return start <= ts

    def next_open(self, ts: int) -> int:
        """`ts` itself while the market is open, else the moment it next opens (unix seconds)."""
        start, _ = self._session(ts)
        return max(start, ts)

    def next_close(self, ts: int) -> int | None:
        """While open, the coming close; while closed, the close of the session that opens next. Sessions that
        run into each other (a 24-hour market's days) are one; None: the market never closes (open around
        the clock, every day)."""
        _, end = self._session(ts)
        return end

    def _session(self, ts: int) -> tuple[int, int | None]:
        """The session `ts` is in, else the next one, as unix seconds [start, end); back-to-back sessions are
        merged, and an end more than a week on is None (never closes)."""
        sessions = self._sessions_from(datetime.fromtimestamp(ts, ZoneInfo(self.zone)).date())
        for start, end in sessions:
            if ts < end:
                for later_start, later_end in sessions:
                    if later_start != end:
                        break
                    end = later_end
                    if end - start > _WEEK:
                        return start, None
                return start, end
        raise ValueError(f"the {self.zone} market does not open within {_HORIZON_DAYS} days of {ts}")

    def _sessions_from(self, first: date) -> Iterator[tuple[int, int]]:
        tz = ZoneInfo(self.zone)
        for n in range(_HORIZON_DAYS):
            day = first + timedelta(days=n)
            if day.weekday() not in self.days or day in self.holidays:
                continue
            end_day = day + timedelta(days=1) if self.close == _MIDNIGHT else day
            start = datetime.combine(day, self.open, tz)
            end = datetime.combine(end_day, self.close, tz)
            yield int(start.timestamp()), int(end.timestamp())


def _hhmm(value: Any, key: str) -> time:
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"market_hours.{key}: {value!r} is not a time like 09:30")
    return time(int(match[1]), int(match[2]))


def _day(name: Any) -> int:
    if not isinstance(name, str) or name.lower() not in DAY_NAMES:
        raise ValueError(f"market_hours.days: {name!r} is not one of {', '.join(DAY_NAMES)}")
    return DAY_NAMES.index(name.lower())


def _holiday(value: Any) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"market_hours.holidays: {value!r} is not a YYYY-MM-DD date")


def _fmt(t: time) -> str:
    return t.strftime("%H:%M")


ALWAYS_OPEN = MarketHours("UTC", time(0), _MIDNIGHT, frozenset(range(7)))
"""Open every day 00:00-24:00 UTC: a 24/7 market (and tests that need no hours)."""
