"""When a DCA plan runs: daily or weekly at a local time in the plan's IANA zone.

`trigger` is the plan's APScheduler `CronTrigger`; `last_due` is the run time a firing belongs to (the newest
scheduled time at or before now), which makes the run row's key: a job fired twice, or late, finds the same one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.core.errors import UserError
from bot.storage.dca import NewPlan

CADENCES = ("daily", "weekly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def parse_cadence(typed: str) -> str:
    cadence = typed.strip().lower()
    if cadence not in CADENCES:
        raise UserError("dca.error.cadence", value=typed[:24], valid=", ".join(CADENCES))
    return cadence


def parse_time(typed: str) -> int:
    """`09:00`, `9:00`, `18:30` -> minutes after midnight; anything else is refused."""
    match = _TIME.match(typed.strip())
    if match is None:
        raise UserError("dca.error.time", value=typed[:24])
    return int(match.group(1)) * 60 + int(match.group(2))


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def trigger(plan: NewPlan) -> CronTrigger:
    hour, minute = divmod(plan.at_minute, 60)
    if plan.cadence == "weekly":
        assert plan.weekday is not None
        return CronTrigger(day_of_week=WEEKDAYS[plan.weekday], hour=hour, minute=minute, timezone=ZoneInfo(plan.zone))
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(plan.zone))


def next_run(plan: NewPlan, now: float) -> int | None:
    """Unix time of the plan's next run after `now`."""
    when = trigger(plan).get_next_fire_time(None, datetime.fromtimestamp(now, UTC))
    return int(when.timestamp()) if when is not None else None


def last_due(plan: NewPlan, now: float) -> int:
    """Unix time of the newest scheduled run at or before `now` (the run a firing at `now` belongs to)."""
    zone = ZoneInfo(plan.zone)
    local = datetime.fromtimestamp(now, zone)
    hour, minute = divmod(plan.at_minute, 60)
    step = timedelta(days=7 if plan.cadence == "weekly" else 1)
    day = local.date()
    if plan.cadence == "weekly":
        assert plan.weekday is not None
        day -= timedelta(days=(day.weekday() - plan.weekday) % 7)
    while True:
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if candidate.timestamp() <= now:
            return int(candidate.timestamp())
        day -= step
