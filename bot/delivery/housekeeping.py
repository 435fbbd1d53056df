"""Unused rows are purged on a schedule (job `purge:rows`): expired buttons, audit lines past their retention,
the outbox's finished messages past theirs, and /connect links that expired unused a day ago. `[retention]` in the TOML file:

```toml
[retention]
audit_days = 180        # audit lines (announcements, refusals) are kept this long after their last event
outbox_days = 30        # sent, refused or cancelled messages are kept this long (their /announce status counts)
every_minutes = 60      # how often the purge runs
```

The outbox's dedupe keys go with its rows: every producer's key names something that happens once and is
never produced again weeks later (a credited day, an alert's firing count, a cooldown's end, an announcement),
so a retention of days is safe; a pending or in-flight message is never purged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.schedule import Schedule
from bot.storage.purge import PurgeRows
from bot.storage.repositories import ButtonRows

log = logging.getLogger(__name__)

PURGE_JOB = "purge:rows"
DAY = 24 * 3600


class RetentionConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Retention:
    audit_days: int = 180
    outbox_days: int = 30
    every_minutes: int = 60


def parse_retention(table: Mapping[str, Any]) -> Retention:
    """The `[retention]` table: whole positive numbers; unknown keys refused."""
    known = {"audit_days", "outbox_days", "every_minutes"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise RetentionConfigError(f"[retention] has unknown keys {unknown}; known: {sorted(known)}")
    values = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise RetentionConfigError(f"[retention] {key} must be a whole number above 0, got {value!r}")
        values[key] = value
    return Retention(**values)


class Housekeeping:
    def __init__(self, buttons: ButtonRows, rows: PurgeRows, retention: Retention,
                 clock: Callable[[], float] = time.time) -> None:
        self.buttons = buttons
        self.rows = rows
        self.retention = retention
        self._clock = clock

    async def plan(self, schedule: Schedule) -> None:
        """Put the job (a schedule's start-up step: `schedule.rebuild(partial(housekeeping.plan, schedule))`)."""
        schedule.put(PURGE_JOB, IntervalTrigger(minutes=self.retention.every_minutes), self.purge)

    async def purge(self) -> dict[str, int]:
        """One pass; how many rows of each kind went."""
        now = int(self._clock())
        gone = {
            "buttons": await self.buttons.purge_expired(now),
            "audit": await self.rows.audit_before(now - self.retention.audit_days * DAY),
            "outbox": await self.rows.outbox_finished_before(now - self.retention.outbox_days * DAY),
            "telegram updates": await self.rows.telegram_updates_handled_before(now - DAY),  # Telegram's redelivery is over
            "connect links": await self.rows.connect_links_unused_before(now - DAY),  # a day on, "expired" becomes "unknown"
            "mini app sign-ins": await self.rows.miniapp_init_data_expired(now),  # too old to be accepted again anyway
            "questions": await self.rows.questions_expired_before(now - DAY),  # a late answer was told it timed out
        }
        if any(gone.values()):
            log.info("purged %s", ", ".join(f"{n} {kind}" for kind, n in gone.items()))
        return gone
