"""Rebalance alerts against the real devnet: after `devnet.operator.rebalance` (what `indexbot devnet rebalance MAG7`
runs), holders, stakers and price-alert users of MAG7 get one alert with each constituent's weight before and after,
the constituents added and removed, and NAV before and after; nobody else does, nobody twice (a second check, a
crash before the event was marked done), and a check when nothing happened costs two round trips. The job's
coroutine (`RebalanceWatcher.check`) is called directly."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.delivery.alerts.rebalance import RebalanceWatcher
from bot.app import App
from bot.core.messages import Pct, Reply, Usd
from bot.market.engine.basket import weights
from bot.delivery.outbox import codec
from devnet import operator as op
from devnet.rpc import Sender, connect, contract
from auxil.trading import Recorder, funded_user, say
from auxil.alerts import watcher

D = Decimal
MAG7 = "MAG7.ssi"


async def holder(app: App, name: str, whole: int = 0, staked: int = 0) -> int:
    """A user with a custodial wallet given `whole` MAG7 and `staked` sMAG7 by the deployer, who wrote privately."""
    user_id, address = await funded_user(app, name, usdc=D(0), eth=D(0))
    ref = app.profile.index(MAG7)
    assert ref.staking is not None
    async with connect(app.profile.rpc_urls[0]) as w3:
        owner = Sender(w3, chain_id=app.profile.chain_id)
        asset = contract(w3, "AssetToken", ref.token.address)
        if whole:
            await owner.transact(asset.functions.transfer(address, whole * 10**8))
        if staked:
            stake = contract(w3, "StakeToken", ref.staking.address)
            await owner.transact(asset.functions.approve(ref.staking.address, staked * 10**8))
            await owner.transact(stake.functions.stake(staked * 10**8))
            await owner.transact(stake.functions.transfer(address, staked * 10**8))
    await say(app, "/help", name)
    return user_id


async def rebalance_messages(app: App) -> list[tuple[str, int, Reply]]:
    rows = await app.db.fetch_all("SELECT dedupe, user_id, payload FROM outbox WHERE kind = 'rebalance' ORDER BY user_id")
    return [(str(r[0]), int(r[1]), codec.loads(str(r[2]))) for r in rows]


def params_of(reply: Reply, key: str) -> dict[str, dict[str, object]]:
    """symbol -> params of the reply's `key` lines."""
    return {str(m.params["symbol"]): dict(m.params) for m in reply.lines if m.key == key}


async def test_a_rebalance_tells_holders_stakers_and_alert_users_what_changed(app: App) -> None:
    w = watcher(app)
    await w.start()  # the cursor starts at the head: what happened before is not news
    holds = await holder(app, "holds", whole=2)
    stakes = await holder(app, "stakes", staked=1)
    nothing = await holder(app, "nothing")
    await say(app, "/alert MAG7 above 900", "watcher")
    watches = (await app.services.users.seen("console", "watcher")).id
    await say(app, "/alert MEME.ssi above 900", "other-index")
    assert await w.check() == 0

    ref = app.profile.index(MAG7)
    async with connect(app.profile.rpc_urls[0]) as w3:
        await op.set_price(app.profile, "TRX", D("0.30"))  # TRX's market cap now beats ADA's: it joins MAG7
        old = await op.read_tokenset(w3, ref.token.address)
        prices = await op.feed_prices(w3, app.profile.feeds)
    result = await op.rebalance(app.profile, "MAG7")
    end_tx = result.receipts[-1]["transactionHash"].to_0x_hex()

    assert await w.check() == 3
    sent = await rebalance_messages(app)
    assert [(key, user) for key, user, _ in sent] == [
        (f"rebalance:{ref.token.address}:{end_tx}:{u}", u) for u in sorted([holds, stakes, watches])]
    assert nothing not in {u for _, u, _ in sent}
    reply = sent[0][2]
    assert all(r == reply for _, _, r in sent)  # one message, rendered in each reader's language when sent

    before, after = weights(old, prices), weights(result.tokenset, prices)
    assert set(after) - set(before) == {"TRX"} and set(before) - set(after) == {"ADA"}
    kept = params_of(reply, "rebalance.weight")
    assert set(kept) == set(before) & set(after)
    for symbol, p in kept.items():
        assert p["before"] == Pct(before[symbol], 2) and p["after"] == Pct(after[symbol], 2)
    assert params_of(reply, "rebalance.weight_added") == {"TRX": {"symbol": "TRX", "after": Pct(after["TRX"], 2)}}
    assert params_of(reply, "rebalance.weight_removed") == {"ADA": {"symbol": "ADA", "before": Pct(before["ADA"], 2)}}
    nav = next(m for m in reply.lines if m.key == "rebalance.nav")
    assert nav.params["before"] == Usd(result.nav_before, 4) and nav.params["after"] == Usd(result.nav_after, 4)
    assert [m.params["symbols"] for m in reply.lines if m.key in ("rebalance.added", "rebalance.removed")] == ["TRX", "ADA"]

    # Once: a second check, and a crash before the events were marked done, add nothing.
    assert await w.check() == 0
    async with app.db.transaction() as tx:
        await tx.execute("UPDATE rebalance_events SET done = 0")
    assert await watcher(app).check() == 0
    assert len(await rebalance_messages(app)) == 3
    kinds = await app.db.fetch_all("SELECT kind FROM rebalance_events ORDER BY block, log_index")
    assert [k[0] for k in kinds] == ["start", "tokenset", "end"]  # re-read blocks stored nothing twice


