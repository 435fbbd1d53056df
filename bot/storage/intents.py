"""Intents and their transactions: the only SQL the trade pipeline runs (SQLAlchemy Core on bot.storage.schema).

Every move of an intent is a compare-and-set on its current state inside one write transaction
(`UPDATE … WHERE id = :id AND state = :old`, its rowcount checked): of two Confirm presses, on one device or two,
in one process or two, exactly one moves `quoted` to `confirmed`; the other gets False and sends nothing. On
PostgreSQL (READ COMMITTED, writers concurrent) the UPDATE that comes second waits for the first's row lock and
then re-checks its WHERE on the row as committed, so it changes nothing: the same answer SQLite's single writer
gives. A transaction's state moves forward the same way (`_TX_FROM`: signed → sent → replaced → mined | reverted |
dropped, each UPDATE conditional on the states it may leave). Signed transactions are stored with their hash
before they are broadcast, so a crash at any point leaves something reconciliation can finish. A connected
wallet's transactions are recorded by the hash its wallet reported (`record_wallet_tx`): no raw bytes, and the
nonce and fees only when the node knew the transaction at the time.

Lock order on PostgreSQL: a write transaction that changes an intent's transactions first locks the intent's row
(`_lock_intents`, or the conditional UPDATE of a move), then the transactions' rows: two processes working on one
intent queue up behind each other instead of deadlocking on its transactions' rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, ScalarSelect, Update, bindparam, func, insert, select, update
from sqlalchemy.sql import ColumnElement

from bot.logs import public_hash
from bot.storage.db import Database, Tx
from bot.storage.schema import intent_txs, intents
from bot.trading.intents import UNFINISHED, Intent, State, may_move
from bot.trading.params import KindParams, to_json

_INTENT_COLS = (
    intents.c.id, intents.c.user_id, intents.c.address, intents.c.kind, intents.c.chain_id, intents.c.params,
    intents.c.state, intents.c.quote_expires_at, intents.c.platform, intents.c.chat_id, intents.c.message_ref,
    intents.c.result,
)
_TX_COLS = (
    intent_txs.c.id, intent_txs.c.intent_id, intent_txs.c.step, intent_txs.c.purpose, intent_txs.c.address,
    intent_txs.c.nonce, intent_txs.c.raw_tx, intent_txs.c.tx_hash, intent_txs.c.max_fee, intent_txs.c.priority_fee,
    intent_txs.c.state, intent_txs.c.replaced_by, intent_txs.c.block, intent_txs.c.signed_at, intent_txs.c.sent_at,
)
_LIVE = ("signed", "sent")
# A stored transaction's state -> the states it may be reached from (forward only; mined, reverted and dropped are
# final). A replaced transaction may still mine (or be dropped) instead of its replacement.
_TX_FROM: dict[str, tuple[str, ...]] = {
    "sent": ("signed",),
    "replaced": _LIVE,
    "mined": (*_LIVE, "replaced"),
    "reverted": (*_LIVE, "replaced"),
    "dropped": (*_LIVE, "replaced"),
}


class _Undo(Exception):
    """Raised inside a write transaction to roll back what it wrote and answer `answer` instead."""

    def __init__(self, answer: Any) -> None:
        super().__init__(answer)
        self.answer = answer


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


def _intent(row: Row[Any]) -> Intent:
    return Intent(
        id=int(row[0]), user_id=int(row[1]), address=str(row[2]), kind=str(row[3]), chain_id=int(row[4]),
        params=json.loads(row[5]), state=State(row[6]), quote_expires_at=int(row[7]), platform=str(row[8]),
        chat_id=str(row[9]), message_ref=row[10], result=json.loads(row[11]) if row[11] else None,
    )


def _tx(row: Row[Any]) -> TxRow:
    if row[6] is not None:  # signed here (raw bytes stored): its hash is public, as the log filter must know
        public_hash(str(row[7]))
    return TxRow(
        int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), _int(row[5]),
        None if row[6] is None else bytes(row[6]), str(row[7]), _int(row[8]), _int(row[9]), str(row[10]), row[11],
        None if row[12] is None else int(row[12]), float(row[13]), None if row[14] is None else float(row[14]),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _tx_moves(to: str, *where: ColumnElement[bool]) -> Update:
    """The conditional UPDATE moving the transactions `where` selects to state `to`: only those in a state that
    `to` may follow move (its rowcount says how many did); add the other columns it sets with `.values`."""
    if to not in _TX_FROM:
        raise ValueError(f"a transaction's state may not move to {to}")
    return update(intent_txs).where(*where, intent_txs.c.state.in_(_TX_FROM[to])).values(state=to)


async def _lock_intents(tx: Tx, *where: ColumnElement[bool]) -> None:
    """Lock the rows of the intents `where` selects, in id order, until `tx` ends (PostgreSQL; SQLite's one writer
    holds the whole database already): taken before their transactions' rows, see the module docstring."""
    await tx.lock(select(intents.c.id).where(*where).order_by(intents.c.id))


