"""The storage of market alerts, connected-wallet links, issuance orders and DCA plans (bot.storage.market_alerts,
.connected, .orders, .dca) on its own, on each engine the `db` fixture gives: what each query reads and writes, and
that two processes racing on one database claim a signing page once, a DCA run once, record an order once, keep the
per-user alert limit and leave one live connected wallet."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal


from sqlalchemy import select

from bot.storage.connected import ConnectedAddressRows, ConnectLinkRows, SigningLinkRows
from bot.storage.db import Database
from bot.storage.dca import DcaPlanRows, NewPlan
from bot.storage.market_alerts import PriceAlertRows, RebalanceEvent, RebalanceRows
from bot.storage.orders import OrderRows
from bot.storage.schema import intents, users
from bot.trading.intents import Intent, State

NOW = 1_800_000_000
MAX_AMOUNT = 2**256 - 1




async def user(db: Database, name: str = "42") -> int:
    async with db.transaction() as tx:
        made = await tx.scalar(tx.insert(users).values(platform="telegram", platform_user_id=name, created_at=NOW,
                                                        last_seen_at=NOW).returning(users.c.id))
    return int(made)


async def intent(db: Database, user_id: int, kind: str = "issue", state: str = "mined") -> int:
    params = {"chain": "base", "factory": "0xF", "index": "MAG7.nex", "amount_in": str(MAX_AMOUNT)}
    async with db.transaction() as tx:
        made = await tx.scalar(tx.insert(intents).values(
            user_id=user_id, address="0xA", kind=kind, chain_id=8453, params=json.dumps(params), state=state,
            quote_expires_at=NOW, platform="telegram", chat_id="42", created_at=NOW, updated_at=NOW,
        ).returning(intents.c.id))
    return int(made)


async def test_a_signing_page_is_claimed_by_one_browser_of_two_processes(db: Database, other: Database) -> None:
    uid = await user(db)
    iid = await intent(db, uid)
    links = SigningLinkRows(db, clock=lambda: NOW)
    assert not await links.issue("tok", iid, uid + 1, "0xA", 8453, [], 600)  # not the user's intent: nothing stored
    assert await links.issue("tok", iid, uid, "0xA", 8453, [{"to": "0xB"}], 600)
    claims = await asyncio.gather(*(SigningLinkRows(d).claim("tok", f"browser{i}", NOW) for i, d in enumerate([db, other] * 4)))
    assert sorted(claims) == [False] * 7 + [True]
    assert not await links.claim("tok", "late", NOW)
    got = await links.get("tok")
    assert got is not None and got.txs == [{"to": "0xB"}] and got.hashes == [] and got.session_hash is not None
    assert await links.record("tok", [], "0x1", 2, NOW) and not await links.record("tok", [], "0x9", 2, NOW)
    assert await links.replace_hash("tok", ["0x1"], 0, "0x2") and not await links.replace_hash("tok", ["0x1"], 0, "0x3")
    assert await links.record("tok", ["0x2"], "0x4", 2, NOW)
    done = await links.get("tok")
    assert done is not None and done.hashes == ["0x2", "0x4"] and done.used_at == NOW
    assert not await links.claim("x", "browser", NOW) and await links.get("x") is None


async def test_two_links_used_at_once_leave_one_live_connected_wallet(db: Database, other: Database) -> None:
    uid = await user(db)
    links = ConnectLinkRows(db, clock=lambda: NOW)
    for token in ("one", "two", "old"):
        await links.issue(token, uid, "telegram", "42", f"nonce-{token}", 600)
    used = await asyncio.gather(links.use_and_link("one", uid, "0xAAA", NOW),
                                ConnectLinkRows(other).use_and_link("two", uid, "0xBBB", NOW))
    assert used == [True, True]  # the later one replaced the earlier one's wallet
    live = await ConnectedAddressRows(db).live(uid)
    assert live in ("0xAAA", "0xBBB")
    assert not await links.use_and_link("one", uid, "0xCCC", NOW)  # used once
    assert not await links.use_and_link("old", uid, "0xCCC", NOW + 600)  # expired
    first = await links.get("one")
    assert first is not None and first.used_at == NOW and first.nonce == "nonce-one"
    assert await ConnectedAddressRows(db, clock=lambda: NOW).remove(uid) == live
    assert await ConnectedAddressRows(db).remove(uid) is None and await ConnectedAddressRows(db).live(uid) is None


async def test_plans_made_at_once_across_processes_never_pass_the_limit(db: Database, other: Database) -> None:
    """Two chats or two workers making the user's last allowed plans at the same moment: the count and the insert
    are one transaction under the user's row, so exactly the room left is used."""
    uid = await user(db)
    plan = NewPlan(uid, "MAG7.ssi", 25_000_000, "daily", 540, None, "UTC", "telegram", "42")
    for _ in range(3):
        assert await DcaPlanRows(db).create(plan, NOW, limit=5) is not None
    # each pool's connections opened first, so the six transactions really overlap (a connection being opened would
    # hold one back until the others were done)
    await asyncio.gather(*(d.fetch_all(select(users.c.id)) for d in [db, other] * 3))
    made = await asyncio.gather(*(DcaPlanRows(d).create(plan, NOW, limit=5) for d in [db, other] * 3))
    assert sorted(m is not None for m in made) == [False] * 4 + [True] * 2
    assert len(await DcaPlanRows(db).of_user(uid)) == 5
    assert await DcaPlanRows(other).create(plan, NOW, limit=5) is None
    assert await DcaPlanRows(other).create(plan, NOW) is not None  # no limit given: none applied


