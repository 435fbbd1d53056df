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
from typing import Literal

import aiosqlite

from bot.storage.db import Database

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


_ALERT_COLUMNS = "id, user_id, token, kind, threshold, armed, fired_count, sent_count, fired_value, fired_block"


def _alert(row: aiosqlite.Row) -> PriceAlert:
    return PriceAlert(int(row[0]), int(row[1]), str(row[2]), row[3], Decimal(str(row[4])), bool(row[5]), int(row[6]), int(row[7]),
                      Decimal(str(row[8])) if row[8] is not None else None, int(row[9]) if row[9] is not None else None)


class RebalanceRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def cursors(self) -> dict[str, tuple[int, int]]:
        """token address -> (the last block read for it, the first block watched)."""
        rows = await self._db.fetch_all("SELECT token, block, since FROM rebalance_cursor")
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}

    async def store(self, events: Sequence[RebalanceEvent], tokens: Sequence[str], to_block: int) -> int:
        """Store new events and move every token's cursor to `to_block`, in one transaction; how many were new."""
        async with self._db.transaction() as tx:
            new = 0
            for e in events:
                new += await tx.execute(
                    "INSERT OR IGNORE INTO rebalance_events (token, block, tx_hash, log_index, kind) VALUES (?, ?, ?, ?, ?)",
                    (e.token, e.block, e.tx_hash, e.log_index, e.kind))
            await tx.executemany(  # a new token is watched from the block after `to_block`
                "INSERT INTO rebalance_cursor VALUES (?, ?, ?) ON CONFLICT (token) DO UPDATE SET block = excluded.block",
                [(t, to_block, to_block + 1) for t in tokens])
        return new

    async def open_events(self) -> list[RebalanceEvent]:
        """Events not yet handled, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT token, block, tx_hash, log_index, kind FROM rebalance_events WHERE done = 0 ORDER BY block, log_index")
        return [RebalanceEvent(str(r[0]), int(r[1]), str(r[2]), int(r[3]), r[4]) for r in rows]

    async def started_at(self, event: RebalanceEvent) -> int | None:
        """The block of the StartRebalance that `event` closes: the last start of its token before it, unless an
        end came in between (None: the start was not seen)."""
        row = await self._db.fetch_one(
            """SELECT kind, block FROM rebalance_events
               WHERE token = ? AND kind IN ('start', 'end') AND (block < ? OR (block = ? AND log_index < ?))
               ORDER BY block DESC, log_index DESC LIMIT 1""",
            (event.token, event.block, event.block, event.log_index))
        return int(row[1]) if row is not None and row[0] == "start" else None

    async def first_tokenset_since(self, event: RebalanceEvent, after_block: int) -> int | None:
        """The block of the first SetTokenset of `event`'s token after `after_block` and up to `event`, fee
        collections left out."""
        row = await self._db.fetch_one(
            """SELECT MIN(block) FROM rebalance_events e
               WHERE token = ? AND kind = 'tokenset' AND block > ? AND block <= ?
                 AND NOT EXISTS (SELECT 1 FROM rebalance_events f
                                 WHERE f.tx_hash = e.tx_hash AND f.token = e.token AND f.kind = 'fee')""",
            (event.token, after_block, event.block))
        return int(row[0]) if row is not None and row[0] is not None else None

    async def fee_collection(self, event: RebalanceEvent) -> bool:
        """Whether `event`'s transaction also emitted its token's SetFeeTokenset: a fee collection."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM rebalance_events WHERE tx_hash = ? AND token = ? AND kind = 'fee'", (event.tx_hash, event.token))
        return row is not None

    async def end_after(self, event: RebalanceEvent) -> bool:
        """Whether an EndRebalance of `event`'s token is stored after it."""
        row = await self._db.fetch_one(
            """SELECT 1 FROM rebalance_events
               WHERE token = ? AND kind = 'end' AND (block > ? OR (block = ? AND log_index > ?))""",
            (event.token, event.block, event.block, event.log_index))
        return row is not None

    async def done_through(self, token: str, block: int) -> None:
        """Every open event of `token` up to `block` handled (a rebalance window told once)."""
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE rebalance_events SET done = 1 WHERE token = ? AND block <= ? AND done = 0", (token, block))

    async def done(self, event: RebalanceEvent) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE rebalance_events SET done = 1 WHERE tx_hash = ? AND log_index = ?", (event.tx_hash, event.log_index))

    async def wallets(self, after_id: int, limit: int) -> list[tuple[int, int, str]]:
        """Live wallets (custodial and connected) with id above `after_id`: (id, user id, address), in id order."""
        rows = await self._db.fetch_all(
            "SELECT id, user_id, address FROM wallets WHERE removed_at IS NULL AND id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


class PriceAlertRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, user_id: int, token: str, kind: AlertKind, threshold: Decimal, armed: bool, now: int,
                  max_per_user: int) -> int | None:
        """A new alert line; None when the user has `max_per_user` live ones already."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("SELECT COUNT(*) FROM price_alerts WHERE user_id = ? AND deleted_at IS NULL", (user_id,))
            if row is not None and int(row[0]) >= max_per_user:
                return None
            made = await tx.fetch_one(
                "INSERT INTO price_alerts (user_id, token, kind, threshold, armed, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (user_id, token, kind, str(threshold), int(armed), now))
        assert made is not None
        return int(made[0])

    async def of_user(self, user_id: int) -> list[PriceAlert]:
        rows = await self._db.fetch_all(
            f"SELECT {_ALERT_COLUMNS} FROM price_alerts WHERE user_id = ? AND deleted_at IS NULL ORDER BY id", (user_id,))
        return [_alert(r) for r in rows]

    async def get(self, alert_id: int) -> PriceAlert | None:
        row = await self._db.fetch_one(f"SELECT {_ALERT_COLUMNS} FROM price_alerts WHERE id = ? AND deleted_at IS NULL", (alert_id,))
        return _alert(row) if row is not None else None

    async def delete(self, user_id: int, alert_id: int, now: int) -> bool:
        """Delete one of the user's live alerts; False when they have no such alert."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE price_alerts SET deleted_at = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL", (now, alert_id, user_id))
        return changed == 1

    async def live(self) -> list[PriceAlert]:
        rows = await self._db.fetch_all(f"SELECT {_ALERT_COLUMNS} FROM price_alerts WHERE deleted_at IS NULL ORDER BY id")
        return [_alert(r) for r in rows]

    async def users_watching(self, token: str) -> set[int]:
        """Users with a live alert on index `token`."""
        rows = await self._db.fetch_all("SELECT DISTINCT user_id FROM price_alerts WHERE token = ? AND deleted_at IS NULL", (token,))
        return {int(r[0]) for r in rows}

    async def settle(self, fired: Sequence[tuple[int, Decimal, int]], rearmed: Sequence[int], now: int) -> None:
        """In one transaction: fire (id, value, block) alerts still armed, re-arm disarmed ones. A row that
        changed meanwhile (deleted, or fired by another check) is left alone."""
        async with self._db.transaction() as tx:
            for alert_id, value, block in fired:
                await tx.execute(
                    """UPDATE price_alerts SET armed = 0, fired_count = fired_count + 1, fired_value = ?, fired_block = ?,
                       last_fired_at = ? WHERE id = ? AND armed = 1 AND deleted_at IS NULL""",
                    (str(value), block, now, alert_id))
            for alert_id in rearmed:
                await tx.execute("UPDATE price_alerts SET armed = 1 WHERE id = ? AND armed = 0 AND deleted_at IS NULL", (alert_id,))

    async def unsent(self) -> list[PriceAlert]:
        """Live alerts that fired and whose message is not queued yet."""
        rows = await self._db.fetch_all(
            f"SELECT {_ALERT_COLUMNS} FROM price_alerts WHERE deleted_at IS NULL AND sent_count < fired_count ORDER BY id")
        return [_alert(r) for r in rows]

    async def sent(self, alert_id: int, count: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE price_alerts SET sent_count = MAX(sent_count, ?) WHERE id = ?", (count, alert_id))
