"""The bot's event readers behind a provider that caps eth_getLogs (tests/rpc_proxy.py in front of the devnet's anvil):
the rebalance watcher and the issuance order watch find every event across ranges many times the cap, and after a
crash and a restart the watcher resumes from its stored cursor (re-reading only `reorg_depth` blocks behind it)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w
from eth_utils.address import to_checksum_address

from bot.delivery.alerts.rebalance import TOPICS
from bot.app import App
from bot.chain.client import ChainUnavailable
from bot.issuance.hours import MarketHours
from bot.storage.market_alerts import RebalanceRows
from conftest import make_config
from devnet import operator as op
from devnet.anvil import node_call
from devnet.fulfil import Fulfiller
from devnet.harness import Devnet
from devnet.rpc import Sender, connect, contract
from auxil.issuance import ALWAYS, mag7_nex, profiles_with_hours, steps
from rpc_proxy import Asked, RpcProxy
from auxil.trading import Recorder, click, funded_user, say, token_balance
from auxil.alerts import watcher

CAP = 25


async def mine(devnet: Devnet, blocks: int) -> int:
    async with connect(devnet.url) as w3:
        await node_call(w3, "anvil_mine", hex(blocks))
        return int(await w3.eth.block_number)


def windows(asked: list[Asked]) -> list[tuple[int, int]]:
    return [(a.first, a.last) for a in asked if a.answer == "ok"]


async def test_the_rebalance_watcher_reads_every_event_through_the_cap_and_resumes_from_its_cursor(
        chain: Devnet, tmp_path: Path) -> None:
    ref = chain.profile.index("MAG7.ssi")
    async with RpcProxy(chain.url, max_blocks=CAP, style="quicknode") as proxy:
        config = make_config(chain, tmp_path, rpc_urls=(proxy.url,))
        app = await App.start(config)
        try:
            _, address = await funded_user(app, "holder", usdc=Decimal(0), eth=Decimal(0))
            await say(app, "/help", "holder")  # a private chat to be told in
            async with connect(chain.url) as w3:
                await Sender(w3, chain_id=chain.profile.chain_id).transact(
                    contract(w3, "AssetToken", ref.token.address).functions.transfer(address, 10**8))
            await watcher(app).start()
            since = (await RebalanceRows(app.db).cursors())[ref.token.address][0]
            await mine(chain, 8 * CAP)
            await op.set_price(chain.profile, "BTC", Decimal("150000"))
            await op.rebalance(chain.profile, "MAG7")
            head = await mine(chain, 8 * CAP)

            proxy.fail_after_logs = 3  # the node goes away after three windows
            with pytest.raises(ChainUnavailable):
                await watcher(app).check()
            cursor = (await RebalanceRows(app.db).cursors())[ref.token.address][0]
            assert since < cursor < head  # three windows stored with their cursor, the rest not read
            proxy.fail_after_logs = None
        finally:
            await app.stop()

        before = len(proxy.asked)
        again = await App.start(config)  # a restart: the same database
        try:
            assert await watcher(again).check() == 1  # the holder, told once
            stored = await again.db.fetch_all("SELECT block, log_index, kind FROM rebalance_events ORDER BY block, log_index")
        finally:
            await again.stop()

    resumed = windows(proxy.asked[before:])
    assert resumed[0][0] == cursor + 1 - config.alerts.reorg_depth  # from the cursor, not from where watching began
    assert resumed[-1][1] >= head and all(b + 1 == c for (_, b), (c, _) in zip(resumed, resumed[1:]))
    assert all(a.blocks <= CAP for a in proxy.asked if a.answer == "ok")
    async with connect(chain.url) as w3:  # every event, as one uncapped query to anvil gives them
        direct = await w3.eth.get_logs({"address": [to_checksum_address(r.token.address) for r in chain.profile.indexes],
                                        "topics": [list(TOPICS)], "fromBlock": since + 1, "toBlock": head})
    assert [(int(r[0]), int(r[1])) for r in stored] == [(int(e["blockNumber"]), int(e["logIndex"])) for e in direct]
    assert [r[2] for r in stored][0] == "start" and [r[2] for r in stored][-1] == "end"


def through(path: Path, url: str) -> None:
    data = tomllib.loads(path.read_text())
    data["rpc_urls"] = [url]
    path.write_text(tomli_w.dumps(data))


async def test_the_order_watch_finds_a_fill_far_behind_the_head_through_the_cap_after_a_restart(
        chain: Devnet, tmp_path: Path) -> None:
    async with RpcProxy(chain.url, max_blocks=CAP, style="alchemy") as proxy:
        path = profiles_with_hours(chain, tmp_path / "chain", ALWAYS)
        for profile_file in (path, path.parent / "stocks.toml"):
            through(profile_file, proxy.url)
        config = replace(make_config(chain, tmp_path), chain=str(path))
        app = await App.start(config)
        app.notices.attach(Recorder())
        try:
            user, address = await funded_user(app)
            await click(app, await say(app, "/buy MAG7.nex 100"), "Confirm")
            orders = app.services.issuance.orders  # type: ignore[union-attr]
            requested = (await orders.rows.of_user(user))[0].requested_block
            await mine(chain, 6 * CAP)
            fulfiller = Fulfiller(app.services.companions[0], MarketHours.from_config(ALWAYS))
            assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
            async with connect(chain.url) as w3:
                filled = int(await w3.eth.block_number)
        finally:
            await app.stop()
        head = await mine(chain, 8 * CAP)  # the fill is now far behind the head, the request further still

        before = len(proxy.asked)
        again = await App.start(config)
        again.notices.attach(Recorder())
        try:
            orders = again.services.issuance.orders  # type: ignore[union-attr]
            assert await orders.check() == 1
            order = (await orders.rows.of_user(user))[0]
            token, _ = mag7_nex(again)
            assert order.state == "filled" and order.amount_out == await token_balance(again, token, address) > 0
        finally:
            await again.stop()

    asked = proxy.asked[before:]
    searched = windows(asked)
    assert searched[0][1] >= head and all(a.blocks <= CAP for a in asked if a.answer == "ok")  # newest first, capped
    assert all(b == c - 1 for (c, _), (_, b) in zip(searched, searched[1:]))  # contiguous, going back
    assert searched[-1][0] <= filled <= searched[-1][1]  # stopped at the fill
    assert min(first for first, _ in searched) > requested  # never read back to the request
    assert [a.answer for a in asked].count("range") == 1  # the first query, over the whole range: its cap learned
