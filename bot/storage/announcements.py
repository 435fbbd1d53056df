"""Announcements, the community members they reach, their fan-out into the outbox, and the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Integer, Text, cast, exists, func, literal, select, update

from bot.storage.db import Database, Tx
from bot.storage.outbox import in_id_order
from bot.storage.schema import alert_settings, announcements, audit_log, community_members, outbox, users

ALL = "all"  # the scope of a configured moderator's announcement: every subscribed user
REFUSAL_WINDOW_SECONDS = 60  # a refusal is audited once per user and action in this long; repeats are counted
_a = announcements
_COLUMNS = (_a.c.id, _a.c.author_id, _a.c.platform, _a.c.scope, _a.c.origin_chat, _a.c.texts, _a.c.image, _a.c.state,
            _a.c.send_at, _a.c.created_at, _a.c.community_name)


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


def _subscribed(scope: str) -> tuple[FromClause, ColumnElement[bool]]:
    """The users (`users`, with their alert settings joined) a scope reaches now: a private chat known, the bot
    not blocked, announcements on, and for a community's scope, seen in that community."""
    s = alert_settings
    reached = (users.c.dm_chat.is_not(None) & users.c.blocked_at.is_(None)
               & (func.coalesce(s.c.announcement, 1) != 0))
    if scope != ALL:
        platform, community = scope.split(":", 1)
        m = community_members
        reached &= exists().where(m.c.platform == platform, m.c.community == community, m.c.user_id == users.c.id)
    return users.outerjoin(s, s.c.user_id == users.c.id), reached


