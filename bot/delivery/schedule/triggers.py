"""A job's trigger as JSON, and its fire times computed by APScheduler's own trigger objects.

A durable job (bot.delivery.schedule.durable) lives in a database row, so its trigger is written out explicitly: the
three kinds features use (`DateTrigger` or a `datetime`, `IntervalTrigger`, `CronTrigger` with its time zone) as
plain fields, never pickled, so a row can hold data but never code. Anything else is refused when the job is put.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
TICK = timedelta(microseconds=1)


def as_trigger(when: Any) -> BaseTrigger:
    """A `datetime` is a one-shot trigger at that time (UTC when naive)."""
    return DateTrigger(when, timezone=UTC) if isinstance(when, datetime) else when


def to_json(trigger: BaseTrigger) -> dict[str, Any]:
    """The trigger's fields as JSON; ValueError for a kind a row cannot hold."""
    if getattr(trigger, "jitter", None):
        raise ValueError("a durable job's trigger cannot have jitter")
    if isinstance(trigger, DateTrigger):
        return {"kind": "date", "at": trigger.run_date.isoformat()}
    if isinstance(trigger, IntervalTrigger):
        return {"kind": "interval", "seconds": trigger.interval.total_seconds(), "timezone": _zone(trigger.timezone),
                "start": _iso(trigger.start_date), "end": _iso(trigger.end_date)}
    if isinstance(trigger, CronTrigger):
        fields = {field.name: str(field) for field in trigger.fields}
        return {"kind": "cron", "fields": fields, "timezone": _zone(trigger.timezone),
                "start": _iso(trigger.start_date), "end": _iso(trigger.end_date)}
    raise ValueError(f"a durable job's trigger must be a date, an interval or a cron trigger, not {type(trigger).__name__}")


def from_json(data: dict[str, Any]) -> BaseTrigger:
    """The trigger `to_json` wrote; ValueError for anything else."""
    kind = data.get("kind")
    if kind == "date":
        return DateTrigger(datetime.fromisoformat(data["at"]))
    zone = ZoneInfo(str(data["timezone"]))
    start, end = _date(data.get("start")), _date(data.get("end"))
    if kind == "interval":
        return IntervalTrigger(seconds=float(data["seconds"]), start_date=start, end_date=end, timezone=zone)
    if kind == "cron":
        fields = {name: str(value) for name, value in data["fields"].items() if name in CRON_FIELDS}
        return CronTrigger(**fields, start_date=start, end_date=end, timezone=zone)
    raise ValueError(f"unknown trigger kind {kind!r}")


def first(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The first fire time of a job put now (a date in the past included: it is overdue, or missed)."""
    return trigger.get_next_fire_time(None, now)  # type: ignore[no-any-return]


def following(trigger: BaseTrigger, due: datetime, now: datetime) -> datetime | None:
    """The run after the one due at `due` that runs at `now`: the first fire time after both, so runs missed while
    this one was late are not made up one by one (they are coalesced into this one, as APScheduler's `coalesce`)."""
    if isinstance(trigger, DateTrigger):
        return None
    return trigger.get_next_fire_time(None, max(due, now) + TICK)  # type: ignore[no-any-return]


def same_job(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a waiting job already is the job a `put` asks for: the same call, arguments, grace and trigger; an
    interval's start (when the trigger object was made, by default) does not count, so every worker putting the
    same job at start keeps the one that waits rather than replacing it with itself."""
    def key(spec: dict[str, Any]) -> dict[str, Any]:
        trigger = dict(spec.get("trigger") or {})
        if trigger.get("kind") == "interval":
            trigger.pop("start", None)
        return {"call": spec.get("call"), "args": spec.get("args"), "grace": spec.get("grace"), "trigger": trigger}

    return key(stored) == key(wanted)


def _zone(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)  # ZoneInfo's key; datetime.UTC is "UTC"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _date(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None
