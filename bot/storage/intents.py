"""Intents and their transactions: the only SQL the trade pipeline runs.

Every move of an intent is a compare-and-set on its current state inside one write transaction
(`UPDATE … WHERE id = ? AND state = ?`): of two Confirm presses, on one device or two, exactly one moves
`quoted` to `confirmed`; the other gets False and sends nothing. Signed transactions are stored with their
hash before they are broadcast, so a crash at any point leaves something reconciliation can finish.
A connected wallet's transactions are recorded by the hash its wallet reported (`record_wallet_tx`): no raw
bytes, and the nonce and fees only when the node knew the transaction at the time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiosqlite

from bot.logs import public_hash
from bot.storage.db import Database, Tx
from bot.trading.intents import UNFINISHED, Intent, State, may_move
from bot.trading.params import KindParams, to_json

_INTENT_COLS = (
    "id, user_id, address, kind, chain_id, params, state, quote_expires_at, platform, chat_id, "
    "message_ref, result"
)
_TX_COLS = (
    "id, intent_id, step, purpose, address, nonce, raw_tx, tx_hash, max_fee, priority_fee, state, replaced_by, "
    "block, signed_at, sent_at"
)


@dataclass(frozen=True)
class NewTx:
    """A signed transaction about to be stored (before broadcast)."""

    step: int
    purpose: str
    address: str
    nonce: int
    raw_tx: bytes
    tx_hash: str
    max_fee: int
    priority_fee: int


@dataclass(frozen=True)
class WalletTx:
    """A transaction a connected wallet sent for one step, as reported (nonce and fees None when unknown)."""

    step: int
    purpose: str
    address: str
    tx_hash: str
    nonce: int | None
    max_fee: int | None
    priority_fee: int | None


Recorded = Literal["recorded", "same", "conflict", "refused"]


@dataclass(frozen=True)
class TxRow:
    id: int
    intent_id: int
    step: int
    purpose: str
    address: str
    nonce: int | None  # None: sent by a connected wallet our node did not know yet
    raw_tx: bytes | None  # None: sent by a connected wallet
    tx_hash: str
    max_fee: int | None
    priority_fee: int | None
    state: str  # signed, sent, mined, reverted, dropped, replaced
    replaced_by: str | None
    block: int | None
    signed_at: float
    sent_at: float | None

    @property
    def live(self) -> bool:
        """Still the transaction that should mine for its step (not replaced, not dropped)."""
        return self.state in ("signed", "sent")


def _intent(row: aiosqlite.Row) -> Intent:
    return Intent(
        id=int(row[0]), user_id=int(row[1]), address=str(row[2]), kind=str(row[3]), chain_id=int(row[4]),
        params=json.loads(row[5]), state=State(row[6]), quote_expires_at=int(row[7]), platform=str(row[8]),
        chat_id=str(row[9]), message_ref=row[10], result=json.loads(row[11]) if row[11] else None,
    )


def _tx(row: aiosqlite.Row) -> TxRow:
    if row[6] is not None:  # signed here (raw bytes stored): its hash is public, as the log filter must know
        public_hash(str(row[7]))
    return TxRow(
        int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), _int(row[5]),
        None if row[6] is None else bytes(row[6]), str(row[7]), _int(row[8]), _int(row[9]), str(row[10]), row[11],
        None if row[12] is None else int(row[12]), float(row[13]), None if row[14] is None else float(row[14]),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class IntentRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create_from_quote(
        self, *, kind: str, params: KindParams, user_id: int, address: str, connected: bool, chain_id: int,
        expires_at: int, platform: str, chat_id: str,
    ) -> int:
        """Store a quote as a new intent in `quoted`: its typed params as the row holds them (bot.trading.params),
        marked as a connected wallet's when that wallet signs it; returns its id."""
        stored = to_json(params)
        if connected:
            stored["wallet"] = "connected"
        return await self.create(user_id=user_id, address=address, kind=kind, chain_id=chain_id, params=stored,
                                 expires_at=expires_at, platform=platform, chat_id=chat_id)

    async def create(
        self, *, user_id: int, address: str, kind: str, chain_id: int, params: dict[str, Any], expires_at: int,
        platform: str, chat_id: str,
    ) -> int:
        """Store a new intent in state `quoted`; returns its id."""
        now = int(self._clock())
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                """INSERT INTO intents (user_id, address, kind, chain_id, params, state, quote_expires_at,
                                        platform, chat_id, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (user_id, address, kind, chain_id, json.dumps(params), State.QUOTED.value, expires_at,
                 platform, chat_id, now, now),
            )
        assert row is not None
        return int(row[0])

    async def get(self, intent_id: int) -> Intent | None:
        row = await self._db.fetch_one(f"SELECT {_INTENT_COLS} FROM intents WHERE id = ?", (intent_id,))
        return None if row is None else _intent(row)

    async def _move(
        self, tx: Tx, intent_id: int, old: State, new: State, *, result: dict[str, Any] | None = None,
        message_ref: str | None = None, params: dict[str, Any] | None = None,
    ) -> bool:
        if not may_move(old, new):
            raise ValueError(f"intent state may not move from {old.value} to {new.value}")
        sets, values = ["state = ?", "updated_at = ?"], [new.value, int(self._clock())]
        if result is not None:
            sets.append("result = ?")
            values.append(json.dumps(result))
        if message_ref is not None:
            sets.append("message_ref = ?")
            values.append(message_ref)
        if params is not None:
            sets.append("params = ?")
            values.append(json.dumps(params))
        changed = await tx.execute(
            f"UPDATE intents SET {', '.join(sets)} WHERE id = ? AND state = ?", (*values, intent_id, old.value)
        )
        return changed == 1

    async def move(
        self, intent_id: int, old: State, new: State, *, result: dict[str, Any] | None = None,
        message_ref: str | None = None, params: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-set: move from `old` to `new` only if the intent is still in `old`. False if refused."""
        async with self._db.transaction() as tx:
            return await self._move(tx, intent_id, old, new, result=result, message_ref=message_ref, params=params)

    async def store_signed(self, intent_id: int, txs: Sequence[NewTx], params: dict[str, Any] | None = None) -> bool:
        """Store every signed transaction and move `confirmed` to `signed`, atomically, before broadcast."""
        now = self._clock()
        async with self._db.transaction() as tx:
            if not await self._move(tx, intent_id, State.CONFIRMED, State.SIGNED, params=params):
                return False
            await tx.executemany(
                """INSERT INTO intent_txs (intent_id, step, purpose, address, nonce, raw_tx, tx_hash, max_fee,
                                           priority_fee, state, signed_at, chain_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'signed', ?, (SELECT chain_id FROM intents WHERE id = ?))""",
                [(intent_id, t.step, t.purpose, t.address, t.nonce, t.raw_tx, t.tx_hash, t.max_fee, t.priority_fee, now,
                  intent_id) for t in txs],
            )
        return True

    async def set_params(self, intent_id: int, state: State, params: dict[str, Any]) -> bool:
        """Replace the params of an intent still in `state` (a compare-and-set, like a move)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE intents SET params = ?, updated_at = ? WHERE id = ? AND state = ?",
                (json.dumps(params), int(self._clock()), intent_id, state.value),
            )
        return changed == 1

    async def record_wallet_tx(self, intent_id: int, sent: WalletTx, replaces: TxRow | None = None) -> Recorded:
        """Record the hash a connected wallet reported for a step and move `confirmed` to `sent`, atomically.

        "same": that hash is already recorded for that step (a repeated report changes nothing); "conflict":
        the step holds another live hash and `replaces` does not name it, or the steps before it are missing;
        "refused": the intent is no longer waiting for its wallet (finished, or never confirmed)."""
        now = self._clock()
        async with self._db.transaction() as tx:
            state = await tx.fetch_one("SELECT state FROM intents WHERE id = ?", (intent_id,))
            rows = [_tx(r) for r in await tx.fetch_all(
                f"SELECT {_TX_COLS} FROM intent_txs WHERE intent_id = ? ORDER BY step, id", (intent_id,))]
            if any(r.step == sent.step and r.tx_hash == sent.tx_hash for r in rows):
                return "same"
            if state is None or State(state[0]) not in (State.CONFIRMED, State.SENT):
                return "refused"
            live = [r for r in rows if r.step == sent.step and r.state != "replaced"]
            if (replaces is None and live) or (replaces is not None and [r.id for r in live] != [replaces.id]):
                return "conflict"
            if {r.step for r in rows} != set(range(sent.step)) and replaces is None:
                return "conflict"
            if replaces is not None:
                await tx.execute(
                    "UPDATE intent_txs SET state = 'replaced', replaced_by = ? WHERE id = ?", (sent.tx_hash, replaces.id)
                )
            await tx.execute(
                """INSERT INTO intent_txs (intent_id, step, purpose, address, nonce, raw_tx, tx_hash, max_fee,
                                           priority_fee, state, signed_at, sent_at, chain_id)
                   VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, 'sent', ?, ?, (SELECT chain_id FROM intents WHERE id = ?))""",
                (intent_id, sent.step, sent.purpose, sent.address, sent.nonce, sent.tx_hash, sent.max_fee,
                 sent.priority_fee, now, now, intent_id),
            )
            if State(state[0]) is State.CONFIRMED:
                await self._move(tx, intent_id, State.CONFIRMED, State.SENT)
        return "recorded"

    async def store_replacement(self, old: TxRow, new: NewTx) -> None:
        """A fee-bumped replacement for `old` (same nonce), or `old` moved down into a nonce gap (bot.trading.gaps),
        stored before it is broadcast; `old` is never broadcast again."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE intent_txs SET state = 'replaced', replaced_by = ? WHERE id = ?", (new.tx_hash, old.id)
            )
            await tx.execute(
                """INSERT INTO intent_txs (intent_id, step, purpose, address, nonce, raw_tx, tx_hash, max_fee,
                                           priority_fee, state, signed_at, chain_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'signed', ?, (SELECT chain_id FROM intents WHERE id = ?))""",
                (old.intent_id, new.step, new.purpose, new.address, new.nonce, new.raw_tx, new.tx_hash, new.max_fee,
                 new.priority_fee, self._clock(), old.intent_id),
            )

    async def mark_sent(self, tx_ids: Sequence[int]) -> None:
        now = self._clock()
        async with self._db.transaction() as tx:
            await tx.executemany(
                "UPDATE intent_txs SET state = 'sent', sent_at = COALESCE(sent_at, ?) WHERE id = ? AND state = 'signed'",
                [(now, i) for i in tx_ids],
            )

    async def settle_tx(self, row: TxRow, state: str, block: int | None) -> None:
        """`row` mined or reverted (at `block`), or dropped; the other transactions of its nonce are dropped."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE intent_txs SET state = 'dropped' WHERE address = ? AND nonce = ? AND id != ? "
                "AND intent_id = ? AND state IN ('signed', 'sent', 'replaced')",
                (row.address, row.nonce, row.id, row.intent_id),
            )
            await tx.execute("UPDATE intent_txs SET state = ?, block = ? WHERE id = ?", (state, block, row.id))

    async def txs(self, intent_id: int) -> list[TxRow]:
        rows = await self._db.fetch_all(f"SELECT {_TX_COLS} FROM intent_txs WHERE intent_id = ? ORDER BY step, id", (intent_id,))
        return [_tx(r) for r in rows]

    async def unfinished(self) -> list[Intent]:
        """Intents that were confirmed but have no final outcome yet (oldest first)."""
        marks = ", ".join("?" for _ in UNFINISHED)
        rows = await self._db.fetch_all(
            f"SELECT {_INTENT_COLS} FROM intents WHERE state IN ({marks}) ORDER BY id", [s.value for s in UNFINISHED]
        )
        return [_intent(r) for r in rows]

    async def in_state(self, state: State, limit: int = 100) -> list[Intent]:
        """Intents in `state`, newest first (the operator's `indexbot intents --held`)."""
        rows = await self._db.fetch_all(
            f"SELECT {_INTENT_COLS} FROM intents WHERE state = ? ORDER BY id DESC LIMIT ?", (state.value, limit)
        )
        return [_intent(r) for r in rows]

    async def recent(self, limit: int = 20) -> list[Intent]:
        rows = await self._db.fetch_all(f"SELECT {_INTENT_COLS} FROM intents ORDER BY id DESC LIMIT ?", (limit,))
        return [_intent(r) for r in rows]

    async def of_user(self, user_id: int, limit: int = 20) -> list[Intent]:
        rows = await self._db.fetch_all(
            f"SELECT {_INTENT_COLS} FROM intents WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
        )
        return [_intent(r) for r in rows]

    async def settled_from(self, chain_id: int) -> dict[str, int]:
        """Per address, the highest nonce of its transactions on `chain_id` recorded as mined or reverted (raw bytes
        kept: signed by the bot): what the chain must have counted past (bot.trading.gaps.replay_lost)."""
        rows = await self._db.fetch_all(
            "SELECT address, MAX(nonce) FROM intent_txs WHERE chain_id = ? AND state IN ('mined', 'reverted')"
            " AND raw_tx IS NOT NULL AND nonce IS NOT NULL GROUP BY address", (chain_id,),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def settled_txs(self, chain_id: int, address: str, from_nonce: int) -> list[TxRow]:
        """`address`'s mined or reverted transactions on `chain_id` from `from_nonce` on, in nonce order."""
        rows = await self._db.fetch_all(
            f"SELECT {_TX_COLS} FROM intent_txs WHERE chain_id = ? AND address = ? AND nonce >= ?"
            " AND state IN ('mined', 'reverted') AND raw_tx IS NOT NULL ORDER BY nonce", (chain_id, address, from_nonce),
        )
        return [_tx(r) for r in rows]

    async def in_flight_nonces(self, address: str, chain_id: int | None = None) -> list[int]:
        """The nonces `address`'s stored transactions hold that are signed or sent and not settled yet (on
        `chain_id`, when given), ascending: the wallet's own transactions in flight."""
        rows = await self._db.fetch_all(
            "SELECT DISTINCT nonce FROM intent_txs WHERE address = ? AND state IN ('signed', 'sent')"
            " AND nonce IS NOT NULL AND (? IS NULL OR chain_id = ?) ORDER BY nonce", (address, chain_id, chain_id),
        )
        return [int(r[0]) for r in rows]