def _chain_of(intent_id: int) -> ScalarSelect[Any]:
    """The intent's chain id, as a subquery: a transaction row carries its intent's chain (nonces are per chain)."""
    return select(intents.c.chain_id).where(intents.c.id == intent_id).scalar_subquery()


# The statements a trade runs, built once with named parameters (named unlike any column: an UPDATE's or INSERT's
# other parameters are the columns it sets). Building a Core statement and its cache key on every call cost about
# as much as running it (bench/trade.py runs some twenty per trade).
_CREATE = insert(intents).returning(intents.c.id)  # the columns are the parameters given
_GET = select(*_INTENT_COLS).where(intents.c.id == bindparam("intent"))
_MOVE = update(intents).where(intents.c.id == bindparam("intent"), intents.c.state == bindparam("old"))  # SET: the rest
_TXS = (select(*_TX_COLS).where(intent_txs.c.intent_id == bindparam("intent"))
        .order_by(intent_txs.c.step, intent_txs.c.id))
_STORE_SIGNED = insert(intent_txs).values(
    chain_id=select(intents.c.chain_id).where(intents.c.id == bindparam("of_intent")).scalar_subquery())
_LOCK_OF_TXS = select(intents.c.id).where(
    intents.c.id.in_(select(intent_txs.c.intent_id).where(intent_txs.c.id.in_(bindparam("txs", expanding=True))))
).order_by(intents.c.id)
_LOCK_ONE = select(intents.c.id).where(intents.c.id == bindparam("intent"))
_MARK_SENT = (update(intent_txs).where(intent_txs.c.id.in_(bindparam("txs", expanding=True)),
                                       intent_txs.c.state.in_(("signed",)))
              .values(state="sent", sent_at=func.coalesce(intent_txs.c.sent_at, bindparam("now"))))
_DROP_NONCE = (update(intent_txs)
               .where(intent_txs.c.address == bindparam("of_address"), intent_txs.c.nonce == bindparam("of_nonce"),
                      intent_txs.c.id != bindparam("tx"), intent_txs.c.intent_id == bindparam("of_intent"),
                      intent_txs.c.state.in_(_TX_FROM["dropped"]))
               .values(state="dropped"))
