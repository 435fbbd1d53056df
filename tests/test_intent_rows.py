"""The intent store's compare-and-set moves on both engines: of two writers moving one intent (or one stored
transaction) at once, exactly one moves it; a settled transaction is never replaced or settled again; and the
cooldown watches and last fresh prices keep their conditional writes. On PostgreSQL the writers run on separate
pooled connections at once (READ COMMITTED), as two processes would."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import func, insert, select

from bot.market.prices import Reading
from bot.storage.cooldowns import CooldownWatchRows
from bot.storage.db import Database
from bot.storage.intents import IntentRows, NewTx, WalletTx
from bot.storage.nonces import in_flight
from bot.storage.prices import Fallback, LastFreshPriceRows
from bot.storage.schema import intents, point_snapshots, users
from bot.trading.intents import State

ALICE = "0x" + "a1" * 20
RACE = 8  # writers let loose on one row at once


async def _user(db: Database) -> int:
    async with db.transaction() as tx:
        known = await tx.scalar(select(func.count()).select_from(users))
        uid = await tx.scalar(insert(users).values(platform="test", platform_user_id=str(known), created_at=0,
                                                   last_seen_at=0).returning(users.c.id))
    return int(uid)


async def _intent(db: Database, rows: IntentRows, *, connected: bool = False) -> int:
    params = {"wallet": "connected"} if connected else {}
    return await rows.create(user_id=await _user(db), address=ALICE, kind="buy", chain_id=31337, params=params,
                             expires_at=2_000_000_000, platform="test", chat_id="1")


def _signed(step: int, nonce: int, tag: str = "") -> NewTx:
    return NewTx(step, "swap", ALICE, nonce, b"\x02raw" + bytes([step]), "0x" + f"{tag}{step:02x}".rjust(64, "0"),
                 30_000_000_000, 1_000_000_000)


async def test_of_many_writers_moving_one_intent_exactly_one_moves_it(db: Database) -> None:
    rows = IntentRows(db)
    intent_id = await _intent(db, rows)
    moved = await asyncio.gather(*[rows.move(intent_id, State.QUOTED, State.CONFIRMED, message_ref=str(i))
                                   for i in range(RACE)])
    assert moved.count(True) == 1
    intent = await rows.get(intent_id)
    assert intent is not None and intent.state is State.CONFIRMED
    assert intent.message_ref == str(moved.index(True))  # the winner's write, and only the winner's


async def test_transactions_are_stored_once_by_the_one_writer_that_signs(db: Database) -> None:
    rows = IntentRows(db)
    intent_id = await _intent(db, rows)
    assert await rows.move(intent_id, State.QUOTED, State.CONFIRMED)
    stored = await asyncio.gather(*[rows.store_signed(intent_id, [_signed(0, 7, tag=f"{i:x}")], {"try": i})
                                    for i in range(RACE)])
    assert stored.count(True) == 1
    txs = await rows.txs(intent_id)
    assert [(t.step, t.nonce, t.state) for t in txs] == [(0, 7, "signed")]
    assert txs[0].tx_hash == _signed(0, 7, tag=f"{stored.index(True):x}").tx_hash
    assert await db.scalar(select(intents.c.state).where(intents.c.id == intent_id)) == "signed"
    assert await in_flight(db, 31337, ALICE) == [7] and await in_flight(db, 1, ALICE) == []  # per chain


async def test_a_transaction_is_settled_once_and_a_settled_one_is_never_replaced(db: Database) -> None:
    rows = IntentRows(db)
    intent_id = await _intent(db, rows)
    assert await rows.move(intent_id, State.QUOTED, State.CONFIRMED)
    assert await rows.store_signed(intent_id, [_signed(0, 3)])
    [first] = await rows.txs(intent_id)
    assert await rows.mark_sent([first.id]) == 1
    assert await rows.mark_sent([first.id]) == 0  # sent already: no move
    bump = _signed(0, 3, tag="b")
    assert await rows.store_replacement(first, bump)
    assert not await rows.store_replacement(first, _signed(0, 3, tag="c"))  # replaced already: nothing stored
    old, new = await rows.txs(intent_id)
    assert (old.state, old.replaced_by, new.state, new.tx_hash) == ("replaced", bump.tx_hash, "signed", bump.tx_hash)

    # the replaced one mines after all: of racing settlers, one settles it and drops its replacement
    settled = await asyncio.gather(*[rows.settle_tx(old, "mined", 100 + i) for i in range(RACE)])
    assert settled.count(True) == 1
    old, new = await rows.txs(intent_id)
    assert (old.state, old.block, new.state) == ("mined", 100 + settled.index(True), "dropped")
    assert not await rows.settle_tx(new, "mined", 101)  # dropped is final
    assert not await rows.settle_tx(old, "reverted", 102)  # so is mined
    assert not await rows.store_replacement(old, _signed(0, 4, tag="d"))  # a mined transaction is never moved
    assert [(t.state, t.block) for t in await rows.txs(intent_id)] == [("mined", 100 + settled.index(True)),
                                                                      ("dropped", None)]
    assert await rows.settled_from(31337) == {ALICE: 3}
    assert [t.id for t in await rows.settled_txs(31337, ALICE, 3)] == [old.id]


async def test_contradicting_settlers_of_one_nonce_settle_it_once_without_deadlock(db: Database) -> None:
    """One writer finds the replaced transaction mined while another drops its replacement: each would drop the
    other's row first; the intent's row lock queues them, and the first outcome stays."""
    rows = IntentRows(db)
    for attempt in range(RACE):
        intent_id = await _intent(db, rows)
        assert await rows.move(intent_id, State.QUOTED, State.CONFIRMED)
        assert await rows.store_signed(intent_id, [_signed(0, 10 + attempt, tag=f"{attempt:x}")])
        [first] = await rows.txs(intent_id)
        assert await rows.store_replacement(first, _signed(0, 10 + attempt, tag=f"{attempt:x}f"))
        old, new = await rows.txs(intent_id)
        settled = await asyncio.gather(rows.settle_tx(old, "mined", 5), rows.settle_tx(new, "dropped", None))
        assert settled.count(True) == 1
        states = [t.state for t in await rows.txs(intent_id)]
        assert states == (["mined", "dropped"] if settled[0] else ["dropped", "dropped"])


async def test_a_connected_wallets_racing_reports_record_one_hash_per_step(db: Database) -> None:
    rows = IntentRows(db)
    intent_id = await _intent(db, rows, connected=True)
    assert await rows.move(intent_id, State.QUOTED, State.CONFIRMED)
    reports = [WalletTx(0, "swap", ALICE, "0x" + f"{i:x}".rjust(64, "e"), 5, None, None) for i in range(RACE)]
    answers = await asyncio.gather(*[rows.record_wallet_tx(intent_id, r) for r in reports])
    assert sorted(answers) == ["conflict"] * (RACE - 1) + ["recorded"]
    [row] = await rows.txs(intent_id)
    assert row.tx_hash == reports[answers.index("recorded")].tx_hash and row.raw_tx is None
    assert (await rows.get(intent_id)).state is State.SENT  # type: ignore[union-attr]
    assert await rows.record_wallet_tx(intent_id, reports[answers.index("recorded")]) == "same"

    speed_up = WalletTx(0, "swap", ALICE, "0x" + "f" * 64, 5, 40, 2)
    assert await rows.settle_tx(row, "mined", 9)
    assert await rows.record_wallet_tx(intent_id, speed_up, row) == "conflict"  # a mined one is not replaced
    assert [t.tx_hash for t in await rows.txs(intent_id)] == [row.tx_hash]
    assert await rows.move(intent_id, State.SENT, State.MINED)
    assert await rows.record_wallet_tx(intent_id, WalletTx(1, "swap", ALICE, "0x" + "9" * 64, 6, None, None)) == "refused"


async def test_cooldown_watches_move_only_to_a_later_end(db: Database) -> None:
    watches = CooldownWatchRows(db)
    uid = await _user(db)
    token = "0x" + "5b" * 20
    await watches.watch(uid, token, ALICE, 1_000)
    await watches.watch(uid, token, ALICE, 2_000)  # a new unstake moves the end
    assert [w.ends_at for w in await watches.due(1_500)] == []
    assert [(w.ends_at, w.open) for w in await watches.due(2_000)] == [(2_000, True)]
    await watches.notified(uid, token, 1_000)  # an alert for the earlier end closes nothing
    assert [w.ends_at for w in await watches.open()] == [2_000]
    await watches.notified(uid, token, 2_000)
    assert await watches.open() == [] and (await watches.get(uid, token)).notified_end == 2_000  # type: ignore[union-attr]
    await watches.forget(uid, token, 1_000)  # an earlier end: the watch stays
    assert await watches.get(uid, token) is not None
    await watches.forget(uid, token, 2_000)
    assert await watches.get(uid, token) is None


async def test_the_newest_fresh_price_stays_and_fallbacks_are_replaced(db: Database) -> None:
    prices = LastFreshPriceRows(db, 31337)

    def reading(symbol: str, price: str, at: int) -> Reading:
        return Reading(symbol, "chainlink", Decimal(price), at, 0)

    await prices.remember([reading("ETH", "3000.5", 200), reading("ETH", "2900", 100), reading("BTC", "1", 5)])
    await prices.remember([reading("ETH", "2800", 150)])  # older than the stored one: kept out
    last = await prices.last(["ETH", "BTC", "SOL"])
    assert {s: (r.price, r.published_at) for s, r in last.items()} == {
        "ETH": (Decimal("3000.5"), 200), "BTC": (Decimal("1"), 5)}
    assert await LastFreshPriceRows(db, 1).last(["ETH"]) == {}  # per chain

    async with db.transaction() as tx:
        await tx.execute(insert(point_snapshots).values(day="2026-01-02", epoch="1", block=1, timestamp=0,
                                                        state="reading", started_at=0))
    used = [Fallback("b", Decimal("2"), "pyth", 1, 10), Fallback("B", Decimal("1.5"), "twap", 2, 20)]
    await prices.record_fallbacks("2026-01-02", used)
    await prices.record_fallbacks("2026-01-02", [Fallback("b", Decimal("3"), "twap", 3, 30)])
    assert await prices.fallbacks("2026-01-02") == [used[1], Fallback("b", Decimal("3"), "twap", 3, 30)]
