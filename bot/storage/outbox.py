"""The outbox's rows (bot/delivery/outbox): stored before sending, claimed, marked once the platform answered."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, func, literal, select, update

from bot.storage.db import Database
from bot.storage.schema import alert_settings, outbox, user_settings, users

KIND_SWITCHES = ("rebalance", "digest", "cooldown", "price", "dca", "announcement")  # alert_settings columns


@dataclass(frozen=True)
class OutboxRow:
    id: int
    platform: str
    chat_id: str
    user_id: int | None
    kind: str
    priority: int
    urgent: bool
    payload: str
    edit_ref: str | None
    announcement_id: int | None
    due_at: int
    attempts: int
    zone: str  # the user's /timezone (UTC when none): quiet hours are in it
    quiet: tuple[int, int] | None  # the user's quiet hours, minutes after local midnight
    blocked: bool  # the user blocked the bot since this was queued


@dataclass(frozen=True)
class NewMessage:
    platform: str
    chat_id: str
    user_id: int | None
    kind: str
    priority: int
    payload: str
    urgent: bool = False
    dedupe: str | None = None
    edit_ref: str | None = None
    announcement_id: int | None = None
    due_at: int | None = None


@dataclass(frozen=True)
class Recipient:
    """Where a user's unprompted messages go, and whether they want this kind."""

    user_id: int
    platform: str
    dm_chat: str | None
    blocked: bool
    wants: bool


class OutboxRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def recipient(self, user_id: int, kind: str) -> Recipient | None:
        s = alert_settings
        switch = func.coalesce(s.c[kind], 1) if kind in KIND_SWITCHES else literal(1, Integer)
        row = await self._db.fetch_one(
            select(users.c.id, users.c.platform, users.c.dm_chat, users.c.blocked_at.is_not(None), switch)
            .select_from(users.outerjoin(s, s.c.user_id == users.c.id))
            .where(users.c.id == user_id)
        )
        return Recipient(int(row[0]), str(row[1]), row[2], bool(row[3]), bool(row[4])) if row else None

    async def add(self, message: NewMessage, now: int | None = None) -> int | None:
        """Store one message; None when a message with the same `dedupe` key was stored before."""
        at = int(self._clock()) if now is None else now
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(  # ON CONFLICT DO NOTHING: two processes adding one key store it once
                tx.insert(outbox).values(_values(message, at))
                .on_conflict_do_nothing(index_elements=["dedupe"]).returning(outbox.c.id)
            )
        return int(row[0]) if row else None

    async def add_many(self, messages: Sequence[NewMessage], now: int | None = None) -> int:
        """Store many messages in one transaction (a fan-out); those whose `dedupe` key exists are skipped.
        Returns how many were stored."""
        at = int(self._clock()) if now is None else now
        if not messages:
            return 0
        async with self._db.transaction() as tx:
            # The rows this statement stored (its row count, kept for an INSERT by `preserve_rowcount`), not
            # COUNT(*) before and after: on PostgreSQL other transactions add rows meanwhile.
            return await tx.execute(
                tx.insert(outbox).on_conflict_do_nothing(index_elements=["dedupe"])
                .execution_options(preserve_rowcount=True),
                [_values(m, at) for m in messages],
            )

    async def due(self, platform: str, now: int, limit: int, skip_chats: Sequence[str] = ()) -> list[OutboxRow]:
        """Pending messages due by `now`, most pressing first (priority, then due time, then age)."""
        o, s, us = outbox, alert_settings, user_settings
        rows = await self._db.fetch_all(
            select(o.c.id, o.c.platform, o.c.chat_id, o.c.user_id, o.c.kind, o.c.priority, o.c.urgent, o.c.payload,
                   o.c.edit_ref, o.c.announcement_id, o.c.due_at, o.c.attempts, func.coalesce(us.c.timezone, "UTC"),
                   s.c.quiet_start, s.c.quiet_end, users.c.blocked_at.is_not(None))
            .select_from(o.outerjoin(users, users.c.id == o.c.user_id)
                         .outerjoin(s, s.c.user_id == o.c.user_id)
                         .outerjoin(us, us.c.user_id == o.c.user_id))
            .where(o.c.platform == platform, o.c.state == "pending", o.c.due_at <= now)
            .order_by(o.c.priority, o.c.due_at, o.c.id)
            .limit(limit + len(skip_chats))
        )
        skip = set(skip_chats)
        found = [
            OutboxRow(int(r[0]), str(r[1]), str(r[2]), r[3], str(r[4]), int(r[5]), bool(r[6]), str(r[7]), r[8], r[9],
                      int(r[10]), int(r[11]), str(r[12]), (int(r[13]), int(r[14])) if r[13] is not None and r[14] is not None else None,
                      bool(r[15]))
            for r in rows
            if str(r[2]) not in skip
        ]
        return found[:limit]

    async def next_due(self, platform: str) -> int | None:
        # MIN(due_at) over the whole platform cannot use the (platform, priority, due_at) index and walked every
        # pending row (15 ms at 80,000: the sender's whole budget). One index seek per priority instead.
        row = await self._db.fetch_one(
            """WITH RECURSIVE p(priority) AS (
                   SELECT MIN(priority) FROM outbox WHERE platform = :platform AND state = 'pending'
                   UNION ALL
                   SELECT (SELECT MIN(priority) FROM outbox
                           WHERE platform = :platform AND state = 'pending' AND priority > p.priority)
                   FROM p WHERE p.priority IS NOT NULL)
               SELECT MIN((SELECT MIN(due_at) FROM outbox
                           WHERE platform = :platform AND state = 'pending' AND priority = p.priority))
               FROM p WHERE p.priority IS NOT NULL""",
            {"platform": platform},
        )
        return int(row[0]) if row and row[0] is not None else None

    async def claim(self, ids: Sequence[int]) -> list[int]:
        """Mark pending messages as being sent (before the request leaves); the ids actually claimed.

        Safe against a second sender: a conditional UPDATE (`state = 'pending'`) whose RETURNING names the rows
        this call moved. On PostgreSQL a concurrent claimer of the same row waits for the first one's commit,
        then finds the row 'sending' and leaves it out (READ COMMITTED re-checks the condition on the row it
        waited for); rows are locked in id order first, so two claims of overlapping batches cannot deadlock.
        Picking with `FOR UPDATE SKIP LOCKED` does not fit here: the sender picks rows (`due`) long before it
        claims them (when the platform's limits let the request leave), and the claim is the only decision."""
        if not ids:
            return []
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all(
                update(outbox).where(in_id_order(tx.dialect, _ids(ids, "pending")))
                .values(state="sending", attempts=outbox.c.attempts + 1).returning(outbox.c.id)
            )
        return sorted(int(r[0]) for r in rows)

    async def finish(self, ids: Sequence[int], state: str, sent_ref: str | None = None, error: str = "") -> None:
        """Move claimed messages to a final state: sent, blocked, failed or unknown."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(
                update(outbox).where(in_id_order(tx.dialect, _ids(ids, "sending")))
                .values(state=state, sent_ref=sent_ref, error=error or None, sent_at=int(self._clock()))
            )

    async def postpone(self, ids: Sequence[int], due_at: int, error: str = "", *, claimed: bool = True) -> None:
        """Back to pending, due at `due_at`: after a refusal that said "later", or held for quiet hours."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(
                update(outbox).where(in_id_order(tx.dialect, _ids(ids, "sending" if claimed else "pending")))
                .values(state="pending", due_at=due_at, error=error or None)
            )

    async def drop_blocked(self, ids: Sequence[int]) -> None:
        """Pending messages to a user who blocked the bot: marked blocked, never sent."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(
                update(outbox).where(in_id_order(tx.dialect, _ids(ids, "pending"))).values(state="blocked")
            )

    async def block_user(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                update(users).where(users.c.id == user_id, users.c.blocked_at.is_(None))
                .values(blocked_at=int(self._clock()))
            )

    async def unblock(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(update(users).where(users.c.id == user_id).values(blocked_at=None))

    async def recover(self, platform: str) -> int:
        """After a crash: messages left 'sending' may have arrived; they become 'unknown' and are never resent."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                update(outbox)
                .where(in_id_order(tx.dialect, (outbox.c.platform == platform) & (outbox.c.state == "sending")))
                .values(state="unknown", error="interrupted")
            )

    async def state_of(self, message_id: int) -> tuple[str, str | None] | None:
        row = await self._db.fetch_one(select(outbox.c.state, outbox.c.sent_ref).where(outbox.c.id == message_id))
        return (str(row[0]), row[1]) if row else None


def _values(m: NewMessage, at: int) -> dict[str, Any]:
    """An outbox row's columns for a new message stored at `at` (due then unless it says otherwise)."""
    return {"platform": m.platform, "chat_id": m.chat_id, "user_id": m.user_id, "kind": m.kind,
            "priority": m.priority, "urgent": int(m.urgent), "dedupe": m.dedupe, "payload": m.payload,
            "edit_ref": m.edit_ref, "announcement_id": m.announcement_id,
            "due_at": m.due_at if m.due_at is not None else at, "created_at": at}


def _ids(ids: Sequence[int], state: str) -> ColumnElement[bool]:
    return outbox.c.id.in_(list(ids)) & (outbox.c.state == state)


def in_id_order(dialect: str, where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The condition of an UPDATE of several outbox rows. On PostgreSQL the rows are first locked in id order
    (`id IN (SELECT id … ORDER BY id FOR UPDATE)`), so two transactions moving overlapping sets (two senders, a
    sender and `stop_pending`) wait for each other instead of deadlocking, and a row another transaction moved
    meanwhile is checked again once it is free (READ COMMITTED) and left out if it no longer matches. SQLite has
    one writer at a time: the plain condition, as before."""
    if dialect == "sqlite":
        return where
    return outbox.c.id.in_(select(outbox.c.id).where(where).order_by(outbox.c.id).with_for_update())