async def test_the_alert_reads_as_a_user_sees_it(app: App) -> None:
    front = Recorder()
    app.notices.attach(front)
    w = watcher(app)
    await w.start()
    await holder(app, "u1", whole=1)
    await op.set_price(app.profile, "BTC", D("150000"))  # BTC's weight goes up, nobody joins or leaves
    await op.rebalance(app.profile, "MAG7")
    assert await w.check() == 1
    for _ in range(100):
        if front.sent:
            break
        await asyncio.sleep(0.05)
    (chat, text, _), = front.sent
    assert chat == "u1"
    assert text.startswith("MAG7.ssi was rebalanced\n")
    assert "  BTC: " in text and " → " in text
    assert "No constituent was added or removed." in text
    assert "NAV per token: $" in text and " before, $" in text
    assert "you hold or stake MAG7.ssi" in text


async def test_a_rebalance_under_way_when_the_watcher_starts_is_told_at_its_end(app: App) -> None:
    """Its StartRebalance came before the cursor: "before" is the block before its first SetTokenset."""
    await holder(app, "u1", whole=1)
    ref = app.profile.index(MAG7)
    w = watcher(app)
    async with connect(app.profile.rpc_urls[0]) as w3:
        asset = contract(w3, "AssetToken", ref.token.address)
        owner = Sender(w3, chain_id=app.profile.chain_id)
        await owner.transact(asset.functions.startRebalance())
        await w.start()
        old = await op.read_tokenset(w3, ref.token.address)
        rows = [(e.chain, e.symbol, e.addr, e.decimals, e.amount * (2 if e.symbol == "ETH" else 1)) for e in old]
        await owner.transact(asset.functions.setTokenset(rows))
        assert await w.check() == 0  # under way: nothing to tell yet
        await owner.transact(asset.functions.endRebalance())
    assert await w.check() == 1
    (_, _, reply), = await rebalance_messages(app)
    nav = next(m for m in reply.lines if m.key == "rebalance.nav")
    assert isinstance(nav.params["after"], Usd) and isinstance(nav.params["before"], Usd)
    assert nav.params["after"].value > nav.params["before"].value  # twice the ETH: worth more per token
    eth = params_of(reply, "rebalance.weight")["ETH"]
    assert isinstance(eth["after"], Pct) and isinstance(eth["before"], Pct) and eth["after"].value > eth["before"].value


async def test_nothing_new_costs_two_round_trips_and_queues_nothing(app: App) -> None:
    w = watcher(app)
    await w.start()
    await holder(app, "u1", whole=1)
    await w.check()
    with app.chain.counting() as trips:
        assert await w.check() == 0
    assert trips.count == 2  # eth_blockNumber and one eth_getLogs for every index
    assert await rebalance_messages(app) == []


async def test_past_rebalances_are_not_news_on_a_fresh_database(app: App) -> None:
    await holder(app, "u1", whole=1)
    await op.rebalance(app.profile, "MAG7")  # before the watcher ever ran
    w = watcher(app)
    assert await w.check() == 0
    assert await rebalance_messages(app) == []
