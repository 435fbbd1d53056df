"""What the points commands show besides the ledger's numbers: when the next snapshot is, and how a user
appears on the leaderboard (the name they chose with /name, else an anonymous tag derived from their row id,
never a platform handle or display name)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta

from bot.core.errors import UserError
from bot.core.messages import Count
from bot.points.config import PointsConfig

NAME_MIN, NAME_MAX = 2, 24
NAME_EXTRA = " ._-"  # besides letters and digits (any script)
_WEB = re.compile(r"(^|[^A-Za-z0-9])www\.|[A-Za-z0-9-]\.[A-Za-z]{2,}($|[ ._-])", re.IGNORECASE)  # a domain: x.com, www.x


def next_snapshot(config: PointsConfig, now: float) -> int:
    """Unix seconds of the next daily snapshot (config.snapshot_at, UTC) strictly after `now`."""
    moment = datetime.fromtimestamp(now, UTC)
    at = datetime.combine(moment.date(), config.snapshot_at, UTC)
    if at <= moment:
        at += timedelta(days=1)
    return int(at.timestamp())


def today(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()


def anonymous_tag(user_id: int) -> str:
    """A short tag that is the same for a user every time and says nothing about who they are."""
    return hashlib.sha256(f"indexbot/leaderboard/{user_id}".encode()).hexdigest()[:6].upper()


def leaderboard_name(typed: str) -> str:
    """A /name as stored: whitespace collapsed; refused (UserError, nothing changed) unless it is 2-24 letters,
    digits, spaces, dots, underscores or hyphens with at least one letter or digit, and not a web address."""
    name = " ".join(unicodedata.normalize("NFKC", typed).split())  # fullwidth and styled letters as plain ones
    ok = (
        NAME_MIN <= len(name) <= NAME_MAX
        and all(c.isalnum() or c in NAME_EXTRA for c in name)
        and any(c.isalnum() for c in name)
        and not _WEB.search(name)
    )
    if not ok:
        raise UserError("error.name.invalid", min=NAME_MIN, count=Count(NAME_MAX))
    return name
