"""The devnet on a real anvil: deploy, profile, NAV, Uniswap quotes, staking, operator actions, state cache."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError

from bot.market.engine.basket import TokensetEntry, nav_per_token
from bot.core.messages import Msg
from bot.chain.profile import Profile, load_profile
from bot.core.reverts import explain, revert_of
from devnet import cli
from devnet import operator as op
from devnet.anvil import Anvil, free_port, node_call, pid_alive
from devnet.deploy import COOLDOWN_SECONDS, deploy, genesis_for_deploy, load_cached, save_cache
from devnet.harness import Devnet
from devnet.market import load_market
from devnet.rpc import DEV_KEYS, Sender, connect, contract
from auxil.chain import call, view

D = Decimal
INDEXES = ["MAG7.ssi", "MEME.ssi", "DEFI.ssi", "USSI"]


@dataclass
class Deployed:
    anvil: Anvil
    profile: Profile
    profile_path: Path
    ahead: float  # how far the chain's newest block was ahead of the wall clock right after the deploy

    def connect(self) -> AbstractAsyncContextManager[AsyncWeb3]:
        return connect(self.anvil.url)


@pytest_asyncio.fixture(scope="module")
async def deployed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployed]:
    workdir = tmp_path_factory.mktemp("devnet")
    anvil = await Anvil(workdir).start(genesis=genesis_for_deploy())  # as every devnet that deploys (and may cache)
    try:
        profile = await deploy(anvil.url, workdir / "profile.toml")
        await save_cache(anvil.url, workdir / "profile.toml")
        async with connect(anvil.url) as w3:
            ahead = int((await w3.eth.get_block("latest"))["timestamp"]) - time.time()  # before any test moves time
        yield Deployed(anvil, profile, workdir / "profile.toml", ahead)
    finally:
        await anvil.stop()


def explained(exc: BaseException) -> Msg:
    revert = revert_of(exc)
    assert revert is not None
    return explain(revert)


async def on_chain_nav(w3: AsyncWeb3, profile: Profile, symbol: str) -> Decimal:
    tokenset = await op.read_tokenset(w3, profile.index(symbol).token.address)
    return nav_per_token(tokenset, await op.feed_prices(w3, profile.feeds))


def test_profile_round_trips(deployed: Deployed) -> None:
    loaded = load_profile(deployed.profile_path)
    assert loaded == deployed.profile
    assert [i.symbol for i in loaded.indexes] == INDEXES
    assert [i.staking.symbol for i in loaded.indexes if i.staking] == ["s" + s for s in INDEXES]
    assert set(loaded.feeds) == {c.symbol for c in load_market().constituents} | {"ETH"}
    assert [s.kind for s in loaded.prices["SOSO"]] == ["twap"]  # as on Base: no oracle for SOSO, its own pool
    assert [s.kind for s in loaded.prices["DOGE"]] == ["pyth", "chainlink"] and loaded.sequencer is not None
    assert loaded.chain_id == 31337 and loaded.rpc_urls == (deployed.anvil.url,)
    assert loaded.soso_staking is not None and loaded.soso_staking.symbol == "sSOSO"
    assert "PRIVATE" not in deployed.profile_path.read_text().upper()
    assert DEV_KEYS[0].removeprefix("0x") not in deployed.profile_path.read_text()


@pytest.mark.parametrize("symbol", INDEXES)
async def test_index_token_and_nav(deployed: Deployed, symbol: str) -> None:
    ref = deployed.profile.index(symbol)
    start = D(deployed.profile.extra["devnet"]["start_nav"][symbol])
    async with deployed.connect() as w3:
        assert await view(w3, "AssetToken", ref.token.address, "decimals") == 8
        assert await view(w3, "AssetToken", ref.token.address, "symbol") == symbol
        assert await view(w3, "AssetToken", ref.token.address, "feeDecimals") == 8
        assert await view(w3, "AssetToken", ref.token.address, "rebalancing") is False
        assert abs(await on_chain_nav(w3, deployed.profile, symbol) - start) / start < D("1e-6")
        assert ref.staking is not None
        staking = ref.staking.address
        assert await view(w3, "StakeToken", staking, "symbol") == "s" + symbol
        assert await view(w3, "StakeToken", staking, "name") == "Staked " + ref.name
        assert await view(w3, "StakeToken", staking, "decimals") == 8
        assert await view(w3, "StakeToken", staking, "token") == ref.token.address
        assert await view(w3, "StakeToken", staking, "cooldown") == COOLDOWN_SECONDS


@pytest.mark.parametrize("symbol", INDEXES)
async def test_quote_100_usdc_is_near_nav_minus_fee(deployed: Deployed, symbol: str) -> None:
    p = deployed.profile
    async with deployed.connect() as w3:
        nav = await on_chain_nav(w3, p, symbol)
        params = (p.usdc.address, p.index(symbol).token.address, 100 * 10**6, 3000, 0)
        amount_out, _, _, _ = await view(w3, "QuoterV2", p.quoter_v2, "quoteExactInputSingle", params)
    ideal = D(100) / nav * D("0.997") * 10**8
    assert amount_out < ideal  # a small but nonzero price impact
    assert (ideal - amount_out) / ideal < D("0.001")


async def test_staking_cooldown_semantics(deployed: Deployed) -> None:
    p, user = deployed.profile, DEV_KEYS[1]
    token, staking = p.index("MAG7.ssi").token.address, p.index("MAG7.ssi").staking.address  # type: ignore[union-attr]
    owner = DEV_KEYS[0]
    async with deployed.connect() as w3:
        who = Sender(w3, user).address
        await call(w3, owner, "AssetToken", token, "transfer", who, 10 * 10**8)
        await call(w3, user, "AssetToken", token, "approve", staking, 10 * 10**8)
        await call(w3, user, "StakeToken", staking, "stake", 5 * 10**8)
        assert await view(w3, "StakeToken", staking, "balanceOf", who) == 5 * 10**8
        with pytest.raises(ContractLogicError, match="amount is zero"):
            await call(w3, user, "StakeToken", staking, "stake", 0)
        with pytest.raises(ContractLogicError, match="not enough to unstake"):
            await call(w3, user, "StakeToken", staking, "unstake", 6 * 10**8)
        await call(w3, user, "StakeToken", staking, "unstake", 2 * 10**8)
        amount, end1 = await view(w3, "StakeToken", staking, "cooldownInfos", who)
        assert amount == 2 * 10**8
        await op.advance(deployed.anvil.url, 86400)
        await call(w3, user, "StakeToken", staking, "unstake", 1 * 10**8)
        amount, end2 = await view(w3, "StakeToken", staking, "cooldownInfos", who)
        assert amount == 3 * 10**8 and end2 >= end1 + 86400  # the whole pending amount waits again
        await op.advance(deployed.anvil.url, COOLDOWN_SECONDS - 3600)  # past end1, before end2
        with pytest.raises(ContractLogicError, match="not enough cooldown amount"):  # the amount is checked first
            await call(w3, user, "StakeToken", staking, "withdraw", 4 * 10**8)
        with pytest.raises(ContractLogicError, match="cooldowning"):
            await call(w3, user, "StakeToken", staking, "withdraw", 1 * 10**8)
        await op.advance(deployed.anvil.url, 7200)
        with pytest.raises(ContractLogicError, match="not enough cooldown amount"):
            await call(w3, user, "StakeToken", staking, "withdraw", 4 * 10**8)
        await call(w3, user, "StakeToken", staking, "withdraw", 3 * 10**8)
        assert await view(w3, "AssetToken", token, "balanceOf", who) == 8 * 10**8
        await call(w3, owner, "StakeToken", staking, "pause")
        try:
            for fn in ("stake", "unstake", "withdraw"):
                with pytest.raises(ContractCustomError) as paused:
                    await call(w3, user, "StakeToken", staking, fn, 1)
                assert explained(paused.value) == Msg("revert.e.paused")
        finally:
            await call(w3, owner, "StakeToken", staking, "unpause")
        with pytest.raises(ContractCustomError) as refused:
            await call(w3, user, "StakeToken", staking, "pause")
        assert explained(refused.value) == Msg("revert.e.unauthorized", {"account": who})


async def test_set_price_moves_nav(deployed: Deployed) -> None:
    p = deployed.profile
    async with deployed.connect() as w3:
        before = await on_chain_nav(w3, p, "MEME.ssi")
        tokenset = {e.symbol: e for e in await op.read_tokenset(w3, p.index("MEME.ssi").token.address)}
        old = (await op.feed_prices(w3, {"DOGE": p.feeds["DOGE"]}))["DOGE"]
        await op.set_price(p, "DOGE", old * 2)
        after = await on_chain_nav(w3, p, "MEME.ssi")
        (_, answer, _, updated, _) = await view(w3, "PriceFeed", p.feeds["DOGE"], "latestRoundData")
        block = await w3.eth.get_block("latest")
    assert after - before == tokenset["DOGE"].units * old
    assert answer == int((old * 2).scaleb(8)) and updated == block["timestamp"]


async def test_rebalance_fires_events_and_keeps_nav(deployed: Deployed) -> None:
    p = deployed.profile
    await op.set_price(p, "BTC", D("150000"))  # BTC's weight must go up
    async with deployed.connect() as w3:
        nav = await on_chain_nav(w3, p, "MAG7.ssi")
        old = {e.symbol: e.amount for e in await op.read_tokenset(w3, p.index("MAG7.ssi").token.address)}
        result = await op.rebalance(p, "mag7")
        asset = contract(w3, "AssetToken", p.index("MAG7.ssi").token.address)
        events = [asset.get_event_by_topic(log["topics"][0].to_0x_hex()).process_log(log)
                  for r in result.receipts for log in r["logs"]]
        onchain = await op.read_tokenset(w3, p.index("MAG7.ssi").token.address)
        supply = await view(w3, "AssetToken", p.index("MAG7.ssi").token.address, "totalSupply")
        basket = await view(w3, "AssetToken", p.index("MAG7.ssi").token.address, "getBasket")
        assert await view(w3, "AssetToken", p.index("MAG7.ssi").token.address, "rebalancing") is False
        after = await on_chain_nav(w3, p, "MAG7.ssi")
    assert result.index == "MAG7.ssi" and onchain == result.tokenset
    assert [e.event for e in events] == ["StartRebalance", "SetTokenset", "SetBasket", "EndRebalance"]
    assert [TokensetEntry(**t) for t in events[1].args.tokenset] == onchain
    assert [TokensetEntry(**b) for b in events[2].args.basket] == [TokensetEntry(*b) for b in basket]
    assert abs(after - nav) / nav < D("1e-6") and after <= nav
    assert [b[4] for b in basket] == [e.amount * supply // 10**8 for e in onchain]
    new = {e.symbol: e.amount for e in onchain}
    assert new != old and set(new) == set(old)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1d12h", 129600), ("45", 45)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert op.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "d", "1d 2h", "-5s", "1.5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(op.OperatorError):
        op.parse_duration(text)


@pytest.mark.parametrize(("name", "symbol"), [("mag7", "MAG7.ssi"), ("MEME.SSI", "MEME.ssi"), ("ussi", "USSI")])
def test_resolve_index(deployed: Deployed, name: str, symbol: str) -> None:
    assert op.resolve_index(deployed.profile, name).symbol == symbol


async def test_state_cache_boot_is_identical(deployed: Deployed, tmp_path: Path) -> None:
    fresh = await Anvil(tmp_path).start()
    try:
        loaded = await load_cached(fresh.url, tmp_path / "profile.toml")
        assert loaded is not None, "no state cache after a deploy"
        assert loaded.rpc_urls == (fresh.url,)
        assert loaded.indexes == deployed.profile.indexes and loaded.feeds == deployed.profile.feeds
        assert (loaded.multicall3, loaded.quoter_v2, loaded.usdc) == (
            deployed.profile.multicall3, deployed.profile.quoter_v2, deployed.profile.usdc)
        async with connect(fresh.url) as w3:
            for addr in (loaded.position_manager, loaded.swap_router02, *loaded.feeds.values()):
                assert len(await w3.eth.get_code(addr)) > 0
            start = D(loaded.extra["devnet"]["start_nav"]["DEFI.ssi"])
            assert abs(await on_chain_nav(w3, loaded, "DEFI.ssi") - start) / start < D("1e-6")
    finally:
        await fresh.stop()


async def test_harness_snapshot_and_revert(deployed: Deployed, tmp_path: Path) -> None:
    devnet = await Devnet.start(tmp_path)
    try:
        assert devnet.profile.indexes == deployed.profile.indexes
        assert load_profile(devnet.profile_path) == devnet.profile
        snap = await devnet.snapshot()
        before = await op.index_nav(devnet.profile, "USSI")
        await op.set_price(devnet.profile, "BTC-DN", D("1.05"))
        assert await op.index_nav(devnet.profile, "USSI") > before
        assert await devnet.revert(snap)
        assert await op.index_nav(devnet.profile, "USSI") == before
    finally:
        await devnet.stop()
    assert devnet.anvil.pid is None


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_cli_up_is_idempotent_and_down_stops_by_pid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", "--home", str(tmp_path), *argv]))

    port = str(free_port())
    try:
        assert await run("up", "--port", port) == 0
        pid = cli._running(cli.Paths(tmp_path))["pid"]  # type: ignore[index]
        assert await run("up", "--port", port) == 0
        assert "already up" in capsys.readouterr().out
        assert await run("status") == 0
        assert f"127.0.0.1:{port}" in capsys.readouterr().out
        assert await run("rebalance", "defi") == 0
        assert "DEFI.ssi rebalanced" in capsys.readouterr().out
        assert await run("price", "NOPE", "1") == 2
    finally:
        assert await run("down") == 0
    assert not pid_alive(pid)
    assert await run("status") == 1


async def test_deploy_writes_the_lockable_lp_pair(deployed: Deployed) -> None:
    p = deployed.profile
    assert p.locking is not None and [(lp.index, lp.kind, lp.token.symbol) for lp in p.lp_tokens] == [
        ("MAG7.ssi", "uniswap-v2", "UNI-V2")]
    pair = p.lp_tokens[0].token.address
    async with deployed.connect() as w3:
        assert await view(w3, "UniswapV2Pair", pair, "totalSupply") > 0
        assert await view(w3, "AssetLocking", p.locking, "activeEpochs", pair) == 1
        assert (await view(w3, "AssetLocking", p.locking, "lockConfigs", pair))[0] == 1
        assert await view(w3, "AssetLocking", p.locking, "owner") == p.extra["devnet"]["deployer"]


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_cli_acts_on_the_running_bots_embedded_devnet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`make run` in one terminal, `indexbot devnet price BTC 55000` in another: with no `devnet up` devnet, the
    commands act on the bot's embedded devnet (they said 'devnet is not running'); `down` never stops the bot's."""
    for key in [k for k in os.environ if k.startswith("INDEXBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("INDEXBOT_HOME", str(tmp_path))
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", *argv]))

    embedded = await Devnet.start(tmp_path / "embedded-devnet", persist=True)  # as bot.app starts it
    try:
        before = await op.index_nav(embedded.profile, "MAG7.ssi")
        assert await run("price", "BTC", "55000") == 0
        out = capsys.readouterr().out
        assert "embedded devnet" in out and "BTC feed set to $55000" in out
        assert await op.index_nav(embedded.profile, "MAG7.ssi") < before
        assert await run("status") == 0
        assert embedded.url in (out := capsys.readouterr().out) and "fulfiller: runs inside the bot's process" in out
        assert await run("down") == 0
        assert "devnet is not running" in capsys.readouterr().out and pid_alive(embedded.anvil.pid or 0)
    finally:
        await embedded.stop()
    assert await run("price", "BTC", "60000") == 2
    assert "`make run`" in capsys.readouterr().out


async def test_a_deployed_devnet_reads_the_wall_clock(deployed: Deployed, tmp_path: Path) -> None:
    """The deploy moves time a TWAP window on for SOSO's pool; its chain starts that far in the past so that it ends
    at the wall clock (it ran half an hour ahead: every time shown, and the stock index's market hours, were off by
    that much). A devnet booted from the deploy's cache is set to the wall clock too."""
    assert -300 < deployed.ahead < 60, deployed.ahead  # not TWAP_WINDOW (1,800 s) ahead
    net = await Devnet.start(tmp_path)  # a devnet of its own: the session's runs on whatever time its reverts left
    try:
        async with connect(net.url) as w3:
            await node_call(w3, "evm_mine")
            mined_at = int((await w3.eth.get_block("latest"))["timestamp"])
    finally:
        await net.stop()
    assert abs(mined_at - time.time()) < 15, mined_at - time.time()
