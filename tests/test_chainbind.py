"""A database bound to its chain, and the embedded devnet's chain kept beside it (issue 14 §4).

The core layer: bind_chains against the real devnet and a real SQLite file; Devnet.start(persist=True) saving
and loading a real anvil's state. The terminal journeys are in test_console.py.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import App
from bot.chain.client import Chain
from bot.chain.binding import ChainMismatch, bind_chains
from bot.storage.db import Database
from bot.storage.schema import chain_bindings
from conftest import make_config
from devnet import deploy, harness
from devnet.harness import STATE_FILE, Devnet, DevnetStateError
from devnet import anvil as anvil_rpc
from devnet.anvil import pid_alive
from devnet.rpc import connect


async def bindings(db: Database) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await db.fetch_all("SELECT * FROM chain_bindings ORDER BY chain_id")]


async def genesis_of(url: str) -> str:
    async with connect(url) as w3:
        return "0x" + bytes((await w3.eth.get_block(0))["hash"]).hex()


async def test_first_start_binds_the_database_and_a_later_start_on_the_same_chain_passes(chain: Devnet, tmp_path: Path) -> None:
    config = make_config(chain, tmp_path)
    app = await App.start(config, track_head=False)
    try:
        rows = await bindings(app.db)
    finally:
        await app.stop()
    assert [(r[0], r[1], r[5]) for r in rows] == [(31337, await genesis_of(chain.url), 1)]  # the home chain, once
    assert rows[0][2] is not None and rows[0][3] is not None  # a devnet: anchored on its head at the first start
    app = await App.start(config, track_head=False)  # the same chain again: started, nothing new recorded
    try:
        assert await bindings(app.db) == rows
    finally:
        await app.stop()


# (what the database remembers, what the refusal must name); {genesis} is the devnet's real genesis hash
WRONG_CHAINS = [
    pytest.param((1, "0x" + "ab" * 32, None, None, "Ethereum", 1), ["chain id 1", "chain id 31337", "Ethereum"],
                 id="home-bound-to-another-chain-id"),
    pytest.param((31337, "0x" + "cd" * 32, None, None, "devnet", 1), ["chain id 31337", "0xcdcdcdcd", "another chain"],
                 id="same-id-other-genesis"),
    pytest.param((31337, "{genesis}", 5, "0x" + "ef" * 32, "devnet", 1), ["block 5", "0xefefefef", "devnet reset"],
                 id="devnet-started-over"),
    pytest.param((31337, "{genesis}", 10**9, "0x" + "ef" * 32, "devnet", 1), ["block 1000000000", "no such block"],
                 id="devnet-shorter-than-its-anchor"),
]


@pytest.mark.parametrize(("bound", "named"), WRONG_CHAINS)
async def test_a_database_from_another_chain_is_refused_and_nothing_changes(
    chain: Devnet, tmp_path: Path, bound: tuple[object, ...], named: list[str]
) -> None:
    genesis = await genesis_of(chain.url)
    row = tuple(genesis if v == "{genesis}" else v for v in bound)
    config = make_config(chain, tmp_path)
    db = await Database.open(config.database_where)
    try:
        async with db.transaction() as tx:
            columns = ("chain_id", "genesis_hash", "anchor_block", "anchor_hash", "label", "home")
            await tx.execute(chain_bindings.insert().values({**dict(zip(columns, row)), "bound_at": 1}))
        before = await bindings(db)
    finally:
        await db.close()
    with pytest.raises(ChainMismatch) as refused:
        await App.start(config, track_head=False)
    for words in named:
        assert words in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    db = await Database.open(config.database_where)
    try:
        assert await bindings(db) == before
        assert (await db.fetch_one("SELECT COUNT(*) FROM users"))[0] == 0  # type: ignore[index]
    finally:
        await db.close()


async def test_a_companion_on_a_chain_of_its_own_is_recorded_by_its_id(chain: Devnet, tmp_path: Path) -> None:
    other = await Devnet.start(tmp_path / "ethereum", chain_id=1)
    db = await Database.open(tmp_path / "bot.sqlite3")
    async with connect(chain.url) as w3:  # a block of this chain's own, past the deploy cache every devnet boots from
        await anvil_rpc.mine(w3)
    try:
        home = chain.profile
        far = replace(other.profile, label="Ethereum")
        c1, c2 = Chain(home.rpc_urls, home.multicall3), Chain(far.rpc_urls, far.multicall3)
        try:
            await bind_chains(db, "db", [(home, c1), (far, c2)])
            assert [(r[0], r[4], r[5]) for r in await bindings(db)] == [(1, "Ethereum", 0), (31337, home.chain_label, 1)]
            await bind_chains(db, "db", [(home, c1), (far, c2)])  # seen before: checked, nothing added
            assert len(await bindings(db)) == 2
            with pytest.raises(ChainMismatch, match="serves chain id 1, the profile says chain id 31337"):
                await bind_chains(db, "db", [(home, c2)])  # the other node under the home profile
            assert len(await bindings(db)) == 2
            # another devnet with the home chain's id: both were booted from one deploy cache, so their block 0 is
            # the same, and only the anchor block tells them apart
            third = await Devnet.start(tmp_path / "third")
            c3 = Chain(third.profile.rpc_urls, home.multicall3)
            try:
                with pytest.raises(ChainMismatch, match=r"devnet \(chain id 31337\) whose block \d+ is .* but the devnet"):
                    await bind_chains(db, "db", [(replace(home, rpc_urls=third.profile.rpc_urls), c3)])
            finally:
                await c3.close()
                await third.stop()
            assert len(await bindings(db)) == 2
        finally:
            await c1.close()
            await c2.close()
    finally:
        await db.close()
        await other.stop()


async def updated_at(w3: object, net: Devnet) -> int:
    """The first feed's latestRoundData().updatedAt."""
    feed = next(iter(net.profile.feeds.values()))
    round_data = await w3.eth.call({"to": feed, "data": "0xfeaf968c"})  # type: ignore[attr-defined]
    return int.from_bytes(round_data[96:128], "big")


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_the_devnet_comes_back_with_its_blocks_and_genesis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved on stop and loaded on the next start: the same genesis (checked: the chain binding rests on it), the
    blocks and a balance sent in the first run; a third start still has the same genesis (anvil's own new block 0
    is dropped from the dump on load). Restarted at once, nothing is sent; after a long idle (forced here) the
    feeds are re-stamped at the new chain time."""
    net = await Devnet.start(tmp_path, persist=True)
    try:
        genesis = await genesis_of(net.url)
        async with connect(net.url) as w3:
            acct = w3.eth.account.create()
            me = (await w3.eth.accounts)[0]
            await w3.eth.send_transaction({"from": me, "to": acct.address, "value": 12345})
            head = await w3.eth.block_number
            stamped = await updated_at(w3, net)
    finally:
        await net.stop()
    assert (tmp_path / STATE_FILE).is_file() and not list(tmp_path.glob("*.tmp"))
    for idle in (False, True):
        if idle:
            monkeypatch.setattr(harness, "RESTAMP_AFTER_SECONDS", -10**9)  # always, whatever the idle time measured
        net = await Devnet.start(tmp_path, persist=True)
        try:
            assert net.restored
            assert await genesis_of(net.url) == genesis
            async with connect(net.url) as w3:
                assert await w3.eth.get_balance(acct.address) == 12345
                assert await w3.eth.block_number >= head
                if not idle:
                    assert await updated_at(w3, net) == stamped  # nothing re-stamped on a quick restart
                else:
                    block = await w3.eth.get_block("latest", full_transactions=True)
                    feeds = {*net.profile.extra["devnet"]["market_feeds"].values(), *net.stocks_profile.extra["devnet"]["stock_feeds"].values()}
                    assert [tx["to"] for tx in block["transactions"]][-1] in feeds  # re-stamped at this start
        finally:
            await net.stop()


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_the_state_is_saved_while_running_not_only_on_stop(tmp_path: Path) -> None:
    """A crash (no stop) loses at most the last seconds: a block mined is in the file within the dump interval."""
    net = await Devnet.start(tmp_path, persist=True, dump_seconds=0.2)
    try:
        async with connect(net.url) as w3:
            me = (await w3.eth.accounts)[0]
            await w3.eth.send_transaction({"from": me, "to": me, "value": 1})
            head = await w3.eth.block_number
        for _ in range(50):
            saved = json.loads(gzip.decompress((tmp_path / STATE_FILE).read_bytes()))
            if int(saved["block"]["number"], 16) >= head:
                break
            await asyncio.sleep(0.1)
        assert int(saved["block"]["number"], 16) >= head
    finally:
        await net.stop()


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _flipped(good: bytes) -> bytes:
    """One bit of the gzip trailer's CRC-32 changed: the data no longer matches its checksum."""
    at = len(good) - 8
    return good[:at] + bytes([good[at] ^ 0x01]) + good[at + 1:]


