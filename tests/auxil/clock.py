"""Time as a test sets it."""

from __future__ import annotations

from datetime import datetime, timezone


def utc(text: str) -> int:
    """'2026-01-12 14:30[:ss]' read as UTC, in unix seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())