async def test_a_dca_run_is_claimed_once_across_processes_and_only_while_active(db: Database, other: Database) -> None:
    uid = await user(db)
    plans = DcaPlanRows(db)
    plan_id = await plans.create(NewPlan(uid, "MAG7.ssi", 25_000_000, "weekly", 540, 0, "Europe/Paris", "telegram", "42"), NOW)
    plan = await plans.get(plan_id)
    assert plan is not None and (plan.usdc_units, plan.weekday, plan.state, plan.failures) == (25_000_000, 0, "active", 0)
    claims = await asyncio.gather(*(DcaPlanRows(d).start_run(plan_id, NOW) for d in [db, other] * 4))
    assert sorted(claims) == [False] * 7 + [True]
    for _ in range(2):
        after = await plans.failed(plan_id, 3)
    assert after is not None and (after.state, after.failures) == ("active", 2)
    after = await plans.failed(plan_id, 3)
    assert after is not None and (after.state, after.failures) == ("paused", 3)
    assert not await plans.start_run(plan_id, NOW + 86_400)  # paused: the job that read it active does not buy
    assert await plans.move(plan_id, uid, ("paused",), "active") and not await plans.move(plan_id, uid, ("paused",), "active")
    assert (await plans.get(plan_id)).failures == 0  # type: ignore[union-attr]
    assert not await plans.move(plan_id, uid + 1, ("active",), "paused")  # not the user's
    assert await plans.start_run(plan_id, NOW + 86_400)
    iid = await intent(db, uid, "buy")
    await plans.run_intent(plan_id, NOW + 86_400, iid)
    await plans.finish_run(plan_id, NOW + 86_400, "done")
    await plans.finish_run(plan_id, NOW, "failed", "error.chain.unavailable")
    runs = await plans.runs(plan_id)
    assert [(r.due_at, r.intent_id, r.outcome, r.error) for r in runs] == [
        (NOW, None, "failed", "error.chain.unavailable"), (NOW + 86_400, iid, "done", None)]
    assert [p.id for p in await plans.of_user(uid)] == [p.id for p in await plans.active()] == [plan_id]
    assert await plans.move(plan_id, uid, ("active", "paused"), "cancelled")
    assert await plans.of_user(uid) == [] and await plans.active() == []


async def test_an_order_is_recorded_once_with_its_256_bit_amount_and_settled_once(db: Database, other: Database) -> None:
    uid = await user(db)
    iid = await intent(db, uid)
    await intent(db, uid, "buy")  # not a request: never an order
    orders = OrderRows(db, clock=lambda: NOW)
    assert await orders.unrecorded() == [iid]
    mined = Intent(iid, uid, "0xA", "issue", 8453, {"chain": "base", "factory": "0xF", "index": "MAG7.nex",
                   "amount_in": str(MAX_AMOUNT)}, State.MINED, NOW, "telegram", "42", None,
                   {"nonce": 7, "requested_at": NOW, "block": 99, "expected_at": NOW + 3600})
    recorded = await asyncio.gather(orders.record(mined), OrderRows(other).record(mined))
    assert sorted(recorded) == [False, True] and await orders.unrecorded() == []
    (order,) = await orders.pending()
    assert (order.amount_in, order.nonce, order.requested_block, order.expected_at, order.index) == (
        MAX_AMOUNT, 7, 99, NOW + 3600, "MAG7.nex")
    assert order.params["chain"] == "base" and order.chat_id == "42" and order.message_ref is None
    cancel = await intent(db, uid, "cancel", "quoted")
    assert await orders.cancelling(order.id, cancel, None) and not await orders.cancelling(order.id, cancel, None)
    assert await orders.cancelling(order.id, cancel, cancel)
    settled = await asyncio.gather(orders.settle(order.id, "filled", MAX_AMOUNT - 1, 10**18),
                                   OrderRows(other, clock=lambda: NOW).settle(order.id, "cancelled"))
    assert sorted(settled) == [False, True]
    got = await orders.get(order.id)
    assert got is not None and got.settled_at == NOW and got.cancel_intent == cancel
    assert (got.amount_out, got.price) == ((MAX_AMOUNT - 1, 10**18) if got.state == "filled" else (None, None))
    assert await orders.pending() == [] and [o.id for o in await orders.of_user(uid)] == [order.id]


