"""Quiet hours: a window of the user's local day (minutes after midnight, in their /timezone) in which
non-urgent messages wait. A window may wrap past midnight (22:00-07:00)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def inside(minute: int, start: int, end: int) -> bool:
    if start == end:
        return False
    return start <= minute < end if start < end else minute >= start or minute < end


def quiet_until(now: int, zone: str, window: tuple[int, int] | None) -> int | None:
    """The unix time quiet hours end, when `now` falls inside them; None otherwise."""
    if window is None:
        return None
    start, end = window
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    if not inside(minute, start, end):
        return None
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ends = day + timedelta(minutes=end)
    if ends <= local:
        ends += timedelta(days=1)
    # Wall-clock arithmetic in the zone (a DST change inside the window moves the end with the clock).
    ends = ends.replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone))
    return int(ends.timestamp())
