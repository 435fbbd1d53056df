"""Time as a test sets it."""

from __future__ import annotations

from datetime import datetime, timezone


def utc(text: str) -> int:
    """'2026-01-12 14:30[:ss]' read as UTC, in unix seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


class Clock:
    """A clock the test sets: `now`, in unix seconds or as a datetime's moment; called, it tells that time. (The
    copies differed only in what they were started with: a datetime in test_outbox.py, seconds with a default in
    test_wallets.py; each is taken as it was.)"""

    def __init__(self, now: float | datetime = 1_700_000_000.0) -> None:
        self.now = now.timestamp() if isinstance(now, datetime) else now

    def __call__(self) -> float:
        return self.now