_SETTLE = {to: update(intent_txs).where(intent_txs.c.id == bindparam("tx"), intent_txs.c.state.in_(_TX_FROM[to]))
           .values(state=to, block=bindparam("at_block")) for to in _TX_FROM}


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
        async with self._db.transaction(single=True) as tx:
            new_id = await tx.scalar(_CREATE, {
                "user_id": user_id, "address": address, "kind": kind, "chain_id": chain_id, "params": json.dumps(params),
                "state": State.QUOTED.value, "quote_expires_at": expires_at, "platform": platform, "chat_id": chat_id,
                "created_at": now, "updated_at": now,
            })
        return int(new_id)

    async def get(self, intent_id: int) -> Intent | None:
        row = await self._db.fetch_one(_GET, {"intent": intent_id})
        return None if row is None else _intent(row)

    async def _move(
        self, tx: Tx, intent_id: int, old: State, new: State, *, result: dict[str, Any] | None = None,
        message_ref: str | None = None, params: dict[str, Any] | None = None,
    ) -> bool:
        """The compare-and-set itself: one conditional UPDATE, True only if it changed the row (see the module
        docstring for why its rowcount is the whole answer on both engines)."""
        if not may_move(old, new):
            raise ValueError(f"intent state may not move from {old.value} to {new.value}")
        values: dict[str, Any] = {"state": new.value, "updated_at": int(self._clock())}
        if result is not None:
            values["result"] = json.dumps(result)
        if message_ref is not None:
            values["message_ref"] = message_ref
        if params is not None:
            values["params"] = json.dumps(params)
        changed = await tx.execute(_MOVE, {**values, "intent": intent_id, "old": old.value})
        return changed == 1

    async def move(
        self, intent_id: int, old: State, new: State, *, result: dict[str, Any] | None = None,
        message_ref: str | None = None, params: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-set: move from `old` to `new` only if the intent is still in `old`. False if refused."""
        async with self._db.transaction(single=True) as tx:
            return await self._move(tx, intent_id, old, new, result=result, message_ref=message_ref, params=params)

    async def store_signed(self, intent_id: int, txs: Sequence[NewTx], params: dict[str, Any] | None = None) -> bool:
        """Store every signed transaction and move `confirmed` to `signed`, atomically, before broadcast."""
        now = self._clock()
        async with self._db.transaction() as tx:
            if not await self._move(tx, intent_id, State.CONFIRMED, State.SIGNED, params=params):
                return False  # nothing written: another process (or press) moved it first
            await tx.execute_many(
                _STORE_SIGNED,
                [{"of_intent": intent_id, "intent_id": intent_id, "step": t.step, "purpose": t.purpose, "address": t.address, "nonce": t.nonce,
                  "raw_tx": t.raw_tx, "tx_hash": t.tx_hash, "max_fee": t.max_fee, "priority_fee": t.priority_fee,
                  "state": "signed", "signed_at": now} for t in txs],
            )
        return True

    async def set_params(self, intent_id: int, state: State, params: dict[str, Any]) -> bool:
        """Replace the params of an intent still in `state` (a compare-and-set, like a move)."""
        async with self._db.transaction(single=True) as tx:
            changed = await tx.execute(
                update(intents).where(intents.c.id == intent_id, intents.c.state == state.value)
                .values(params=json.dumps(params), updated_at=int(self._clock()))
            )
        return changed == 1

    async def record_wallet_tx(self, intent_id: int, sent: WalletTx, replaces: TxRow | None = None) -> Recorded:
        """Record the hash a connected wallet reported for a step and move `confirmed` to `sent`, atomically.

        "same": that hash is already recorded for that step (a repeated report changes nothing); "conflict":
        the step holds another live hash and `replaces` does not name it (or `replaces` is no longer live: mined,
        reverted or dropped meanwhile), or the steps before it are missing; "refused": the intent is no longer
        waiting for its wallet (finished, or never confirmed)."""
        now = self._clock()
        try:
            async with self._db.transaction() as tx:
                # Read-modify-write: the intent's row is locked (SELECT … FOR UPDATE; SQLite's one writer holds the
                # whole database) before its state and transactions are read, so two reports for one intent, or a
                # report and the follower ending the intent, run one after the other and the checks below still
                # hold when the rows are written. The writes are conditional as well, and any refusal rolls back.
                state = await tx.scalar(select(intents.c.state).where(intents.c.id == intent_id).with_for_update())
                rows = [_tx(r) for r in await tx.fetch_all(
                    select(*_TX_COLS).where(intent_txs.c.intent_id == intent_id)
                    .order_by(intent_txs.c.step, intent_txs.c.id))]
                if any(r.step == sent.step and r.tx_hash == sent.tx_hash for r in rows):
                    return "same"
                if state is None or State(state) not in (State.CONFIRMED, State.SENT):
                    return "refused"
                live = [r for r in rows if r.step == sent.step and r.state != "replaced"]
                if (replaces is None and live) or (replaces is not None and [r.id for r in live] != [replaces.id]):
                    return "conflict"
                if {r.step for r in rows} != set(range(sent.step)) and replaces is None:
                    return "conflict"
                if State(state) is State.CONFIRMED and not await self._move(tx, intent_id, State.CONFIRMED, State.SENT):
                    raise _Undo("refused")
                if replaces is not None and await tx.execute(
                    _tx_moves("replaced", intent_txs.c.id == replaces.id).values(replaced_by=sent.tx_hash)
                ) != 1:
                    raise _Undo("conflict")  # settled meanwhile: a final transaction is never replaced
                await tx.execute(insert(intent_txs).values(
                    intent_id=intent_id, step=sent.step, purpose=sent.purpose, address=sent.address, nonce=sent.nonce,
                    raw_tx=None, tx_hash=sent.tx_hash, max_fee=sent.max_fee, priority_fee=sent.priority_fee,
                    state="sent", signed_at=now, sent_at=now, chain_id=_chain_of(intent_id),
                ))
        except _Undo as undo:
            answer: Recorded = undo.answer
            return answer
        return "recorded"

    async def store_replacement(self, old: TxRow, new: NewTx) -> bool:
        """A fee-bumped replacement for `old` (same nonce), or `old` moved down into a nonce gap (bot.trading.gaps),
        stored before it is broadcast; `old` is never broadcast again. False, and nothing stored, if `old` is no
        longer live (mined, reverted, dropped or replaced meanwhile, e.g. by another process): then `new` must not
        be broadcast (a transaction moved to another nonce would run the trade a second time)."""
        async with self._db.transaction() as tx:
            await _lock_intents(tx, intents.c.id == old.intent_id)
            if await tx.execute(
                _tx_moves("replaced", intent_txs.c.id == old.id).values(replaced_by=new.tx_hash)
            ) != 1:
                return False  # nothing written
            await tx.execute(insert(intent_txs).values(
                intent_id=old.intent_id, step=new.step, purpose=new.purpose, address=new.address, nonce=new.nonce,
                raw_tx=new.raw_tx, tx_hash=new.tx_hash, max_fee=new.max_fee, priority_fee=new.priority_fee,
                state="signed", signed_at=self._clock(), chain_id=_chain_of(old.intent_id),
            ))
        return True

    async def mark_sent(self, tx_ids: Sequence[int]) -> int:
        """`signed` → `sent` for these transactions (broadcast); returns how many moved. One already sent, or
        settled or replaced meanwhile, is left as it is: a broadcast repeated, or by another process, is no move."""
        ids = list(tx_ids)
        if not ids:
            return 0
        now = self._clock()
        async with self._db.transaction(single=True) as tx:  # the lock is no statement on SQLite
            await tx.lock(_LOCK_OF_TXS, {"txs": ids})  # the intents' rows first: see the module docstring
            return await tx.execute(_MARK_SENT, {"txs": ids, "now": now})

    async def settle_tx(self, row: TxRow, state: str, block: int | None) -> bool:
        """`row` mined or reverted (at `block`), or dropped; the other transactions of its nonce are dropped. False,
        and nothing changed, if `row` was settled already (by another pass or process: the first outcome stays)."""
        if state not in _SETTLE:
            raise ValueError(f"a transaction's state may not move to {state}")
        try:
            async with self._db.transaction() as tx:
                await tx.lock(_LOCK_ONE, {"intent": row.intent_id})
                # The other transactions of the nonce first: one of them may still be live, and `row` (a replaced
                # one that mined after all) may only take its place in the one-per-nonce index once it is not.
                if row.nonce is not None:  # a connected wallet's unknown nonce has no others (NULL equals nothing)
                    await tx.execute(_DROP_NONCE, {"of_address": row.address, "of_nonce": row.nonce, "tx": row.id,
                                                   "of_intent": row.intent_id})
                if await tx.execute(_SETTLE[state], {"tx": row.id, "at_block": block}) != 1:
                    raise _Undo(False)  # settled already: the drops above are rolled back with it
        except _Undo:
            return False
        return True

    async def txs(self, intent_id: int) -> list[TxRow]:
        rows = await self._db.fetch_all(_TXS, {"intent": intent_id})
        return [_tx(r) for r in rows]

    async def unfinished(self) -> list[Intent]:
        """Intents that were confirmed but have no final outcome yet (oldest first)."""
        rows = await self._db.fetch_all(
            select(*_INTENT_COLS).where(intents.c.state.in_(sorted(s.value for s in UNFINISHED))).order_by(intents.c.id)
        )
        return [_intent(r) for r in rows]

    async def in_state(self, state: State, limit: int = 100) -> list[Intent]:
        """Intents in `state`, newest first (the operator's `indexbot intents --held`)."""
        rows = await self._db.fetch_all(
            select(*_INTENT_COLS).where(intents.c.state == state.value).order_by(intents.c.id.desc()).limit(limit)
        )
        return [_intent(r) for r in rows]

    async def recent(self, limit: int = 20) -> list[Intent]:
        rows = await self._db.fetch_all(select(*_INTENT_COLS).order_by(intents.c.id.desc()).limit(limit))
        return [_intent(r) for r in rows]

    async def of_user(self, user_id: int, limit: int = 20) -> list[Intent]:
        rows = await self._db.fetch_all(
            select(*_INTENT_COLS).where(intents.c.user_id == user_id).order_by(intents.c.id.desc()).limit(limit)
        )
        return [_intent(r) for r in rows]

    async def settled_from(self, chain_id: int) -> dict[str, int]:
        """Per address, the highest nonce of its transactions on `chain_id` recorded as mined or reverted (raw bytes
        kept: signed by the bot): what the chain must have counted past (bot.trading.gaps.replay_lost)."""
        rows = await self._db.fetch_all(
            select(intent_txs.c.address, func.max(intent_txs.c.nonce))
            .where(intent_txs.c.chain_id == chain_id, intent_txs.c.state.in_(("mined", "reverted")),
                   intent_txs.c.raw_tx.is_not(None), intent_txs.c.nonce.is_not(None))
            .group_by(intent_txs.c.address)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def settled_txs(self, chain_id: int, address: str, from_nonce: int) -> list[TxRow]:
        """`address`'s mined or reverted transactions on `chain_id` from `from_nonce` on, in nonce order."""
        rows = await self._db.fetch_all(
            select(*_TX_COLS)
            .where(intent_txs.c.chain_id == chain_id, intent_txs.c.address == address, intent_txs.c.nonce >= from_nonce,
                   intent_txs.c.state.in_(("mined", "reverted")), intent_txs.c.raw_tx.is_not(None))
            .order_by(intent_txs.c.nonce, intent_txs.c.id)
        )
        return [_tx(r) for r in rows]

