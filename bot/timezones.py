"""Users' time zones: IANA names (`Asia/Shanghai`), validated against the system's zoneinfo database.

Every time the bot shows is rendered in the user's zone (`bot.core.messages.When`); the default is UTC.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_ZONE = "UTC"
EXAMPLES = ("UTC", "Asia/Shanghai", "Asia/Singapore", "Europe/London", "America/New_York")
_NOT_ZONES = {"localtime", "posixrules", "factory"}  # files some tz databases ship that name no real zone


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """Lower-cased name -> canonical IANA name, for every zone zoneinfo knows."""
    return {name.lower(): name for name in available_timezones() if name.lower() not in _NOT_ZONES}


def canonical_zone(typed: str) -> str | None:
    """The IANA name for `typed` (any case: `asia/shanghai` -> `Asia/Shanghai`), or None if there is no such zone."""
    text = typed.strip()
    if not text or len(text) > 64:
        return None
    name = _zones().get(text.lower())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
