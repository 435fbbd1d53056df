"""The points programme's rows (bot/points): snapshot days and holdings, the ledger and its totals, invite codes
and referrals. The same queries on SQLite and PostgreSQL.

Integers only: USD in 1e-4 units (`usd_e4`), points in milli-points, multipliers in thousandths, ratios in
millionths. On PostgreSQL `SUM` of a BIGINT is NUMERIC, and NUMERIC divides with a fraction where SQLite's
integers truncate: every sum the ledger divides is cast back to an integer first (`_whole`), so both engines
truncate alike, and every rule value is bound as a BIGINT (`_n`), so no product is computed in 32 bits.

Concurrency (PostgreSQL runs writers at once, at READ COMMITTED; SQLite has one writer at a time):
- a day is credited once: `credit` first moves the day's `point_snapshots` row from `reading` to `credited` by a
  conditional UPDATE and goes on only if that changed the row; a second worker's UPDATE waits on the row lock,
  then finds `credited` and changes nothing, so it writes nothing (the ledger rows also keep ON CONFLICT DO
  NOTHING on their primary key);
- a batch of holdings is stored by whoever advances `next_wallet` from the value it read (conditional UPDATE,
  first in its transaction), and only while the day is `reading`: a worker late with a batch stores nothing, and
  no holdings appear under a credit in progress;
- a first /start with a code joins under a transaction-wide advisory lock on PostgreSQL, so two joins at once
  cannot close a cycle that neither sees alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, literal, select, update

from bot.storage.db import Database, Tx
from bot.storage.schema import (
    Int,
    point_holdings,
    point_ledger,
    point_snapshots,
    point_totals,
    referral_codes,
    referrals,
    users,
    wallets,
)

BASE_SOURCES = ("held", "staked", "locked", "boost")  # what a referrer earns a share of
CREDITED_SOURCES = (*BASE_SOURCES, "referral", "bonus")  # what the daily credit adds to the totals
JOIN_LOCK = int.from_bytes(b"referral", "big")  # pg_advisory_xact_lock key of referral joins

StartOutcome = Literal["first", "already_started", "unknown", "self", "cycle", "joined"]


@dataclass(frozen=True)
class CreditRules:
    """What the daily credit multiplies by, in integers."""

    base: Mapping[str, int]  # held / staked / locked -> multiplier in thousandths
    levels: Sequence[tuple[int, int]]  # boost levels: (SOSO / index value in millionths, boost in thousandths)
    caps: Mapping[str, int]  # index symbol -> effective multiplier cap in thousandths
    cap: int  # the cap of an index not in `caps`
    welcome: int  # milli-points for an invitee's first qualifying day
    share_ppm: int  # the referrer's share of the invitee's base points, in millionths


@dataclass(frozen=True)
class SnapshotDay:
    block: int
    state: str  # reading, credited
    next_wallet: int  # wallets.id below this are read


@dataclass(frozen=True)
class LinkedWallet:
    id: int
    user_id: int
    address: str


@dataclass(frozen=True)
class Holding:
    user_id: int
    address: str
    index_symbol: str
    source: str  # held, staked, locked, soso
    usd_e4: int


@dataclass(frozen=True)
class TotalsRow:
    points: int  # the user's total in the epoch (0: none)
    all_time: int
    rank: int | None  # None: no points in the epoch
    ranked: int


@dataclass(frozen=True)
class LeaderRow:
    user_id: int
    name: str | None
    points: int


def _n(value: int) -> ColumnElement[int]:
    """An integer rule value, typed: a BIGINT on PostgreSQL (the psycopg dialect binds it `::BIGINT`; an untyped
    parameter may go as a smallint or an integer, and a product of two of them overflows at 2**31)."""
    return literal(int(value), Int)


def _whole(total: ColumnElement[Any]) -> ColumnElement[int]:
    """A SUM of integers as an integer on both engines (PostgreSQL's SUM of a BIGINT is NUMERIC)."""
    return cast(total, Int)


def _least(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a < b, a), else_=b)  # SQLite's scalar MIN(a, b), PostgreSQL's LEAST(a, b)


class PointRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    # -- the snapshot --------------------------------------------------------------------------------

    async def snapshot_day(self, day: str) -> SnapshotDay | None:
        s = point_snapshots.c
        row = await self._db.fetch_one(select(s.block, s.state, s.next_wallet).where(s.day == day))
        return SnapshotDay(int(row.block), str(row.state), int(row.next_wallet)) if row else None

    async def open_day(self, day: str, epoch: str, block: int, timestamp: int) -> SnapshotDay:
        """The day's row, created at `block` unless a run (this process's or another's) created it first: then
        that run's block stands."""
        s = point_snapshots.c
        async with self._db.transaction() as tx:
            await tx.execute(tx.insert(point_snapshots).values(
                day=day, epoch=epoch, block=block, timestamp=timestamp, state="reading", started_at=int(self._clock()),
            ).on_conflict_do_nothing(index_elements=[s.day]))
            # READ COMMITTED: a conflicting insert was waited for and this statement sees the row it committed
            row = await tx.fetch_one(select(s.block, s.state, s.next_wallet).where(s.day == day))
        assert row is not None
        return SnapshotDay(int(row.block), str(row.state), int(row.next_wallet))

    async def wallets_from(self, first_id: int, limit: int) -> list[LinkedWallet]:
        """Linked wallets with an id from `first_id` on, in id order."""
        w = wallets.c
        rows = await self._db.fetch_all(
            select(w.id, w.user_id, w.address).where(w.removed_at.is_(None), w.id >= first_id).order_by(w.id).limit(limit))
        return [LinkedWallet(int(r.id), int(r.user_id), str(r.address)) for r in rows]

    async def store_batch(self, day: str, read_from: int, next_wallet: int, holdings: Sequence[Holding]) -> bool:
        """Store a batch of wallets' holdings and move the day's `next_wallet` from `read_from` to `next_wallet`;
        False (nothing stored) when another run moved it first or the day is credited already. Advancing first
        takes the day's row lock on PostgreSQL: a concurrent run with the same batch waits, then stores nothing,
        and a batch never lands under a credit in progress. A second holding of the same address (linked to two
        users) is dropped: the wallet linked first counts."""
        s = point_snapshots.c
        async with self._db.transaction() as tx:
            moved = await tx.execute(update(point_snapshots).where(
                s.day == day, s.next_wallet == read_from, s.state == "reading").values(next_wallet=next_wallet))
            if not moved:
                return False
            await tx.execute_many(tx.insert(point_holdings).on_conflict_do_nothing(), [
                {"day": day, "user_id": h.user_id, "address": h.address, "index_symbol": h.index_symbol,
                 "source": h.source, "usd_e4": h.usd_e4} for h in holdings])
        return True

    # -- crediting -----------------------------------------------------------------------------------

    async def credit(self, day: str, rules: CreditRules) -> bool:
        """Credit `day` from its holdings in one transaction; False (nothing written) when it is credited already
        or has no snapshot. The state moves first (conditional UPDATE, rowcount checked): only the run that moved
        it writes ledger rows and totals, and a failure rolls the move back with them."""
        s = point_snapshots.c
        async with self._db.transaction() as tx:
            claimed = await tx.execute(update(point_snapshots).where(s.day == day, s.state == "reading")
                                       .values(state="credited", finished_at=int(self._clock())))
            if not claimed:
                return False
            epoch = str(await tx.scalar(select(s.epoch).where(s.day == day)))
            await self._base_rows(tx, day, epoch, rules)
            await self._boost_rows(tx, day, epoch, rules)
            await self._qualify_invitees(tx, day, epoch, rules)
            await self._referral_rows(tx, day, epoch, rules)
            t, led = point_totals, point_ledger.c
            add = tx.insert(t).from_select(
                [t.c.user_id, t.c.epoch, t.c.points],
                select(led.user_id, literal(epoch), _whole(func.sum(led.points)))
                .where(led.day == day, led.source.in_(CREDITED_SOURCES)).group_by(led.user_id))
            await tx.execute(add.on_conflict_do_update(
                index_elements=[t.c.user_id, t.c.epoch], set_={"points": t.c.points + add.excluded.points}))
        return True

    @staticmethod
    def _ledger_rows(tx: Tx, rows: Any) -> Any:
        led = point_ledger.c
        return tx.insert(point_ledger).from_select(
            [led.user_id, led.day, led.source, led.reason, led.epoch, led.points], rows).on_conflict_do_nothing(
            index_elements=[led.user_id, led.day, led.source, led.reason])

    @staticmethod
    def _base_of(source: ColumnElement[str], rules: CreditRules) -> ColumnElement[int]:
        return case(*[(source == k, _n(m)) for k, m in rules.base.items()])

    async def _base_rows(self, tx: Tx, day: str, epoch: str, rules: CreditRules) -> None:
        h = point_holdings.c
        # usd_e4 × thousandths = 1e-7 points; / 10000 = milli-points (truncated, as on SQLite)
        pts = _whole(func.sum(h.usd_e4 * self._base_of(h.source, rules))) // 10000
        await tx.execute(self._ledger_rows(tx, select(
            h.user_id, literal(day), h.source, literal("daily"), literal(epoch), pts,
        ).where(h.day == day, h.source.in_(list(rules.base))).group_by(h.user_id, h.source).having(pts > 0)))

    async def _boost_rows(self, tx: Tx, day: str, epoch: str, rules: CreditRules) -> None:
        """Each user's level from SOSO staked value / index value (held + staked), then base × level capped.
        The user's two sums come with each holding by window functions: one pass over the day's holdings, where a
        join of holdings to per-user sums scans the sums for every holding on SQLite (holdings have no index by
        user; the old temporary table with its key is what avoided that)."""
        h = point_holdings.c
        held = (select(h.user_id, h.source, h.index_symbol, h.usd_e4,
                       func.sum(case((h.source.in_(("held", "staked")), h.usd_e4))).over(partition_by=h.user_id).label("index_v"),
                       func.sum(case((h.source == "soso", h.usd_e4))).over(partition_by=h.user_id).label("soso_v"))
                .where(h.day == day).subquery("w"))
        w = held.c
        ratio_reached = [(func.coalesce(w.soso_v, 0) * 1_000_000 >= _n(ppm) * w.index_v, _n(m))
                         for ppm, m in sorted(rules.levels, reverse=True)]  # the highest level reached
        leveled = (select(w.user_id, w.source, w.index_symbol, w.usd_e4, case(*ratio_reached, else_=None).label("m"))
                   .where(w.source.in_(list(rules.base)), w.index_v > 0).subquery("k"))
        k = leveled.c
        base = self._base_of(k.source, rules)
        cap: ColumnElement[int] = (case(*[(k.index_symbol == sym, _n(m)) for sym, m in rules.caps.items()], else_=_n(rules.cap))
                                   if rules.caps else _n(rules.cap))
        extra = _least(base * k.m // 1000, cap) - base
        pts = _whole(func.sum(k.usd_e4 * extra)) // 10000
        await tx.execute(self._ledger_rows(tx, select(
            k.user_id, literal(day), literal("boost"), literal("daily"), literal(epoch), pts,
        ).where(k.m.is_not(None)).group_by(k.user_id).having(pts != 0)))

    async def _qualify_invitees(self, tx: Tx, day: str, epoch: str, rules: CreditRules) -> None:
        """Invitees holding something for the first time qualify today, unless they share a wallet with anyone
        up their referral chain (the same person under another identity): then the referral is void."""
        # The day's holders are listed once (a non-correlated IN): a correlated EXISTS per referral walked all
        # of the day's holdings each time (point_holdings is keyed by day and address, not user): 200 s at 100,000 users.
        newly = """SELECT r.invitee_id FROM referrals r
                   WHERE r.qualified_day IS NULL AND r.void_reason IS NULL AND r.invitee_id IN (
                     SELECT h.user_id FROM point_holdings h WHERE h.day = :day
                     AND h.source IN ('held', 'staked', 'locked') AND h.usd_e4 > 0)"""
        await tx.execute(
            f"""UPDATE referrals SET void_reason = 'self' WHERE invitee_id IN (
                  WITH RECURSIVE up (invitee, ancestor, depth) AS (
                    SELECT invitee_id, referrer_id, 1 FROM referrals WHERE invitee_id IN ({newly})
                    UNION ALL
                    SELECT up.invitee, r.referrer_id, up.depth + 1 FROM up JOIN referrals r ON r.invitee_id = up.ancestor
                    WHERE up.depth < 64)
                  SELECT up.invitee FROM up
                  JOIN wallets wi ON wi.user_id = up.invitee
                  JOIN wallets wa ON wa.address = wi.address AND wa.user_id = up.ancestor)""",
            {"day": day},
        )
        await tx.execute(f"UPDATE referrals SET qualified_day = :day WHERE invitee_id IN ({newly})", {"day": day})
        if rules.welcome > 0:
            r = referrals.c
            await tx.execute(self._ledger_rows(tx, select(
                r.invitee_id, literal(day), literal("bonus"), literal("welcome"), literal(epoch), _n(rules.welcome),
            ).where(r.qualified_day == day, r.void_reason.is_(None))))

    async def _referral_rows(self, tx: Tx, day: str, epoch: str, rules: CreditRules) -> None:
        r, led = referrals.c, point_ledger.c
        pts = _whole(func.sum(led.points)) * _n(rules.share_ppm) // 1_000_000
        await tx.execute(self._ledger_rows(tx, select(
            r.referrer_id, literal(day), literal("referral"), literal("invitee:") + cast(r.invitee_id, Text),
            literal(epoch), pts,
        ).select_from(referrals.join(point_ledger, and_(
            led.user_id == r.invitee_id, led.day == day, led.source.in_(BASE_SOURCES))))
            .where(r.qualified_day.is_not(None), r.void_reason.is_(None))
            .group_by(r.invitee_id, r.referrer_id).having(pts > 0)))

    async def correct(self, user_id: int, day: str, epoch: str, source: str, note: str, points: int) -> bool:
        """Append a correction and add it to the totals; False if that very row (user, day, source, note) exists
        (ON CONFLICT DO NOTHING, rowcount checked: a concurrent duplicate waits on the key, then adds nothing)."""
        t = point_totals
        async with self._db.transaction() as tx:
            added = await tx.execute(tx.insert(point_ledger).values(
                user_id=user_id, day=day, source=source, reason=note, epoch=epoch, points=points,
            ).on_conflict_do_nothing(index_elements=["user_id", "day", "source", "reason"]))
            if not added:
                return False
            add = tx.insert(t).values(user_id=user_id, epoch=epoch, points=points)
            await tx.execute(add.on_conflict_do_update(
                index_elements=[t.c.user_id, t.c.epoch], set_={"points": t.c.points + add.excluded.points}))
        return True

    # -- reading -------------------------------------------------------------------------------------

    async def standing(self, user_id: int, epoch: str) -> TotalsRow:
        t = point_totals.c
        mine = int(await self._db.scalar(select(t.points).where(t.user_id == user_id, t.epoch == epoch)) or 0)
        everything = await self._db.scalar(select(func.coalesce(func.sum(t.points), 0)).where(t.user_id == user_id))
        ranked = await self._db.scalar(select(func.count()).select_from(point_totals).where(t.epoch == epoch, t.points > 0))
        rank = None
        if mine > 0:
            above = await self._db.scalar(
                select(func.count()).select_from(point_totals).where(t.epoch == epoch, t.points > mine))
            rank = int(above or 0) + 1
        return TotalsRow(mine, int(everything or 0), rank, int(ranked or 0))

    async def day_by_source(self, user_id: int, day: str) -> dict[str, int]:
        led = point_ledger.c
        rows = await self._db.fetch_all(select(led.source, func.sum(led.points))
                                        .where(led.user_id == user_id, led.day == day).group_by(led.source))
        return {str(r[0]): int(r[1]) for r in rows}

    async def totals_with_day(self, epoch: str, day: str) -> list[tuple[int, int, int]]:
        t, led = point_totals.c, point_ledger.c
        d = (select(led.user_id, func.sum(led.points).label("points"))
             .where(led.epoch == epoch, led.day == day).group_by(led.user_id).subquery("d"))
        rows = await self._db.fetch_all(
            select(t.user_id, t.points, func.coalesce(d.c.points, 0))
            .select_from(point_totals.outerjoin(d, d.c.user_id == t.user_id)).where(t.epoch == epoch))
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def last_credited_day(self) -> str | None:
        s = point_snapshots.c
        day = await self._db.scalar(select(func.max(s.day)).where(s.state == "credited"))
        return str(day) if day else None

    async def daily(self, user_id: int, epoch: str) -> list[tuple[str, int]]:
        led = point_ledger.c
        rows = await self._db.fetch_all(select(led.day, func.sum(led.points))
                                        .where(led.user_id == user_id, led.epoch == epoch)
                                        .group_by(led.day).order_by(led.day))
        return [(str(r[0]), int(r[1])) for r in rows]

    async def leaders(self, epoch: str, limit: int) -> list[LeaderRow]:
        t, u = point_totals.c, users.c
        rows = await self._db.fetch_all(
            select(t.user_id, u.leaderboard_name, t.points).select_from(point_totals.join(users, u.id == t.user_id))
            .where(t.epoch == epoch, t.points > 0).order_by(t.points.desc(), t.user_id).limit(limit))
        return [LeaderRow(int(r[0]), r[1], int(r[2])) for r in rows]

    async def referral_counts(self, referrer_id: int, epoch: str) -> tuple[int, int, int, int]:
        """(invitees joined, of them active: qualified and not void, referral milli-points this epoch, ever)."""
        r, led = referrals.c, point_ledger.c
        active = case((and_(r.qualified_day.is_not(None), r.void_reason.is_(None)), 1), else_=0)
        counts = await self._db.fetch_one(
            select(func.count(), func.coalesce(func.sum(active), 0)).where(r.referrer_id == referrer_id))
        earned = await self._db.fetch_one(
            select(func.coalesce(func.sum(case((led.epoch == epoch, led.points))), 0), func.coalesce(func.sum(led.points), 0))
            .where(led.user_id == referrer_id, led.source == "referral"))
        assert counts is not None and earned is not None
        return int(counts[0]), int(counts[1]), int(earned[0]), int(earned[1])

    # -- invite codes and referrals ------------------------------------------------------------------

    async def code_of(self, user_id: int) -> str | None:
        c = referral_codes.c
        code = await self._db.scalar(select(c.code).where(c.user_id == user_id))
        return str(code) if code is not None else None

    async def add_code(self, user_id: int, code: str) -> str | None:
        """The user's code: `code` if it is new, the one a concurrent call stored first, or None when `code`
        is another user's (ON CONFLICT DO NOTHING on either key; the read after it sees what a conflicting
        transaction committed)."""
        c = referral_codes.c
        async with self._db.transaction() as tx:
            await tx.execute(tx.insert(referral_codes).values(user_id=user_id, code=code).on_conflict_do_nothing())
            mine = await tx.scalar(select(c.code).where(c.user_id == user_id))
        return str(mine) if mine is not None else None

    async def start(self, user_id: int, code: str | None, now: int) -> StartOutcome:
        """Record the user's first /start (conditional UPDATE: once, even on two workers) and, on that first one,
        join the referrer `code` names. `first`: no code and the first start."""
        async with self._db.transaction() as tx:
            u = users.c
            first = await tx.execute(update(users).where(u.id == user_id, u.started_at.is_(None)).values(started_at=now))
            if not first:
                return "already_started"
            if code is None:
                return "first"
            c = referral_codes.c
            referrer = await tx.scalar(select(c.user_id).where(c.code == code))
            if referrer is None:
                return "unknown"
            if int(referrer) == user_id:
                return "self"
            if tx.dialect == "postgresql":  # joins one at a time: two at once could each close half a cycle
                await tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": JOIN_LOCK})
            # the first term's type is given: PostgreSQL types a recursive CTE's columns from it
            cycle = await tx.fetch_one(
                """WITH RECURSIVE up (id, depth) AS (
                     SELECT CAST(:referrer AS BIGINT), 0 UNION ALL
                     SELECT r.referrer_id, up.depth + 1 FROM up JOIN referrals r ON r.invitee_id = up.id WHERE up.depth < 64)
                   SELECT 1 FROM up WHERE id = :user LIMIT 1""",
                {"referrer": int(referrer), "user": user_id},
            )
            if cycle is not None:
                return "cycle"
            await tx.execute(tx.insert(referrals).values(invitee_id=user_id, referrer_id=int(referrer), joined_at=now)
                             .on_conflict_do_nothing(index_elements=["invitee_id"]))
            return "joined"

    async def referrer_of(self, user_id: int) -> int | None:
        r = referrals.c
        referrer = await self._db.scalar(select(r.referrer_id).where(r.invitee_id == user_id))
        return int(referrer) if referrer is not None else None