CORRUPT_STATES = [
    pytest.param(lambda good: b"", "the file is empty", id="empty"),
    pytest.param(_truncated, "EOFError", id="truncated"),
    pytest.param(_flipped, "CRC check failed", id="a-bit-flipped"),
    pytest.param(lambda good: b"not gzip at all", "BadGzipFile", id="not-gzip"),
    pytest.param(lambda good: gzip.compress(b"{nope"), "JSONDecodeError", id="not-json"),
    pytest.param(lambda good: gzip.compress(b'{"accounts": {}}'), "not an anvil state dump", id="not-anvil"),
    pytest.param(lambda good: gzip.compress(b'[1, 2]'), "not an anvil state dump", id="a-list"),
]


@pytest.fixture(scope="module")
def good_state(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import asyncio

    home = tmp_path_factory.mktemp("good")

    async def make() -> bytes:
        net = await Devnet.start(home, persist=True)
        await net.stop()
        return (home / STATE_FILE).read_bytes()

    return asyncio.run(make())


@pytest.mark.parametrize(("spoil", "named"), CORRUPT_STATES)
async def test_a_corrupt_state_file_is_refused_before_anything_starts(
    good_state: bytes, tmp_path: Path, spoil: object, named: str
) -> None:
    net_home = tmp_path / "embedded-devnet"
    net_home.mkdir()
    bad = spoil(good_state)  # type: ignore[operator]
    (net_home / STATE_FILE).write_bytes(bad)
    (net_home / "profile.toml").write_text("kept = true\n")
    with pytest.raises(DevnetStateError) as refused:
        await Devnet.start(net_home, persist=True)
    text = str(refused.value)
    assert named in text and "nothing was changed" in text and "indexbot devnet reset" in text
    assert (net_home / STATE_FILE).read_bytes() == bad  # left as it was, for the operator to look at
    assert (net_home / "profile.toml").read_text() == "kept = true\n"
    assert not (net_home / "anvil.log").exists()  # no anvil was started


async def test_a_missing_state_under_a_bound_database_is_refused(chain: Devnet, tmp_path: Path) -> None:
    """The embedded devnet's saved chain deleted while the database remains: refused before a new devnet starts."""
    from bot.chain.binding import refuse_lost_devnet

    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO chain_bindings VALUES (31337, '0x00', NULL, NULL, 'devnet', 1, 1)")
    finally:
        await db.close()
    with pytest.raises(ChainMismatch, match="belongs to chain id 31337, but the embedded devnet's saved chain .* is missing"):
        refuse_lost_devnet(tmp_path / "bot.sqlite3", tmp_path / "embedded-devnet" / STATE_FILE)
    refuse_lost_devnet(tmp_path / "other.sqlite3", tmp_path / "embedded-devnet" / STATE_FILE)  # no database: fine


def test_keep_one_genesis_keeps_the_oldest_block_0(tmp_path: Path) -> None:
    """anvil's own --state file gains the new anvil's block 0 at every restart; the chain's own (oldest) stays."""
    def block(number: int, ts: int) -> dict[str, object]:
        return {"header": {"number": hex(number), "timestamp": hex(ts)}}

    state = {"block": {"number": "0x1"}, "accounts": {}, "blocks": [block(0, 300), block(1, 101), block(0, 100), block(0, 200)]}
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    harness.keep_one_genesis(path)
    assert json.loads(path.read_text())["blocks"] == [block(1, 101), block(0, 100)]
    untouched = path.stat().st_mtime_ns
    harness.keep_one_genesis(path)  # nothing to drop: not rewritten
    assert path.stat().st_mtime_ns == untouched
    path.write_text('{"blocks": [')
    with pytest.raises(DevnetStateError, match="cannot be loaded"):
        harness.keep_one_genesis(path)
    assert path.read_text() == '{"blocks": ['


@pytest.mark.chain  # the session devnet: the deploy's state cache is on disk once it started
def test_the_chains_own_genesis_is_block_1s_parent_even_when_another_block_0_is_older(devnet: Devnet) -> None:
    """A fresh anvil's clock may start in the past (a devnet about to be deployed: `genesis_for_deploy`), so its own
    block 0 can be older than the chain it loads: the chain's own is told by block 1's parentHash, not by age."""
    dump = json.loads(gzip.decompress(bytes.fromhex(
        json.loads(next((Path(deploy.BUILD_DIR)).glob("state-*.json")).read_text())["state"].removeprefix("0x"))))
    [own] = [b for b in dump["blocks"] if int(b["header"]["number"], 16) == 0]
    older = json.loads(json.dumps(own))
    older["header"]["timestamp"] = hex(int(own["header"]["timestamp"], 16) - 3600)  # another anvil's, an hour older
    dump["blocks"].append(older)
    harness._one_genesis(dump)
    assert [b for b in dump["blocks"] if int(b["header"]["number"], 16) == 0] == [own]


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_devnet_up_keeps_its_genesis_across_restarts(tmp_path: Path) -> None:
    """`indexbot devnet up` / `down` four times: the same block 0 every time (before, the fourth start came up
    with another genesis hash, and a database bound to the devnet would have been refused)."""
    import argparse

    from devnet import cli
    from devnet.anvil import free_port

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", "--home", str(tmp_path), *argv]))

    port = str(free_port())
    seen = set()
    for _ in range(4):
        assert await run("up", "--port", port) == 0
        try:
            seen.add(await genesis_of(f"http://127.0.0.1:{port}"))
        finally:
            assert await run("down") == 0
    assert len(seen) == 1


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_devnet_reset_is_refused_while_the_embedded_devnet_runs(tmp_path: Path) -> None:
    """`indexbot devnet reset --yes` beside a running `indexbot chat` would delete its database under it."""
    import os
    import subprocess
    import sys

    net = await Devnet.start(tmp_path / "embedded-devnet", persist=True)
    try:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("INDEXBOT_")} | {"INDEXBOT_HOME": str(tmp_path)}
        out = await asyncio.to_thread(
            subprocess.run, [str(Path(sys.executable).with_name("indexbot")), "devnet", "reset", "--yes"],
            capture_output=True, text=True, env=environ, timeout=30)
        assert out.returncode == 2 and f"embedded devnet is running (anvil pid {net.anvil.pid})" in out.stdout
        assert (tmp_path / "embedded-devnet" / STATE_FILE).is_file()
    finally:
        await net.stop()
    assert not (tmp_path / "embedded-devnet" / "anvil.json").exists()


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_a_killed_runs_anvil_gives_back_the_newest_chain(tmp_path: Path) -> None:
    """The bot killed outright leaves its anvil running, seconds ahead of the last dump (here: no dump after the
    transfer at all). The next start dumps the chain from that anvil, stops it, and comes back with the transfer."""
    net = await Devnet.start(tmp_path, persist=True, dump_seconds=3600)  # no periodic dump within the test
    async with connect(net.url) as w3:
        acct = w3.eth.account.create()
        me = (await w3.eth.accounts)[0]
        await w3.eth.send_transaction({"from": me, "to": acct.address, "value": 777})
    assert net._dumping is not None
    net._dumping.cancel()  # the process "dies": nothing more is saved, its anvil runs on
    orphan = net.anvil.pid
    assert orphan is not None and (tmp_path / "anvil.json").is_file()
    again = await Devnet.start(tmp_path, persist=True)
    try:
        async with connect(again.url) as w3:
            assert await w3.eth.get_balance(acct.address) == 777
        assert not pid_alive(orphan)
    finally:
        await again.stop()


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_a_transaction_anvil_accepted_but_had_not_mined_when_the_run_died_is_in_the_recovered_chain(
        tmp_path: Path) -> None:
    """anvil answers eth_sendTransaction before it mines (under load, long enough for a dump in between: CI lost a
    transfer so). Here the orphan mines every two seconds instead of at once, so the transfer is still in its pool when
    the next start recovers the chain: the recovery waits for it to be mined before it dumps."""
    net = await Devnet.start(tmp_path, persist=True, dump_seconds=3600)
    async with connect(net.url) as w3:
        acct = w3.eth.account.create()
        me = (await w3.eth.accounts)[0]
        await anvil_rpc.node_call(w3, "evm_setAutomine", False)
        await anvil_rpc.node_call(w3, "evm_setIntervalMining", 2)
        await w3.eth.send_transaction({"from": me, "to": acct.address, "value": 555})
        assert int((await anvil_rpc.node_call(w3, "txpool_status"))["pending"], 16) == 1  # not mined yet
    assert net._dumping is not None
    net._dumping.cancel()
    again = await Devnet.start(tmp_path, persist=True)
    try:
        async with connect(again.url) as w3:
            assert await w3.eth.get_balance(acct.address) == 555
    finally:
        await again.stop()


def test_the_feeds_re_stamped_on_load_are_every_devnet_feed_of_every_profile() -> None:
    home = {"feeds": {"BTC": "0xA"}, "devnet": {"market_feeds": {"BTC": "0xA", "ETH": "0xB", "SOSO": "0xC"}}}
    stocks = {"devnet": {"stock_feeds": {"AAPL": "0xD", "MSFT": "0xA"}}}
    assert deploy.devnet_feeds(home, stocks) == ["0xA", "0xB", "0xC", "0xD"]
    assert deploy.devnet_feeds({"feeds": {"BTC": "0xA"}}) == ["0xA"]  # a profile from before market_feeds
    assert deploy.devnet_feeds({}) == []
