"""bot.storage.fills.FillRows.reconcile on SQLite and PostgreSQL: what a wallet's fills do not explain is a transfer,
recorded once per wallet, index and block, by one process or two at once (at the same block or at different ones);
nothing while an intent of the wallet may still move tokens, while a mined trade has no fill, or when the read is older
than a fill; nothing for an index while a request to its factory is open (pending, or filled without its fill yet), and
a cancelled request holds nothing up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import insert, update

from bot.portfolio.fill import Fill
from bot.storage.db import Database
from bot.storage.fills import FillRows
from bot.storage.schema import intents, issuance_orders, users

CHAIN, INDEX, WALLET = 31337, "MAG7.ssi", "0x" + "ab" * 20
KINDS = ("buy", "sell")


async def a_user(db: Database) -> int:
    async with db.transaction() as tx:
        await tx.execute(insert(users).values(platform="console", platform_user_id="u1", created_at=1, last_seen_at=1))
    return int(await db.scalar(users.select().with_only_columns(users.c.id)))


def seen(user: int, block: int) -> Callable[[str, int], Fill]:
    """The transfer fill `units` (> 0: in) of an index seen at `block` would be."""

    def make(index: str, units: int) -> Fill:
        sides = ("", 0, 0, index, units, 8) if units > 0 else (index, -units, 8, "", 0, 0)
        return Fill(None, user, CHAIN, "transfer_in" if units > 0 else "transfer_out", index, *sides, Decimal(100), 0,
                    Decimal(0), None, "", block, block, wallet=WALLET)
    return make


async def reconcile(rows: FillRows, user: int, block: int, units: int, index: str = INDEX) -> list[int] | None:
    got = await rows.reconcile(CHAIN, WALLET, block, {index: units}, KINDS, seen(user, block))
    return None if got is None else [f.units for f in got]


async def an_intent(db: Database, user: int, state: str, kind: str = "buy", result: str | None = None) -> int:
    async with db.transaction() as tx:
        await tx.execute(insert(intents).values(
            user_id=user, address=WALLET, kind=kind, chain_id=CHAIN, params="{}", state=state, quote_expires_at=0,
            platform="console", chat_id="c", created_at=1, updated_at=1, result=result))
    return int(await db.scalar(intents.select().with_only_columns(intents.c.id).order_by(intents.c.id.desc())))


async def test_a_difference_is_recorded_once_and_a_trade_in_flight_waits(db: Database, other: Database) -> None:
    user = await a_user(db)
    rows, elsewhere = FillRows(db), FillRows(other)
    assert await reconcile(rows, user, 10, 0) == []  # nothing held, nothing filled: nothing to explain
    assert await reconcile(rows, user, 10, 5 * 10**8) == [5 * 10**8]
    assert await reconcile(elsewhere, user, 10, 5 * 10**8) == []  # the same read by another process
    assert await reconcile(elsewhere, user, 12, 5 * 10**8) == []  # a later read: explained by the transfer now
    assert await reconcile(rows, user, 9, 7 * 10**8) is None  # older than a fill: stale, recorded nothing

    intent = await an_intent(db, user, "sent")  # a buy of 3 on its way: the balance may already hold it
    assert await reconcile(rows, user, 20, 8 * 10**8) is None
    await db.execute(update(intents).where(intents.c.id == intent).values(state="mined"))
    assert await reconcile(rows, user, 20, 8 * 10**8) is None  # mined, its fill not recorded yet
    assert await rows.record(Fill(intent, user, CHAIN, "buy", INDEX, "USDC", 300 * 10**6, 6, INDEX, 3 * 10**8, 8,
                                  Decimal(100), 3000, Decimal(0), None, "0x1", 19, 19, wallet=WALLET))
    assert await reconcile(rows, user, 20, 8 * 10**8) == []  # the fill explains it
    assert await reconcile(rows, user, 21, 6 * 10**8) == [-2 * 10**8]  # two left the wallet
    await an_intent(db, user, "cancelled")  # never sent: moves nothing, holds nothing up
    assert await reconcile(rows, user, 22, 6 * 10**8) == []
    assert [(f.kind, f.block) for f in await rows.all(user)] == [("transfer_in", 10), ("buy", 19), ("transfer_out", 21)]


async def test_two_processes_reconciling_at_once_record_one_transfer(db: Database, other: Database) -> None:
    """At the same block (the unique key) and at different blocks (the wallet's lock, then the newer-fill rule)."""
    user = await a_user(db)
    rows, elsewhere = FillRows(db), FillRows(other)
    same = await asyncio.gather(reconcile(rows, user, 30, 4 * 10**8), reconcile(elsewhere, user, 30, 4 * 10**8))
    assert sorted(map(str, same)) == ["[400000000]", "[]"]
    apart = await asyncio.gather(reconcile(rows, user, 40, 9 * 10**8), reconcile(elsewhere, user, 41, 9 * 10**8))
    recorded = [units for got in apart if got for units in got]
    assert recorded == [5 * 10**8], apart
    assert sum(f.units for f in await rows.all(user)) == 9 * 10**8


async def test_an_open_factory_request_holds_up_its_index_and_a_cancelled_one_nothing(db: Database) -> None:
    """A redemption takes the tokens into the factory until it fills: while its order is pending (or filled with no
    fill yet, or mined with no order row yet) the balance is no transfer out; once cancelled, the tokens back, nothing
    waits. A pool index of the same wallet goes on meanwhile."""
    user, rows, issued = await a_user(db), FillRows(db), "MAG7.nex"
    assert await reconcile(rows, user, 10, 4 * 10**18, issued) == [4 * 10**18]
    request = await an_intent(db, user, "mined", "redeem", '{"nonce": 7, "block": 11}')
    assert await reconcile(rows, user, 12, 3 * 10**18, issued) is None  # mined, its order row not made yet
    async with db.transaction() as tx:
        await tx.execute(insert(issuance_orders).values(
            intent_id=request, user_id=user, chain="stocks", factory="0x" + "fa" * 20, index_symbol=issued, side="redeem",
            nonce=7, amount_in=10**18, requested_at=11, requested_block=11, state="pending"))
    assert await reconcile(rows, user, 12, 3 * 10**18, issued) is None  # pending: the factory holds the token
    assert await reconcile(rows, user, 12, 10**8) == [10**8]  # another index is not held up
    for state in ("filled", "cancelled"):
        await db.execute(update(issuance_orders).where(issuance_orders.c.intent_id == request).values(state=state))
        waits = await reconcile(rows, user, 13, 3 * 10**18 if state == "filled" else 4 * 10**18, issued)
        assert waits is None if state == "filled" else waits == [], state  # filled: its fill is not recorded yet
    assert [(f.index, f.block) for f in await rows.all(user)] == [(issued, 10), (INDEX, 12)]
