"""The outbox's rows (bot/delivery/outbox): stored before sending, claimed, marked once the platform answered."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, literal, literal_column, select, text, update

from bot.storage.db import Database
from bot.storage.schema import alert_settings, outbox, user_settings, users

KIND_SWITCHES = ("rebalance", "digest", "cooldown", "price", "dca", "announcement", "reserves")  # alert_settings columns
OPT_IN = frozenset({"reserves"})  # kinds a user receives only once switched on; the others until switched off


def switched_on_by_default(kind: str) -> bool:
    return kind not in OPT_IN


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
class KeptRow:
    """A message a user's private chat refused (state 'blocked'), taken to be shown to them another way."""

    id: int
    user_id: int
    kind: str
    payload: str
    created_at: int


@dataclass(frozen=True)
class Recipient:
    """Where a user's unprompted messages go, and whether they want this kind."""

    user_id: int
    platform: str
    dm_chat: str | None
    blocked: bool
    wants: bool


def _recipient(kind: str) -> Select[Any]:
    s = alert_settings
    switch = func.coalesce(s.c[kind], int(switched_on_by_default(kind))) if kind in KIND_SWITCHES else literal(1, Integer)
    return (select(users.c.id, users.c.platform, users.c.dm_chat, users.c.blocked_at.is_not(None), switch)
            .select_from(users.outerjoin(s, s.c.user_id == users.c.id))
            .where(users.c.id == bindparam("user_id")))


# The sender's statements are built once with named parameters (in an UPDATE, named unlike any column): building a
# Core statement and its cache key on every call cost more than running it (due: ~5 ms against ~2 ms, SQLite).
_o, _s, _us = outbox, alert_settings, user_settings
_RECIPIENT = {kind: _recipient(kind) for kind in (*KIND_SWITCHES, "")}  # "": any other kind, always wanted
_DUE = (
    select(_o.c.id, _o.c.platform, _o.c.chat_id, _o.c.user_id, _o.c.kind, _o.c.priority, _o.c.urgent, _o.c.payload,
           _o.c.edit_ref, _o.c.announcement_id, _o.c.due_at, _o.c.attempts, func.coalesce(_us.c.timezone, "UTC"),
           _s.c.quiet_start, _s.c.quiet_end, users.c.blocked_at.is_not(None))
    .select_from(_o.outerjoin(users, users.c.id == _o.c.user_id)
                 .outerjoin(_s, _s.c.user_id == _o.c.user_id)
                 .outerjoin(_us, _us.c.user_id == _o.c.user_id))
    .where(_o.c.platform == bindparam("platform"), _o.c.state == "pending", _o.c.due_at <= bindparam("now"))
    .order_by(_o.c.priority, _o.c.due_at, _o.c.id)
    .limit(bindparam("limit"))
)
# MIN(due_at) over the whole platform cannot use the (platform, priority, due_at) index and walked every pending
# row (15 ms at 80,000: the sender's whole budget). One index seek per priority instead.
_NEXT_DUE = text(
    """WITH RECURSIVE p(priority) AS (
           SELECT MIN(priority) FROM outbox WHERE platform = :platform AND state = 'pending'
           UNION ALL
           SELECT (SELECT MIN(priority) FROM outbox
                   WHERE platform = :platform AND state = 'pending' AND priority > p.priority)
           FROM p WHERE p.priority IS NOT NULL)
       SELECT MIN((SELECT MIN(due_at) FROM outbox
                   WHERE platform = :platform AND state = 'pending' AND priority = p.priority))
       FROM p WHERE p.priority IS NOT NULL"""
)
_STATE_OF = select(_o.c.state, _o.c.sent_ref).where(_o.c.id == bindparam("id"))
_BLOCK = (update(users).where(users.c.id == bindparam("user"), users.c.blocked_at.is_(None))
          .values(blocked_at=bindparam("at")))
# Messages a user's private chat refused (or that were held as theirs while it refused them): 'blocked' rows, their
# own (never an announcement, which is everyone's and counted by /announce). The literal state matches the partial
# index outbox_kept (a bound parameter would not let SQLite use it).
_BLOCKED: ColumnElement[str] = literal_column("'blocked'")
_KEPT = (
    select(_o.c.id, _o.c.created_at)
    .select_from(_o.join(users, users.c.id == _o.c.user_id))
    .where(users.c.platform == bindparam("platform"), users.c.platform_user_id == bindparam("user"),
           _o.c.state == _BLOCKED, _o.c.platform == bindparam("platform"), _o.c.kind != "announcement")
    .order_by(_o.c.id.desc())
)
_UNBLOCK = update(users).where(users.c.id == bindparam("user")).values(blocked_at=None)
# PostgreSQL: wake the platform's active sender, in whichever process it runs (bot.storage.leader LISTENs on it).
# Sent with the transaction that stores the rows, so the sender finds them when it looks; several in one
# transaction are one notification.
_NOTIFY = text("SELECT pg_notify('outbox_' || :platform, '')")


class OutboxRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)
        d = db.dialect
        self._notify = d == "postgresql"  # SQLite: one process, whose own put wakes its sender
        # ON CONFLICT DO NOTHING: two processes adding one key store it once. An INSERT's row count is kept only
        # when asked (`preserve_rowcount`).
        self._insert = db.insert(outbox).on_conflict_do_nothing(index_elements=["dedupe"])
        self._add = self._insert.returning(outbox.c.id)
        self._add_many = self._insert.execution_options(preserve_rowcount=True)
        # Claiming is a conditional UPDATE (state = 'pending') whose RETURNING names the rows this call moved.
        self._claim = (update(_o).where(in_id_order(d, _ids("pending")))
                       .values(state="sending", attempts=_o.c.attempts + 1).returning(_o.c.id))
        self._finish = (update(_o).where(in_id_order(d, _ids("sending")))
                        .values(state=bindparam("to"), sent_ref=bindparam("ref"), error=bindparam("why"),
                                sent_at=bindparam("at")))
        self._postpone = {
            was: update(_o).where(in_id_order(d, _ids(was))).values(state="pending", due_at=bindparam("due"),
                                                                     error=bindparam("why"))
            for was in ("sending", "pending")
        }
        self._release = (update(_o).where(in_id_order(d, _ids("sending")))
                         .values(state="pending", attempts=_o.c.attempts - 1))
        self._drop_blocked = update(_o).where(in_id_order(d, _ids("pending"))).values(state="blocked")
        self._take_kept = (update(_o).where(in_id_order(d, _ids("blocked")))
                           .values(state="sending", attempts=_o.c.attempts + 1)
                           .returning(_o.c.id, _o.c.user_id, _o.c.kind, _o.c.payload, _o.c.created_at))
        self._drop_kept = (update(_o).where(in_id_order(d, _ids("blocked")))
                           .values(state="failed", error=bindparam("why"), sent_at=bindparam("at")))
        self._keep_again = update(_o).where(in_id_order(d, _ids("sending"))).values(state="blocked")
        self._recover = (update(_o).where(in_id_order(d, (_o.c.platform == bindparam("front"))
                                                      & (_o.c.state == "sending")))
                         .values(state="unknown", error="interrupted"))

    async def recipient(self, user_id: int, kind: str) -> Recipient | None:
        row = await self._db.fetch_one(_RECIPIENT[kind if kind in KIND_SWITCHES else ""], {"user_id": user_id})
        return Recipient(int(row[0]), str(row[1]), row[2], bool(row[3]), bool(row[4])) if row else None

    async def add(self, message: NewMessage, now: int | None = None) -> int | None:
        """Store one message; None when a message with the same `dedupe` key was stored before."""
        at = int(self._clock()) if now is None else now
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(self._add, _values(message, at))
            if row and self._notify:
                await tx.execute(_NOTIFY, {"platform": message.platform})
        return int(row[0]) if row else None

    async def add_many(self, messages: Sequence[NewMessage], now: int | None = None) -> int:
        """Store many messages in one transaction (a fan-out); those whose `dedupe` key exists are skipped.
        Returns how many were stored."""
        at = int(self._clock()) if now is None else now
        if not messages:
            return 0
        async with self._db.transaction() as tx:
            # The rows this statement stored, not COUNT(*) before and after: on PostgreSQL other transactions
            # add rows meanwhile.
            stored = await tx.execute(self._add_many, [_values(m, at) for m in messages])
            if stored and self._notify:
                for platform in sorted({m.platform for m in messages}):
                    await tx.execute(_NOTIFY, {"platform": platform})
            return stored

    async def due(self, platform: str, now: int, limit: int, skip_chats: Sequence[str] = ()) -> list[OutboxRow]:
        """Pending messages due by `now`, most pressing first (priority, then due time, then age)."""
        rows = await self._db.fetch_all(_DUE, {"platform": platform, "now": now, "limit": limit + len(skip_chats)})
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
        row = await self._db.fetch_one(_NEXT_DUE, {"platform": platform})
        return int(row[0]) if row and row[0] is not None else None

    async def claim(self, ids: Sequence[int]) -> list[int]:
        """Mark pending messages as being sent (before the request leaves); the ids actually claimed.

        Safe against a second sender: a conditional UPDATE (`state = 'pending'`) with RETURNING. On PostgreSQL a
        concurrent claimer of the same row waits for the first one's commit, then finds the row 'sending' and
        leaves it out (READ COMMITTED checks the condition again on the row it waited for); rows are locked in
        id order (`in_id_order`), so two claims of overlapping batches cannot deadlock. Picking with
        `FOR UPDATE SKIP LOCKED` does not fit: the sender picks rows (`due`) long before it claims them (when
        the platform's limits let the request leave), and the claim alone decides."""
        if not ids:
            return []
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all(self._claim, {"ids": list(ids)})
        return sorted(int(r[0]) for r in rows)

    async def finish(self, ids: Sequence[int], state: str, sent_ref: str | None = None, error: str = "") -> None:
        """Move claimed messages to a final state: sent, blocked, failed or unknown."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(self._finish, {"ids": list(ids), "to": state, "ref": sent_ref, "why": error or None,
                                            "at": int(self._clock())})

    async def postpone(self, ids: Sequence[int], due_at: int, error: str = "", *, claimed: bool = True) -> None:
        """Back to pending, due at `due_at`: after a refusal that said "later", or held for quiet hours."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(self._postpone["sending" if claimed else "pending"],
                             {"ids": list(ids), "due": due_at, "why": error or None})

    async def release(self, ids: Sequence[int]) -> None:
        """Claimed messages that did not leave after all, back to pending as they were (claimed as part of a batch
        whose other messages another claimer took: the batch is not sent, each is sent in its own)."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(self._release, {"ids": list(ids)})

    async def drop_blocked(self, ids: Sequence[int]) -> None:
        """Pending messages to a user who blocked the bot: marked blocked, never sent."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(self._drop_blocked, {"ids": list(ids)})

    async def block_user(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(_BLOCK, {"user": user_id, "at": int(self._clock())})

    async def unblock(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(_UNBLOCK, {"user": user_id})

    async def take_kept(self, platform: str, platform_user_id: str, newest: int, since: int) -> list[KeptRow]:
        """A user's kept messages (refused by their private chat), taken to be shown another way: the `newest` ones
        stored since `since`, oldest first, each moved to 'sending' by a conditional UPDATE, so of two processes
        taking them at once each message goes to one. The others (older, or beyond the newest) are not shown: they
        become 'failed'."""
        found = await self._db.fetch_all(_KEPT, {"platform": platform, "user": platform_user_id})
        if not found:
            return []
        shown = [int(r[0]) for r in found if int(r[1]) >= since][:newest]
        dropped = sorted({int(r[0]) for r in found} - set(shown))
        async with self._db.transaction() as tx:
            if dropped:
                await tx.execute(self._drop_kept, {"ids": dropped, "why": "kept: not shown (too old, or too many)",
                                                   "at": int(self._clock())})
            rows = await tx.fetch_all(self._take_kept, {"ids": shown}) if shown else []
        return sorted((KeptRow(int(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows), key=lambda k: k.id)

    async def unkeep(self, ids: Sequence[int], why: str) -> None:
        """Refused messages not to be kept after all (their sender told the user at once), unless taken meanwhile."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(self._drop_kept, {"ids": list(ids), "why": why, "at": int(self._clock())})

    async def keep_again(self, ids: Sequence[int]) -> None:
        """Taken kept messages that were certainly not shown (the platform refused): kept for the next time."""
        if not ids:
            return
        async with self._db.transaction() as tx:
            await tx.execute(self._keep_again, {"ids": list(ids)})

    async def recover(self, platform: str) -> int:
        """When a sender starts (after a restart, or taking over from a sender that died): the platform's messages
        left 'sending' may have arrived; they become 'unknown' and are never sent again. Only the platform's active
        sender calls it, once as it starts; should a sender that lost its seat still be finishing a request, that
        message stays 'unknown' whatever its answer (`finish` moves only rows still 'sending'): never sent twice."""
        async with self._db.transaction() as tx:
            return await tx.execute(self._recover, {"front": platform})

    async def state_of(self, message_id: int) -> tuple[str, str | None] | None:
        row = await self._db.fetch_one(_STATE_OF, {"id": message_id})
        return (str(row[0]), row[1]) if row else None


def _values(m: NewMessage, at: int) -> dict[str, Any]:
    """An outbox row's columns for a new message stored at `at` (due then unless it says otherwise)."""
    return {"platform": m.platform, "chat_id": m.chat_id, "user_id": m.user_id, "kind": m.kind,
            "priority": m.priority, "urgent": int(m.urgent), "dedupe": m.dedupe, "payload": m.payload,
            "edit_ref": m.edit_ref, "announcement_id": m.announcement_id,
            "due_at": m.due_at if m.due_at is not None else at, "created_at": at}


def _ids(state: str) -> ColumnElement[bool]:
    """The rows named by the `ids` parameter (a list) that are in `state`."""
    return outbox.c.id.in_(bindparam("ids", expanding=True)) & (outbox.c.state == state)


def in_id_order(dialect: str, where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The condition of an UPDATE of several outbox rows. On PostgreSQL the rows are first locked in id order
    (`id IN (SELECT id … ORDER BY id FOR UPDATE)`), so two transactions moving overlapping sets (two senders, a
    sender and `stop_pending`) wait for each other instead of deadlocking, and a row another transaction moved
    meanwhile is checked again once it is free (READ COMMITTED) and left out if it no longer matches. SQLite has
    one writer at a time: the plain condition, as before."""
    if dialect == "sqlite":
        return where
    return outbox.c.id.in_(select(outbox.c.id).where(where).order_by(outbox.c.id).with_for_update())