async def test_the_alert_limit_holds_across_processes_and_alerts_fire_once(db: Database, other: Database) -> None:
    uid = await user(db)
    made = await asyncio.gather(*(PriceAlertRows(d).add(uid, "MAG7.ssi", "above", Decimal("105.5"), True, NOW, 2)
                                  for d in [db, other] * 3))
    ids = sorted(i for i in made if i is not None)
    assert len(ids) == 2
    alerts = PriceAlertRows(db)
    first, second = ids
    await alerts.settle([(first, Decimal("106.125"), 7)], [], NOW)
    await asyncio.gather(alerts.settle([(first, Decimal("107"), 8)], [], NOW),
                         PriceAlertRows(other).settle([(first, Decimal("108"), 9)], [], NOW))  # disarmed: no change
    fired = await alerts.get(first)
    assert fired is not None and (fired.armed, fired.fired_count, fired.fired_value, fired.fired_block) == (
        False, 1, Decimal("106.125"), 7)
    assert [a.id for a in await alerts.unsent()] == [first]
    await alerts.sent(first, 1)
    await alerts.sent(first, 0)  # a late, older count never lowers it
    assert (await alerts.get(first)).sent_count == 1 and await alerts.unsent() == []  # type: ignore[union-attr]
    await alerts.settle([], [first], NOW)
    assert (await alerts.get(first)).armed  # type: ignore[union-attr]
    assert await alerts.users_watching("MAG7.ssi") == {uid} and await alerts.users_watching("TOP10.ssi") == set()
    assert await alerts.delete(uid, second, NOW) and not await alerts.delete(uid, second, NOW)
    assert [a.id for a in await alerts.of_user(uid)] == [a.id for a in await alerts.live()] == [first]
    assert await alerts.get(second) is None
    assert await alerts.add(uid, "MAG7.ssi", "premium", Decimal("2"), False, NOW, 2) is not None


async def test_rebalance_events_are_stored_once_and_read_in_chain_order(db: Database, other: Database) -> None:
    rows = RebalanceRows(db)
    events = [RebalanceEvent("0xT", 10, "0xh1", 0, "start"), RebalanceEvent("0xT", 12, "0xh2", 1, "tokenset"),
              RebalanceEvent("0xT", 12, "0xh2", 2, "fee"), RebalanceEvent("0xT", 13, "0xh3", 0, "tokenset"),
              RebalanceEvent("0xT", 14, "0xh4", 0, "end"), RebalanceEvent("0xU", 11, "0xh5", 0, "end")]
    new = await asyncio.gather(rows.store(events, ["0xT", "0xU"], 20), RebalanceRows(other).store(events, ["0xT"], 20))
    assert sorted(new) == [0, 6]
    assert await rows.cursors() == {"0xT": (20, 21), "0xU": (20, 21)}
    await rows.store([], ["0xT"], 30)
    assert (await rows.cursors())["0xT"] == (30, 21)  # the cursor moves, the first block watched stays
    assert await rows.open_events() == sorted(events, key=lambda e: (e.block, e.log_index))
    start, tokenset, fee, later, end, _ = events
    assert await rows.started_at(end) == 10 and await rows.started_at(start) is None
    assert await rows.first_tokenset_since(end, 10) == 13  # 12 was the fee collection's
    assert await rows.first_tokenset_since(end, 13) is None
    assert await rows.fee_collection(tokenset) and not await rows.fee_collection(later)
    assert await rows.end_after(tokenset) and not await rows.end_after(end)
    await rows.done(start)
    await rows.done_through("0xT", 13)
    assert [(e.tx_hash, e.log_index) for e in await rows.open_events()] == [("0xh5", 0), ("0xh4", 0)]


async def test_live_wallets_are_paged_in_id_order(db: Database) -> None:
    uid, other_uid = await user(db, "1"), await user(db, "2")
    links = ConnectLinkRows(db, clock=lambda: NOW)
    for who, token, address in ((uid, "a", "0xA1"), (other_uid, "b", "0xB1"), (uid, "c", "0xA2")):
        await links.issue(token, who, "telegram", "1", "n", 600)
        assert await links.use_and_link(token, who, address, NOW)
    rows = RebalanceRows(db)
    first = await rows.wallets(0, 1)
    assert [(u, a) for _, u, a in first] == [(other_uid, "0xB1")]  # 0xA1 was replaced by 0xA2
    rest = await rows.wallets(first[0][0], 10)
    assert [(u, a) for _, u, a in rest] == [(uid, "0xA2")]
