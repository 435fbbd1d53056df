"""`/announce at` times: `HH:MM` (the next such time) or `YYYY-MM-DD HH:MM`, in the moderator's time zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")  # ASCII digits only (\d takes any script's)
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")


def parse_when(words: tuple[str, ...], zone: str, now: float) -> int | None:
    """Unix time of `HH:MM` (today in `zone` if still ahead, else tomorrow) or `YYYY-MM-DD HH:MM`; None when the
    words are neither. A date-time already past is returned as it is: the caller refuses it."""
    tz = ZoneInfo(zone)
    if len(words) == 1 and (clock := _CLOCK.match(words[0])):
        local_now = datetime.fromtimestamp(now, tz)
        at = local_now.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        if at.timestamp() <= now:
            at = (at.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
        return int(at.timestamp())
    if len(words) == 2 and (date := _DATE.match(words[0])) and (clock := _CLOCK.match(words[1])):
        try:
            at = datetime(int(date[1]), int(date[2]), int(date[3]), int(clock[1]), int(clock[2]), tzinfo=tz)
        except ValueError:  # 2026-02-30
            return None
        return int(at.timestamp())
    return None
