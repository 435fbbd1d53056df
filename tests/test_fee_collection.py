"""The daily fee collection is not a rebalance, on the devnet: `collectFeeTokenset()` (what `indexbot devnet
collect-fees` runs) shrinks the tokenset by the daily fee and tells nobody anything, while a rebalance after it
still alerts holders; a rebalance of a deployment without StartRebalance/EndRebalance events (`rebalancing()`
only) is told once, when it ends; /indexes shows the daily fee."""

from __future__ import annotations

from decimal import Decimal

from test_rebalance_alerts import MAG7, holder, rebalance_messages
from auxil.alerts import watcher
from auxil.trading import say

from bot.chain import protocol as p
from bot.app import App
from bot.chain.client import Fn
from bot.core.messages import Usd
from devnet import operator as op
from devnet.deploy import DAILY_FEE
from devnet.rpc import Sender, connect, contract

D = Decimal
DAY = 86400
LAST_COLLECT = Fn("lastCollectTimestamp()", "uint256")


async def tokenset(app: App) -> dict[str, int]:
    async with connect(app.profile.rpc_urls[0]) as w3:
        return {e.symbol: e.amount for e in await op.read_tokenset(w3, app.profile.index(MAG7).token.address)}


async def test_a_daily_fee_collection_shrinks_the_tokenset_and_tells_nobody(app: App) -> None:
    w = watcher(app)
    await w.start()
    holds = await holder(app, "holds", whole=2)
    await say(app, "/alert MAG7 above 900", "watcher")
    await op.collect_fees(app.profile, MAG7)  # whatever was due since the devnet was deployed
    assert await w.check() == 0
    before = await tokenset(app)

    await op.advance(app.profile.rpc_urls[0], DAY + 60)
    (c,) = await op.collect_fees(app.profile, MAG7)
    assert c.days == 1 and c.fee == D(DAILY_FEE).scaleb(-8) and c.receipt is not None
    after = await tokenset(app)
    for symbol, amount in before.items():  # every amount shrinks by one day's fee (the basket's, rescaled)
        expected = amount - amount * DAILY_FEE // 10**8
        assert abs(after[symbol] - expected) <= 1, symbol
    # NAV falls by the fee, up to the tokenset's rounding down to whole base units (a few hundred BTC units each)
    assert c.nav_after < c.nav_before and abs(c.nav_after / c.nav_before - (1 - c.fee)) < D("1e-5")
    logs = [lg["topics"][0].to_0x_hex() for lg in c.receipt["logs"]]
    assert [k for k in (p.topic("SetBasket((string,string,string,uint8,uint256)[])"),
                        p.topic("SetFeeTokenset((string,string,string,uint8,uint256)[])"),
                        p.topic("SetTokenset((string,string,string,uint8,uint256)[])")) if k in logs] == [
        p.topic("SetBasket((string,string,string,uint8,uint256)[])"),
        p.topic("SetFeeTokenset((string,string,string,uint8,uint256)[])"),
        p.topic("SetTokenset((string,string,string,uint8,uint256)[])")]

    assert await w.check() == 0  # the fee is not news
    assert await rebalance_messages(app) == []
    kinds = await app.db.fetch_all("SELECT kind, done FROM rebalance_events ORDER BY block, log_index")
    assert [(k[0], k[1]) for k in kinds][-2:] == [("fee", 1), ("tokenset", 1)]

    # less than a day later: nothing to collect, nothing sent
    (again,) = await op.collect_fees(app.profile, MAG7)
    assert again.days == 0 and again.receipt is None and await tokenset(app) == after

    # a real rebalance after it still alerts the holder and the alert user, with NAV from the fee-reduced tokenset
    await op.set_price(app.profile, "BTC", D("150000"))
    result = await op.rebalance(app.profile, "MAG7")
    assert await w.check() == 2
    sent = await rebalance_messages(app)
    assert holds in {u for _, u, _ in sent}
    nav = next(m for m in sent[0][2].lines if m.key == "rebalance.nav")
    assert nav.params["before"] == Usd(result.nav_before, 4)


async def test_a_rebalance_without_start_and_end_events_is_told_once_when_it_ends(app: App) -> None:
    w = watcher(app)
    await w.start()
    await holder(app, "holds", whole=1)
    ref = app.profile.index(MAG7)
    async with connect(app.profile.rpc_urls[0]) as w3:
        asset = contract(w3, "AssetToken", ref.token.address)
        owner = Sender(w3, chain_id=app.profile.chain_id)
        await owner.transact(asset.functions.setQuietRebalance(True))
        await owner.transact(asset.functions.startRebalance())
        old = await op.read_tokenset(w3, ref.token.address)
        rows = [(e.chain, e.symbol, e.addr, e.decimals, e.amount * (2 if e.symbol == "ETH" else 1)) for e in old]
        set_at = (await owner.transact(asset.functions.setTokenset(rows)))["blockNumber"]
        assert await w.check() == 0  # rebalancing() is still true: nothing to tell yet, the event stays open
        assert await w.check() == 0
        await op.advance(app.profile.rpc_urls[0], 60)
        end_at = (await owner.transact(asset.functions.endRebalance()))["blockNumber"]
        await owner.transact(asset.functions.setQuietRebalance(False))
    assert await w.check() == 1
    ((_, _, reply),) = await rebalance_messages(app)
    blocks = next(m for m in reply.lines if m.key == "rebalance.blocks")
    assert blocks.params == {"before": set_at - 1, "after": end_at}  # the block where rebalancing() turned false
    assert await w.check() == 0 and len(await rebalance_messages(app)) == 1
    assert (await app.db.fetch_one("SELECT COUNT(*) FROM rebalance_events WHERE done = 0"))[0] == 0  # type: ignore[index]


async def test_the_devnet_legacy_rebalance_is_told_once(app: App) -> None:
    w = watcher(app)
    await w.start()
    await holder(app, "holds", whole=1)
    await op.set_price(app.profile, "BTC", D("150000"))
    await op.rebalance(app.profile, "MAG7", legacy=True)
    assert await w.check() == 1
    kinds = await app.db.fetch_all("SELECT kind FROM rebalance_events ORDER BY block, log_index")
    assert [k[0] for k in kinds] == ["tokenset"]  # no StartRebalance / EndRebalance on such a deployment
    assert await w.check() == 0


async def test_indexes_shows_the_daily_fee(app: App) -> None:
    reply = await say(app, "/indexes")
    yearly = 1 - (1 - D(DAILY_FEE).scaleb(-8)) ** 365
    assert "Fee: 0.0041% a day (about 1.49% a year), taken from the basket daily" in reply.rendered.text, reply.rendered.text
    assert yearly.quantize(D("0.0001")) == D("0.0149")