async def _lock_user(tx: Tx, user_id: int) -> None:
    """Lock the user's row until the transaction ends (PostgreSQL: FOR NO KEY UPDATE, which rows referring to
    the user do not wait for; SQLite: no-op, one writer at a time), to serialize this user's writes below."""
    await tx.lock(select(users.c.id).where(users.c.id == user_id), key_share=True)


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
            # The author's row is locked first: on PostgreSQL two drafts begun at once would each cancel the
            # drafts they see and both stay drafts; the second now waits and cancels the first.
            await _lock_user(tx, author_id)
            await tx.execute(
                update(_a).where(_a.c.author_id == author_id, _a.c.state == "draft").values(state="cancelled")
            )
            row = await tx.fetch_one(
                tx.insert(_a).values(author_id=author_id, platform=platform, scope=scope, origin_chat=origin_chat,
                                     texts=json.dumps({"": text}), state="draft", created_at=at,
                                     community_name=community_name)
                .returning(*_COLUMNS)
            )
        assert row is not None
        return _row(row)

    async def get(self, announcement_id: int) -> Announcement | None:
        row = await self._db.fetch_one(select(*_COLUMNS).where(_a.c.id == announcement_id))
        return _row(row) if row else None

    async def author_identity(self, author_id: int) -> tuple[str, str] | None:
        """(platform, platform user id) of an announcement's author: their rights are checked again by them."""
        row = await self._db.fetch_one(
            select(users.c.platform, users.c.platform_user_id).where(users.c.id == author_id)
        )
        return (str(row[0]), str(row[1])) if row else None

    async def latest(self, author_id: int, states: Sequence[str]) -> Announcement | None:
        """The author's most recent announcement in one of `states`."""
        row = await self._db.fetch_one(
            select(*_COLUMNS).where(_a.c.author_id == author_id, _a.c.state.in_(list(states)))
            .order_by(_a.c.id.desc()).limit(1)
        )
        return _row(row) if row else None

    async def in_state(self, state: str) -> list[Announcement]:
        rows = await self._db.fetch_all(select(*_COLUMNS).where(_a.c.state == state).order_by(_a.c.id))
        return [_row(r) for r in rows]

    async def set_text(self, announcement_id: int, locale: str, text: str) -> Announcement | None:
        """Add or replace the variant for `locale` of a draft; None when it is no longer a draft."""
        draft = (_a.c.id == announcement_id) & (_a.c.state == "draft")
        async with self._db.transaction() as tx:
            # Read, change in Python, write back: the draft's row is locked by the read (PostgreSQL; SQLite has
            # one writer), so a variant added at the same moment is not lost and a draft sent meanwhile stays sent.
            found = await tx.fetch_one(select(_a.c.texts).where(draft).with_for_update())
            if found is None:
                return None
            texts = {**json.loads(found[0]), locale: text}
            row = await tx.fetch_one(
                update(_a).where(draft).values(texts=json.dumps(texts, ensure_ascii=False)).returning(*_COLUMNS)
            )
        return _row(row) if row else None

    async def move(self, announcement_id: int, from_states: Sequence[str], to_state: str,
                   send_at: int | None = None) -> bool:
        """Change the state if it is one of `from_states` (compare-and-set: a conditional UPDATE, which on
        PostgreSQL also re-checks the state once a concurrent mover commits); whether it changed."""
        values: dict[str, Any] = {"state": to_state}
        if send_at is not None:
            values["send_at"] = send_at
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                update(_a).where(_a.c.id == announcement_id, _a.c.state.in_(list(from_states))).values(values)
            )
        return changed > 0

    # -- recipients and progress ---------------------------------------------------------------------------

    async def count_recipients(self, scope: str) -> int:
        """Subscribed users the scope reaches now (a private chat known, not blocked, announcements on)."""
        joined, reached = _subscribed(scope)
        return int(await self._db.scalar(select(func.count()).select_from(joined).where(reached)) or 0)

    async def fan_out(self, announcement_id: int, scope: str, payload: str, now: int | None = None) -> int:
        """One outbox row per subscribed user in scope, in one INSERT ... SELECT; users who have theirs already
        (a fan-out resumed after a crash) are skipped by the dedupe key. How many rows were added."""
        at = int(self._clock()) if now is None else now
        joined, reached = _subscribed(scope)
        # In user order: two fan-outs of one announcement at once (PostgreSQL) wait on each other's keys in the
        # same order instead of deadlocking; ON CONFLICT DO NOTHING then skips what the other one stored.
        rows = (
            select(users.c.platform, users.c.dm_chat, users.c.id, literal("announcement", Text), literal(2, Integer),
                   literal(0, Integer), literal(f"announce:{announcement_id}:", Text) + cast(users.c.id, Text),
                   literal(payload, Text), literal(announcement_id, Integer), literal(at, Integer),
                   literal(at, Integer))
            .select_from(joined).where(reached).order_by(users.c.id)
        )
        columns = ["platform", "chat_id", "user_id", "kind", "priority", "urgent", "dedupe", "payload",
                   "announcement_id", "due_at", "created_at"]
        async with self._db.transaction() as tx:
            return await tx.execute(
                tx.insert(outbox).from_select(columns, rows).on_conflict_do_nothing(index_elements=["dedupe"])
                .execution_options(preserve_rowcount=True)  # an INSERT's row count is kept only when asked
            )

    async def progress(self, announcement_id: int) -> dict[str, int]:
        """Outbox rows of the announcement by state."""
        rows = await self._db.fetch_all(
            select(outbox.c.state, func.count()).where(outbox.c.announcement_id == announcement_id)
            .group_by(outbox.c.state)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def stop_pending(self, announcement_id: int) -> int:
        """Its outbox rows not yet sent become 'cancelled'; how many."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                update(outbox).where(in_id_order(tx.dialect, (outbox.c.announcement_id == announcement_id)
                                                 & (outbox.c.state == "pending")))
                .values(state="cancelled")
            )

    # -- communities and the audit log ---------------------------------------------------------------------

    async def join(self, platform: str, community: str, user_id: int) -> None:
        """Remember that the user uses the bot in this group or server."""
        async with self._db.transaction() as tx:
            await tx.execute(
                tx.insert(community_members).values(platform=platform, community=community, user_id=user_id)
                .on_conflict_do_nothing()
            )

    async def audit(self, user_id: int | None, action: str, detail: dict[str, Any], now: int | None = None) -> None:
        at = int(self._clock()) if now is None else now
        async with self._db.transaction() as tx:
            await tx.execute(audit_log.insert().values(at=at, user_id=user_id, action=action, detail=_detail(detail)))

    async def audit_refusal(self, user_id: int, action: str, detail: dict[str, Any], now: int | None = None,
                            window: int = REFUSAL_WINDOW_SECONDS) -> bool:
        """Audit a refusal at most once per user and action per `window` seconds: a repeat within it counts on
        the line already written (`repeats`, `last_at`) instead of adding one. Whether a line was added."""
        at = int(self._clock()) if now is None else now
        log = audit_log
        latest = (
            select(log.c.id).where(log.c.user_id == user_id, log.c.action == action, log.c.at > at - window)
            .order_by(log.c.id.desc()).limit(1).scalar_subquery()
        )
        async with self._db.transaction() as tx:
            # Count on the recent line, else add one: the user's row is locked first, so on PostgreSQL two
            # refusals at once do not both find no line and both add one (SQLite has one writer).
            await _lock_user(tx, user_id)
            counted = await tx.execute(
                update(log).where(log.c.id == latest).values(repeats=log.c.repeats + 1, last_at=at)
            )
            if counted:
                return False
            await tx.execute(log.insert().values(at=at, user_id=user_id, action=action, detail=_detail(detail)))
        return True

    async def audit_trail(self, action_prefix: str = "") -> list[tuple[int | None, str, dict[str, Any]]]:
        """(user, action, detail) of the audit log in order, optionally only actions starting with a prefix."""
        query = select(audit_log.c.user_id, audit_log.c.action, audit_log.c.detail).order_by(audit_log.c.id)
        if action_prefix:
            query = query.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
        rows = await self._db.fetch_all(query)
        return [(r[0], str(r[1]), json.loads(r[2])) for r in rows]


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)
