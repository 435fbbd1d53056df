"""Announcements, the community members they reach, their fan-out into the outbox, and the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage.db import Database

ALL = "all"  # the scope of a configured moderator's announcement: every subscribed user
REFUSAL_WINDOW_SECONDS = 60  # a refusal is audited once per user and action in this long; repeats are counted
_COLUMNS = "id, author_id, platform, scope, origin_chat, texts, image, state, send_at, created_at, community_name"


@dataclass(frozen=True)
class Announcement:
    id: int
    author_id: int
    platform: str  # where the author drafted it
    scope: str  # ALL, or "<platform>:<community>" for a community moderator's own
    origin_chat: str | None  # the community's chat that also receives it
    texts: dict[str, str]  # locale -> text; "" is the default
    image: bytes | None
    state: str  # draft, scheduled, sending, done, cancelled
    send_at: int | None
    created_at: int
    community_name: str | None = None  # a community announcement's group title or server name, when drafted

    @property
    def default_text(self) -> str:
        return self.texts.get("", "")

    def text_for(self, locale: str) -> str:
        """The variant for `locale`, else the default text."""
        return self.texts.get(locale) or self.default_text


def _row(r: Any) -> Announcement:
    return Announcement(int(r[0]), int(r[1]), str(r[2]), str(r[3]), r[4], json.loads(r[5]), r[6], str(r[7]),
                        int(r[8]) if r[8] is not None else None, int(r[9]), r[10])


def _in_scope(scope: str) -> tuple[str, list[Any]]:
    """The SQL condition (on users `u`) of the users a scope reaches, with its parameters."""
    if scope == ALL:
        return "1", []
    platform, community = scope.split(":", 1)
    return ("EXISTS (SELECT 1 FROM community_members m WHERE m.platform = ? AND m.community = ? AND m.user_id = u.id)",
            [platform, community])


_SUBSCRIBED = """FROM users u LEFT JOIN alert_settings s ON s.user_id = u.id
                 WHERE u.dm_chat IS NOT NULL AND u.blocked_at IS NULL AND COALESCE(s.announcement, 1) != 0"""


class AnnouncementRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    # -- announcements -----------------------------------------------------------------------------------

    async def create(self, author_id: int, platform: str, scope: str, origin_chat: str | None, text: str,
                     now: int | None = None, community_name: str | None = None) -> Announcement:
        """A new draft; the author's earlier drafts are dropped (one draft per author)."""
        at = int(self._clock()) if now is None else now
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE announcements SET state = 'cancelled' WHERE author_id = ? AND state = 'draft'", (author_id,))
            row = await tx.fetch_one(
                f"""INSERT INTO announcements (author_id, platform, scope, origin_chat, texts, state, created_at, community_name)
                    VALUES (?, ?, ?, ?, ?, 'draft', ?, ?) RETURNING {_COLUMNS}""",
                (author_id, platform, scope, origin_chat, json.dumps({"": text}), at, community_name),
            )
        assert row is not None
        return _row(row)

    async def get(self, announcement_id: int) -> Announcement | None:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM announcements WHERE id = ?", (announcement_id,))
        return _row(row) if row else None

    async def author_identity(self, author_id: int) -> tuple[str, str] | None:
        """(platform, platform user id) of an announcement's author: their rights are checked again by them."""
        row = await self._db.fetch_one("SELECT platform, platform_user_id FROM users WHERE id = ?", (author_id,))
        return (str(row[0]), str(row[1])) if row else None

    async def latest(self, author_id: int, states: Sequence[str]) -> Announcement | None:
        """The author's most recent announcement in one of `states`."""
        marks = ",".join("?" * len(states))
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM announcements WHERE author_id = ? AND state IN ({marks}) ORDER BY id DESC LIMIT 1",
            (author_id, *states),
        )
        return _row(row) if row else None

    async def in_state(self, state: str) -> list[Announcement]:
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM announcements WHERE state = ? ORDER BY id", (state,))
        return [_row(r) for r in rows]

    async def set_text(self, announcement_id: int, locale: str, text: str) -> Announcement | None:
        """Add or replace the variant for `locale` of a draft; None when it is no longer a draft."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"""UPDATE announcements SET texts = json_set(texts, '$."' || ? || '"', ?)
                    WHERE id = ? AND state = 'draft' RETURNING {_COLUMNS}""",
                (locale, text, announcement_id),
            )
        return _row(row) if row else None

    async def move(self, announcement_id: int, from_states: Sequence[str], to_state: str,
                   send_at: int | None = None) -> bool:
        """Change the state if it is one of `from_states` (compare-and-set); whether it changed."""
        marks = ",".join("?" * len(from_states))
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                f"""UPDATE announcements SET state = ?, send_at = COALESCE(?, send_at)
                    WHERE id = ? AND state IN ({marks})""",
                (to_state, send_at, announcement_id, *from_states),
            )
        return changed > 0

    # -- recipients and progress ---------------------------------------------------------------------------

    async def count_recipients(self, scope: str) -> int:
        """Subscribed users the scope reaches now (a private chat known, not blocked, announcements on)."""
        condition, params = _in_scope(scope)
        row = await self._db.fetch_one(f"SELECT COUNT(*) {_SUBSCRIBED} AND {condition}", params)
        return int(row[0]) if row else 0

    async def fan_out(self, announcement_id: int, scope: str, payload: str, now: int | None = None) -> int:
        """One outbox row per subscribed user in scope, in one INSERT ... SELECT; users who have theirs already
        (a fan-out resumed after a crash) are skipped by the dedupe key. How many rows were added."""
        at = int(self._clock()) if now is None else now
        condition, params = _in_scope(scope)
        async with self._db.transaction() as tx:
            return await tx.execute(
                f"""INSERT INTO outbox (platform, chat_id, user_id, kind, priority, urgent, dedupe, payload,
                                        announcement_id, due_at, created_at)
                    SELECT u.platform, u.dm_chat, u.id, 'announcement', 2, 0, 'announce:' || ? || ':' || u.id, ?, ?, ?, ?
                    {_SUBSCRIBED} AND {condition}
                    ON CONFLICT (dedupe) DO NOTHING""",
                (announcement_id, payload, announcement_id, at, at, *params),
            )

    async def progress(self, announcement_id: int) -> dict[str, int]:
        """Outbox rows of the announcement by state."""
        rows = await self._db.fetch_all(
            "SELECT state, COUNT(*) FROM outbox WHERE announcement_id = ? GROUP BY state", (announcement_id,)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def stop_pending(self, announcement_id: int) -> int:
        """Its outbox rows not yet sent become 'cancelled'; how many."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                "UPDATE outbox SET state = 'cancelled' WHERE announcement_id = ? AND state = 'pending'", (announcement_id,)
            )

    # -- communities and the audit log ---------------------------------------------------------------------

    async def join(self, platform: str, community: str, user_id: int) -> None:
        """Remember that the user uses the bot in this group or server."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO community_members (platform, community, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (platform, community, user_id),
            )

    async def audit(self, user_id: int | None, action: str, detail: dict[str, Any], now: int | None = None) -> None:
        at = int(self._clock()) if now is None else now
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO audit_log (at, user_id, action, detail) VALUES (?, ?, ?, ?)",
                (at, user_id, action, json.dumps(detail, ensure_ascii=False, sort_keys=True)),
            )

    async def audit_refusal(self, user_id: int, action: str, detail: dict[str, Any], now: int | None = None,
                            window: int = REFUSAL_WINDOW_SECONDS) -> bool:
        """Audit a refusal at most once per user and action per `window` seconds: a repeat within it counts on
        the line already written (`repeats`, `last_at`) instead of adding one. Whether a line was added."""
        at = int(self._clock()) if now is None else now
        async with self._db.transaction() as tx:
            counted = await tx.execute(
                """UPDATE audit_log SET repeats = repeats + 1, last_at = ?
                   WHERE id = (SELECT id FROM audit_log WHERE user_id = ? AND action = ? AND at > ? ORDER BY id DESC LIMIT 1)""",
                (at, user_id, action, at - window),
            )
            if counted:
                return False
            await tx.execute(
                "INSERT INTO audit_log (at, user_id, action, detail) VALUES (?, ?, ?, ?)",
                (at, user_id, action, json.dumps(detail, ensure_ascii=False, sort_keys=True)),
            )
        return True

    async def audit_trail(self, action_prefix: str = "") -> list[tuple[int | None, str, dict[str, Any]]]:
        """(user, action, detail) of the audit log in order, optionally only actions starting with a prefix."""
        rows = await self._db.fetch_all(
            "SELECT user_id, action, detail FROM audit_log WHERE action LIKE ? || '%' ORDER BY id", (action_prefix,)
        )
        return [(r[0], str(r[1]), json.loads(r[2])) for r in rows]
