"""Rows of the market alerts (migration 0007): the rebalance watcher's cursor and events, and /alert lines.

Rebalance events are stored once by (tx hash, log index) and carry `done` until their subscribers were told,
so a re-read block adds nothing and a crash in the middle is picked up again. Price alerts fire and re-arm by
compare-and-set on `armed`, in one transaction per check; `sent_count` trails `fired_count` until the
message is queued, so a crash between firing and queueing queues it on the next check (same outbox key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, and_, exists, func, or_, select, update

from bot.storage.db import Database
from bot.storage.schema import price_alerts, rebalance_cursor, rebalance_events, users, wallets

EventKind = Literal["start", "tokenset", "end", "fee"]  # fee: SetFeeTokenset (the daily fee collection)
AlertKind = Literal["above", "below", "premium"]


@dataclass(frozen=True)
class RebalanceEvent:
    token: str
    block: int
    tx_hash: str
    log_index: int
    kind: EventKind


@dataclass(frozen=True)
class PriceAlert:
    id: int
    user_id: int
    token: str  # index symbol, e.g. MAG7.ssi
    kind: AlertKind
    threshold: Decimal  # USD for above/below; percent (2 = 2 %) for premium
    armed: bool
    fired_count: int
    sent_count: int
    fired_value: Decimal | None  # what fired it last: USD per token, or the premium as a ratio
    fired_block: int | None


_a = price_alerts.c
_ALERT = select(_a.id, _a.user_id, _a.token, _a.kind, _a.threshold, _a.armed, _a.fired_count, _a.sent_count,
                _a.fired_value, _a.fired_block)
_LIVE = _a.deleted_at.is_(None)
_e = rebalance_events.c


def _alert(row: Row[Any]) -> PriceAlert:
    return PriceAlert(int(row.id), int(row.user_id), str(row.token), row.kind, Decimal(str(row.threshold)), bool(row.armed),
                      int(row.fired_count), int(row.sent_count),
                      Decimal(str(row.fired_value)) if row.fired_value is not None else None,
                      int(row.fired_block) if row.fired_block is not None else None)


def _of_token_before(event: RebalanceEvent) -> Any:
    """Events of `event`'s token stored before it (block, then log index)."""
    return and_(_e.token == event.token,
                or_(_e.block < event.block, and_(_e.block == event.block, _e.log_index < event.log_index)))


class RebalanceRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def cursors(self) -> dict[str, tuple[int, int]]:
        """token address -> (the last block read for it, the first block watched)."""
        c = rebalance_cursor.c
        rows = await self._db.fetch_all(select(c.token, c.block, c.since))
        return {str(r.token): (int(r.block), int(r.since)) for r in rows}

    async def store(self, events: Sequence[RebalanceEvent], tokens: Sequence[str], to_block: int) -> int:
        """Store new events and move every token's cursor to `to_block`, in one transaction; how many were new.
        Two watchers storing the same window add each event once (ON CONFLICT DO NOTHING on its key); the cursor
        is the last writer's, and a cursor left behind only re-reads blocks whose events are stored already."""
        async with self._db.transaction() as tx:
            new = 0
            insert = tx.insert(rebalance_events)
            insert = (insert.on_conflict_do_nothing(index_elements=[_e.tx_hash, _e.log_index])
                      .execution_options(preserve_rowcount=True))  # psycopg's INSERT row count, kept (else -1)
            for e in events:
                new += await tx.execute(insert.values(
                    token=e.token, block=e.block, tx_hash=e.tx_hash, log_index=e.log_index, kind=e.kind))
            cursor = tx.insert(rebalance_cursor)
            await tx.execute_many(  # a new token is watched from the block after `to_block`
                cursor.on_conflict_do_update(index_elements=[rebalance_cursor.c.token],
                                             set_={"block": cursor.excluded.block}),
                [{"token": t, "block": to_block, "since": to_block + 1} for t in tokens])
        return new

    async def open_events(self) -> list[RebalanceEvent]:
        """Events not yet handled, oldest first."""
        rows = await self._db.fetch_all(
            select(_e.token, _e.block, _e.tx_hash, _e.log_index, _e.kind).where(_e.done == 0)
            .order_by(_e.block, _e.log_index))
        return [RebalanceEvent(str(r.token), int(r.block), str(r.tx_hash), int(r.log_index), r.kind) for r in rows]

    async def started_at(self, event: RebalanceEvent) -> int | None:
        """The block of the StartRebalance that `event` closes: the last start of its token before it, unless an
        end came in between (None: the start was not seen)."""
        row = await self._db.fetch_one(
            select(_e.kind, _e.block).where(_of_token_before(event), _e.kind.in_(("start", "end")))
            .order_by(_e.block.desc(), _e.log_index.desc()).limit(1))
        return int(row.block) if row is not None and row.kind == "start" else None

    async def first_tokenset_since(self, event: RebalanceEvent, after_block: int) -> int | None:
        """The block of the first SetTokenset of `event`'s token after `after_block` and up to `event`, fee
        collections left out."""
        fee = rebalance_events.alias("f")
        first = await self._db.scalar(
            select(func.min(_e.block)).where(
                _e.token == event.token, _e.kind == "tokenset", _e.block > after_block, _e.block <= event.block,
                ~exists().where(fee.c.tx_hash == _e.tx_hash, fee.c.token == _e.token, fee.c.kind == "fee")))
        return int(first) if first is not None else None

    async def fee_collection(self, event: RebalanceEvent) -> bool:
        """Whether `event`'s transaction also emitted its token's SetFeeTokenset: a fee collection."""
        row = await self._db.fetch_one(
            select(_e.log_index).where(_e.tx_hash == event.tx_hash, _e.token == event.token, _e.kind == "fee").limit(1))
        return row is not None

    async def end_after(self, event: RebalanceEvent) -> bool:
        """Whether an EndRebalance of `event`'s token is stored after it."""
        row = await self._db.fetch_one(
            select(_e.log_index).where(
                _e.token == event.token, _e.kind == "end",
                or_(_e.block > event.block, and_(_e.block == event.block, _e.log_index > event.log_index))).limit(1))
        return row is not None

    async def done_through(self, token: str, block: int) -> None:
        """Every open event of `token` up to `block` handled (a rebalance window told once)."""
        async with self._db.transaction() as tx:
            await tx.execute(update(rebalance_events).where(_e.token == token, _e.block <= block, _e.done == 0)
                             .values(done=1))

    async def done(self, event: RebalanceEvent) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(update(rebalance_events).where(_e.tx_hash == event.tx_hash, _e.log_index == event.log_index)
                             .values(done=1))

    async def wallets(self, after_id: int, limit: int) -> list[tuple[int, int, str]]:
        """Live wallets (custodial and connected) with id above `after_id`: (id, user id, address), in id order."""
        w = wallets.c
        rows = await self._db.fetch_all(
            select(w.id, w.user_id, w.address).where(w.removed_at.is_(None), w.id > after_id).order_by(w.id).limit(limit))
        return [(int(r.id), int(r.user_id), str(r.address)) for r in rows]


class PriceAlertRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, user_id: int, token: str, kind: AlertKind, threshold: Decimal, armed: bool, now: int,
                  max_per_user: int) -> int | None:
        """A new alert line; None when the user has `max_per_user` live ones already."""
        async with self._db.transaction() as tx:
            # Count, then insert: the user's row is locked first (FOR UPDATE; SQLite has one writer anyway), so two
            # /alert commands of one user on two workers are counted one after the other and never pass the limit.
            await tx.lock(select(users.c.id).where(users.c.id == user_id))
            count = await tx.scalar(select(func.count()).select_from(price_alerts).where(_a.user_id == user_id, _LIVE))
            if int(count) >= max_per_user:
                return None
            made = await tx.scalar(
                tx.insert(price_alerts).values(user_id=user_id, token=token, kind=kind, threshold=str(threshold),
                                               armed=int(armed), created_at=now).returning(_a.id))
        assert made is not None
        return int(made)

    async def of_user(self, user_id: int) -> list[PriceAlert]:
        rows = await self._db.fetch_all(_ALERT.where(_a.user_id == user_id, _LIVE).order_by(_a.id))
        return [_alert(r) for r in rows]

    async def get(self, alert_id: int) -> PriceAlert | None:
        row = await self._db.fetch_one(_ALERT.where(_a.id == alert_id, _LIVE))
        return _alert(row) if row is not None else None

    async def delete(self, user_id: int, alert_id: int, now: int) -> bool:
        """Delete one of the user's live alerts; False when they have no such alert."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                update(price_alerts).where(_a.id == alert_id, _a.user_id == user_id, _LIVE).values(deleted_at=now))
        return changed == 1

    async def live(self) -> list[PriceAlert]:
        rows = await self._db.fetch_all(_ALERT.where(_LIVE).order_by(_a.id))
        return [_alert(r) for r in rows]

    async def users_watching(self, token: str) -> set[int]:
        """Users with a live alert on index `token`."""
        rows = await self._db.fetch_all(select(_a.user_id).distinct().where(_a.token == token, _LIVE))
        return {int(r.user_id) for r in rows}

    async def settle(self, fired: Sequence[tuple[int, Decimal, int]], rearmed: Sequence[int], now: int) -> None:
        """In one transaction: fire (id, value, block) alerts still armed, re-arm disarmed ones. A row that
        changed meanwhile (deleted, or fired by another check) is left alone: each is a conditional UPDATE on
        `armed`, which PostgreSQL re-checks on the row's latest version, so of two checks one fires it."""
        async with self._db.transaction() as tx:
            for alert_id, value, block in fired:
                await tx.execute(
                    update(price_alerts).where(_a.id == alert_id, _a.armed == 1, _LIVE)
                    .values(armed=0, fired_count=_a.fired_count + 1, fired_value=str(value), fired_block=block,
                            last_fired_at=now))
            for alert_id in rearmed:
                await tx.execute(update(price_alerts).where(_a.id == alert_id, _a.armed == 0, _LIVE).values(armed=1))

    async def unsent(self) -> list[PriceAlert]:
        """Live alerts that fired and whose message is not queued yet."""
        rows = await self._db.fetch_all(_ALERT.where(_LIVE, _a.sent_count < _a.fired_count).order_by(_a.id))
        return [_alert(r) for r in rows]

    async def sent(self, alert_id: int, count: int) -> None:
        """The alert's message number `count` is queued (sent_count only grows: a conditional UPDATE)."""
        async with self._db.transaction() as tx:
            await tx.execute(update(price_alerts).where(_a.id == alert_id, _a.sent_count < count).values(sent_count=count))
