"""`indexbot check`, the shipped `base` profile, staking tokens discovered through the StakeFactory, and operator
overrides of a profile.

Layers: the pre-flight run as an operator types it (`indexbot check`) against the devnet and against a bare anvil
with Base's chain id; the start-up check (`verify_at_startup`, `App.start`) on the devnet; the profile loader on
files. Expected addresses come from the profile files themselves (every `0x` address in base.toml, read with a
regular expression), not from the code under test.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from bot.app import App
from bot.chain.client import Chain
from bot.chain.check import Report, Sources, load_for_check, render, run_check
from bot.cli import main
from bot.config import load_config, redact_url
from bot.chain.discovery import GET_STAKE_TOKENS, verify_at_startup
from bot.chain.profile import (
    PROFILES_DIR, ProfileError, load_profile, load_profile_data, load_profiles, merge_profile_data, parse_profile,
)
from bot.chain.verify import ProfileMismatch
from conftest import make_config
from devnet.anvil import Anvil
from devnet.harness import Devnet
from devnet.rpc import connect
from auxil.chain import devnet_data

BASE_TOML = PROFILES_DIR / "base.toml"
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


async def run_cli(monkeypatch: pytest.MonkeyPatch, home: Path, *argv: str, env: dict[str, str] | None = None) -> int:
    monkeypatch.setenv("INDEXBOT_HOME", str(home))
    for name in ("INDEXBOT_CHAIN", "INDEXBOT_RPC_URLS", "INDEXBOT_PROFILE_OVERRIDE", "INDEXBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    return await asyncio.to_thread(main, ["check", *argv])


def line_of(out: str, address: str) -> list[str]:
    """The report's lines about `address` (in its address column)."""
    return [ln for ln in out.splitlines() if f"  {address.lower()}  " in ln.lower()]


async def checked(path: Path) -> Report:
    """`run_check` of the profile at `path` (overrides none), on its own RPC client."""
    profile = load_for_check(path, None, None)
    rpc = Chain(profile.rpc_urls, profile.multicall3)
    try:
        return await run_check(profile, rpc)
    finally:
        await rpc.close()


# -- the devnet: ready, every address read --------------------------------------------------------------------


async def test_check_on_the_devnet_reads_every_address_and_says_ready(
    chain: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(monkeypatch, tmp_path, "--profile", str(chain.profile_path))
    out = capsys.readouterr().out
    assert code == 0, out
    data = devnet_data(chain)
    for ix in data["indexes"]:
        (index_line,) = [ln for ln in line_of(out, ix["address"]) if ln.lstrip().startswith("ok")]
        assert f"symbol {ix['symbol']}" in index_line and "decimals 8" in index_line and "constituents " in index_line
        staking = [ln for ln in line_of(out, ix["staking"]["address"]) if ln.lstrip().startswith("ok")]
        assert staking, out  # listed, and listed by the StakeFactory (two rows)
        assert all(f"token() {ix['address']} ({ix['symbol']})" in ln and "cooldown() 7 days" in ln for ln in staking)
        assert any(f"stakes {ix['symbol']}" in ln and "asset id" in ln for ln in staking)
        pool = data["devnet"]["pools"][ix["symbol"]]
        (pool_line,) = [ln for ln in out.splitlines() if ln.strip().startswith("ok") and f"{ix['symbol']}/USDC" in ln]
        assert f"pool {pool} fee 0.3% liquidity " in pool_line
    feeds = Sources.of(chain.profile).chainlink
    assert len(feeds) >= 20
    for src in feeds:
        (feed_line,) = line_of(out, src.feed)
        assert f"description '{src.description}'" in feed_line and "decimals 8" in feed_line
        assert f" ago (heartbeat {'1 day' if src.heartbeat == 86400 else '20 min'})" in feed_line
    for src in Sources.of(chain.profile).pyth:  # asked of the devnet's Hermes stand-in, as at start-up
        (pyth_line,) = [ln for ln in out.splitlines() if f" {src.symbol} Pyth " in ln]
        assert pyth_line.lstrip().startswith("ok") and "price " in pyth_line and " ago (max age " in pyth_line
    assert "getStakeTokens() lists 4 staking tokens" in out
    assert "Start-up verification (what `indexbot run` checks): passes" in out
    assert "Verdict: READY." in out
    assert "http://127.0.0.1:" in out  # the RPC, shown (nothing secret in a loopback URL)
    assert f"check it with `indexbot check --profile {chain.stocks_profile_path}`" in out


async def test_check_defaults_to_the_configured_chain(
    chain: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(monkeypatch, tmp_path, env={"INDEXBOT_CHAIN": str(chain.profile_path)})
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("Profile devnet (Base), chain id 31337")


@pytest.mark.parametrize(("argv", "message"), [
    (["--profile", "nowhere"], "indexbot: no chain profile at "),
    (["--profile", "/nonexistent/p.toml"], "indexbot: no chain profile at /nonexistent/p.toml"),
])
async def test_check_names_a_profile_it_cannot_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert await run_cli(monkeypatch, tmp_path, *argv) == 2
    assert message in capsys.readouterr().err


async def test_check_reads_in_few_round_trips(chain: Devnet) -> None:
    profile = load_for_check(chain.profile_path, None, None)
    rpc = Chain(profile.rpc_urls, profile.multicall3)
    try:
        report = await run_check(profile, rpc)
        by_method = rpc.method_counts()
    finally:
        await rpc.close()
    # the check's own reads: chain id, one eth_getCode batch, two Multicall3 batches; then the start-up
    # verification's: the StakeFactory's list and its tokens, AssetLocking's active tokens (all listed already),
    # chain id, one eth_getCode batch, one Multicall3 batch
    assert report.round_trips == 10
    assert by_method["eth_call"] == 6 and by_method["batch"] == 2 and by_method["eth_chainId"] == 2


# -- base on a chain without its contracts --------------------------------------------------------------------


@pytest.fixture
async def bare_base(tmp_path: Path) -> AsyncIterator[Anvil]:
    """A bare anvil with Base's chain id: none of Base's contracts are there."""
    anvil = await Anvil(tmp_path / "anvil", 8453).start()
    try:
        yield anvil
    finally:
        await anvil.stop()


async def test_check_base_against_a_chain_without_its_contracts_names_every_address(
    bare_base: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    override = write(tmp_path / "over.toml", {"rpc_urls": [bare_base.url]})
    code = await run_cli(monkeypatch, tmp_path / "home", "--profile", "base",
                         env={"INDEXBOT_PROFILE_OVERRIDE": str(override)})
    out = capsys.readouterr().out
    assert code == 1
    expected = set(ADDRESS.findall(BASE_TOML.read_text()))
    assert len(expected) > 30
    for address in expected:
        assert any("no contract code" in ln for ln in line_of(out, address)), address
    assert f"no contract code at {len(expected)} addresses" in out
    assert "Verdict: NOT READY." in out
    assert "refuses to start" in out


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_base_profile_through_the_home_override_on_the_devnet_chain_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same through $INDEXBOT_HOME/profiles/base.toml, on a devnet started with chain id 8453: the devnet's
    own contracts are elsewhere, so Base's addresses are missing there too; a wrong chain id is named."""
    async with await Devnet.start(tmp_path / "net", chain_id=8453) as net:
        home = tmp_path / "home"
        write((home / "profiles").mkdir(parents=True) or home / "profiles" / "base.toml",
              {"rpc_urls": [net.url], "chain_id": 10})
        code = await run_cli(monkeypatch, home, "--profile", "base")
    out = capsys.readouterr().out
    assert code == 1
    assert "chain id is 8453, the profile says 10" in out
    assert any("no contract code" in ln for ln in line_of(out, "0x9E6A46f294bB67c20F1D1E7AfB0bBEf614403B55"))


def test_base_profile_names_what_the_facts_file_lists() -> None:
    data = load_profile_data("base")
    base = parse_profile(data)
    assert base.chain_id == 8453 and base.stake_factory == "0x585834242BB31427B1dC7486DD4BDe7c724e35c1"
    assert base.soso and base.soso.symbol == "SOSO" and base.soso_staking and base.soso_staking.symbol == "sSOSO"
    assert {ref.symbol: ref.staking.symbol for ref in base.indexes if ref.staking} == {
        "MAG7.ssi": "sMAG7.ssi", "MEME.ssi": "sMEME.ssi", "DEFI.ssi": "sDEFI.ssi", "USSI": "sUSSI"}
    assert "feeds" not in data  # the price layer reads [prices]
    sources = Sources.of(base)
    heartbeats = {s.symbol: (s.description, s.heartbeat) for s in sources.chainlink}
    assert heartbeats["BTC"] == ("BTC / USD", 1200) and heartbeats["ETH"] == ("ETH / USD", 1200)
    assert heartbeats["SOL"] == ("SOL / USD", 86400) and heartbeats["BSC_BNB"] == ("BNB / USD", 86400)
    pyth_only = {"UNI", "WIF", "BONK"}
    assert pyth_only <= {s.symbol for s in sources.pyth} and not pyth_only & set(heartbeats)
    assert set(heartbeats) <= {s.symbol for s in sources.pyth}  # every Chainlink feed has Pyth behind it
    assert [(s.symbol, s.token) for s in sources.twap] == [("SOSO", base.soso.address)]
    assert base.sequencer is not None and base.sequencer.feed == "0xBCF85224fc0756B9Fa45aA7892530B47e10b6433"


# -- bad input: each a clear message ---------------------------------------------------------------------------


def _swap_staking(d: dict[str, Any]) -> None:
    a, b = d["indexes"][0]["staking"], d["indexes"][1]["staking"]
    a["address"], b["address"] = b["address"], a["address"]


def _wrong_index_address(d: dict[str, Any]) -> None:
    d["indexes"][0]["address"] = "0x000000000000000000000000000000000000dEaD"


def _no_pool_tier(d: dict[str, Any]) -> None:
    d["fee_tiers"] = [500, 10000]


def _btc_feed(d: dict[str, Any]) -> str:
    return str(next(src["feed"] for src in d["prices"]["BTC"] if src["source"] == "chainlink"))


def _wrong_description(d: dict[str, Any]) -> None:
    d["prices"]["BTC"] = [{"source": "chainlink", "feed": _btc_feed(d), "description": "ETH / USD"}]


def _not_a_sequencer(d: dict[str, Any]) -> None:
    d["sequencer"] = {"feed": _btc_feed(d)}


def _factory_is_not_one(d: dict[str, Any]) -> None:
    d["stake_factory"] = {"address": d["usdc"]["address"]}


def _wrong_symbol(d: dict[str, Any]) -> None:
    d["usdc"]["symbol"] = "USDT"


@pytest.mark.parametrize(("change", "problem", "refused"), [
    (_swap_staking, r"the StakeFactory's staking token for MAG7\.ssi is 0x\w+ \(asset id 1\), the profile lists 0x\w+", True),
    (_wrong_index_address, r"no contract code at this address", True),
    (_no_pool_tier, r"no Uniswap V3 pool for MAG7\.ssi/USDC at any fee tier \(0\.05%, 1%\)", True),
    (_wrong_description, r"description\(\) is 'BTC / USD', expected 'ETH / USD'", True),
    (_not_a_sequencer, r"answer is 9500000000000, a sequencer uptime feed answers 0 \(up\) or 1 \(down\)", True),
    (_factory_is_not_one, r"getStakeTokens\(\) unreadable: not a StakeFactory", True),
    (_wrong_symbol, r"symbol\(\) is 'USDC', expected 'USDT'", True),
], ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else None)
async def test_check_names_each_problem(chain: Devnet, tmp_path: Path, change: Callable[[dict[str, Any]], None],
                                        problem: str, refused: bool | None) -> None:
    data = copy.deepcopy(devnet_data(chain))
    change(data)
    before = await _state(chain)
    report = await checked(write(tmp_path / "p.toml", data))
    text = render(report)
    assert re.search(problem, text), text
    assert not report.ready and "Verdict: NOT READY." in text
    if refused is not None:  # None: the price layer's sections, which its own start-up checks decide
        assert (report.startup is not None) is refused, report.startup
    assert await _state(chain) == before  # nothing changed on the chain


async def test_a_profile_entry_the_price_layer_cannot_read_is_named_before_anything_is_read(
    chain: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(devnet_data(chain))
    data["prices"]["UNI"] = [{"source": "pyth", "id": "0x1234"}]
    code = await run_cli(monkeypatch, tmp_path, "--profile", str(write(tmp_path / "p.toml", data)))
    err = capsys.readouterr().err
    assert code == 2 and "prices.UNI[0]: id must be a Pyth feed id (64 hex digits), not '0x1234'" in err


async def _state(devnet: Devnet) -> tuple[int, int]:
    async with connect(devnet.url) as w3:
        return int(await w3.eth.block_number), int(await w3.eth.get_transaction_count(devnet.profile.extra["devnet"]["deployer"]))


async def test_a_stale_feed_is_a_warning_not_a_refusal(chain: Devnet, tmp_path: Path) -> None:
    data = copy.deepcopy(devnet_data(chain))
    data["prices"]["BTC"] = [{"source": "chainlink", "feed": _btc_feed(data), "description": "BTC / USD", "heartbeat": 1}]
    async with connect(chain.url) as w3:
        block = await w3.eth.get_block("latest")
        await w3.provider.make_request("evm_mine", [int(block["timestamp"]) + 5])  # type: ignore[arg-type]
    report = await checked(write(tmp_path / "p.toml", data))
    text = render(report)
    (btc,) = [r for r in report.rows if r.label == "BTC Chainlink"]
    assert btc.status == "warning" and re.match(r"stale: updated \d+ s ago, its heartbeat is 1 s", btc.warnings[0])
    assert report.ready and report.startup is None
    assert f"Verdict: READY. The bot would start on this chain ({report.warning_count} warning" in text
    assert [r.label for r in report.rows if r.warnings and r.label != "AssetLocking"] == ["BTC Chainlink"]


# -- staking discovered through the StakeFactory -----------------------------------------------------------------


async def test_the_devnet_stake_factory_lists_every_index_staking_token(devnet: Devnet) -> None:
    data = devnet_data(devnet)
    rpc = Chain(devnet.profile.rpc_urls, devnet.profile.multicall3)
    try:
        ids, tokens = await rpc.call(data["stake_factory"]["address"], GET_STAKE_TOKENS)
    finally:
        await rpc.close()
    assert list(ids) == [1, 2, 3, 4]
    assert [t.lower() for t in tokens] == [ix["staking"]["address"].lower() for ix in data["indexes"]]


async def test_start_up_discovers_staking_tokens_the_profile_leaves_out(chain: Devnet, tmp_path: Path) -> None:
    data = copy.deepcopy(devnet_data(chain))
    listed = {ix["symbol"]: ix.pop("staking") for ix in data["indexes"]}
    del data["companions"]  # the stock index's profile stays beside the devnet's
    path = write(tmp_path / "profile.toml", data)
    (home, *_) = load_profiles(path)
    assert all(ref.staking is None for ref in home.indexes)
    app = await App.start(replace(make_config(chain, tmp_path), chain=str(path)))
    try:
        found = {ref.symbol: ref.staking for ref in app.profile.indexes}
    finally:
        await app.stop()
    assert {s: (t.address, t.symbol, t.decimals) for s, t in found.items() if t} == {
        s: (v["address"], v["symbol"], v["decimals"]) for s, v in listed.items()}


async def test_check_shows_staking_tokens_discovered_where_the_profile_lists_none(chain: Devnet, tmp_path: Path) -> None:
    data = copy.deepcopy(devnet_data(chain))
    meme = data["indexes"][1].pop("staking")
    report = await checked(write(tmp_path / "p.toml", data))
    (found,) = [r for r in report.rows if r.address == meme["address"]]
    assert found.label == "asset id 2 (StakeFactory)" and found.status == "ok"
    assert "stakes MEME.ssi: discovered, the profile lists none" in found.facts
    assert "cooldown() 7 days" in found.facts and "symbol sMEME.ssi" in found.facts
    (listed,) = [r for r in report.rows if r.address == data["indexes"][0]["staking"]["address"] and r.label == "sMAG7.ssi"]
    assert "the StakeFactory's, asset id 1" in listed.facts
    assert report.ready and report.startup is None


async def test_start_up_refuses_a_listed_staking_token_that_is_not_the_factorys(chain: Devnet, tmp_path: Path) -> None:
    data = copy.deepcopy(devnet_data(chain))
    _swap_staking(data)
    profile = parse_profile(data)
    rpc = Chain(profile.rpc_urls, profile.multicall3)
    try:
        with pytest.raises(ProfileMismatch) as caught:
            await verify_at_startup(profile, rpc)
    finally:
        await rpc.close()
    first, second = data["indexes"][0], data["indexes"][1]
    assert (f"the StakeFactory's staking token for MAG7.ssi is {second['staking']['address']} (asset id 1), "
            f"the profile lists {first['staking']['address']}") in caught.value.problems
    assert (f"the StakeFactory's staking token for MEME.ssi is {first['staking']['address']} (asset id 2), "
            f"the profile lists {second['staking']['address']}") in caught.value.problems


# -- operator overrides ------------------------------------------------------------------------------------------

SHIPPED: dict[str, Any] = {
    "name": "x", "rpc_urls": ["https://a"], "contracts": {"multicall3": "0x1", "quoter_v2": "0x2"},
    "indexes": [{"symbol": "A", "address": "0xaa", "decimals": 8}, {"symbol": "B", "address": "0xbb", "decimals": 8}],
    "lp_tokens": [{"address": "0xAbC", "symbol": "UNI-V2"}],
    "prices": {"BTC": [{"source": "chainlink", "feed": "0xf"}, {"source": "pyth", "id": "e6"}]},
}


@pytest.mark.parametrize(("over", "expect"), [
    ({"rpc_urls": ["http://b"]}, {"rpc_urls": ["http://b"]}),
    ({"contracts": {"quoter_v2": "0x3"}}, {"contracts": {"multicall3": "0x1", "quoter_v2": "0x3"}}),
    ({"indexes": [{"symbol": "B", "decimals": 18}]},
     {"indexes": [{"symbol": "A", "address": "0xaa", "decimals": 8}, {"symbol": "B", "address": "0xbb", "decimals": 18}]}),
    ({"indexes": [{"symbol": "C", "address": "0xcc"}]},
     {"indexes": [*SHIPPED["indexes"], {"symbol": "C", "address": "0xcc"}]}),
    ({"lp_tokens": [{"address": "0xabc", "index": "A"}]},
     {"lp_tokens": [{"address": "0xabc", "symbol": "UNI-V2", "index": "A"}]}),
    ({"prices": {"BTC": [{"source": "pyth", "id": "ff"}]}}, {"prices": {"BTC": [{"source": "pyth", "id": "ff"}]}}),
    ({"prices": {"UNI": [{"source": "pyth", "id": "78"}]}},
     {"prices": {**SHIPPED["prices"], "UNI": [{"source": "pyth", "id": "78"}]}}),
], ids=["value", "table", "index-by-symbol", "new-index", "lp-by-address", "sources-replaced", "new-symbol"])
def test_overrides_merge_key_by_key(over: dict[str, Any], expect: dict[str, Any]) -> None:
    shipped = copy.deepcopy(SHIPPED)
    merged = merge_profile_data(shipped, over)
    assert merged == {**SHIPPED, **expect}
    assert shipped == SHIPPED  # the shipped data is not changed


def test_an_override_entry_must_say_which_entry_it_changes() -> None:
    with pytest.raises(ProfileError, match=r"indexes\[0\]: an override entry must name `symbol` or `address`"):
        merge_profile_data(SHIPPED, {"indexes": [{"decimals": 18}]})


def test_overrides_from_home_then_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    write(home / "profiles" / "base.toml", {"rpc_urls": ["https://home.example/rpc"], "block_time_seconds": 3.0})
    env = write(tmp_path / "env.toml", {"rpc_urls": ["https://env.example/rpc"],
                                        "indexes": [{"symbol": "USSI", "name": "Renamed"}]})
    (base,) = load_profiles("base", home)
    assert base.rpc_urls == ("https://home.example/rpc",) and base.block_time_seconds == 3.0
    (base,) = load_profiles("base", home, env)
    assert base.rpc_urls == ("https://env.example/rpc",) and base.block_time_seconds == 3.0
    assert base.index("USSI").name == "Renamed" and base.index("USSI").staking is not None
    assert load_profile("base").rpc_urls == ("https://mainnet.base.org",)  # the shipped file is untouched


@pytest.mark.parametrize(("content", "message"), [
    ("rpc_urls = [", r"over\.toml is not valid TOML"),
    ('stake_factory = "0x585834242BB31427B1dC7486DD4BDe7c724e35c1"\n', r"stake_factory: a table with `address`"),
    ('[stake_factory]\naddress = "0x12"\n', r"stake_factory\.address: '0x12' is not an address"),
    ('[[indexes]]\nsymbol = "MAG7.ssi"\naddress = "nope"\n', r"indexes\[0\]: 'nope' is not an address"),
])
def test_a_bad_override_is_named(tmp_path: Path, content: str, message: str) -> None:
    over = tmp_path / "over.toml"
    over.write_text(content)
    with pytest.raises(ProfileError, match=message):
        load_profiles("base", None, over)


def test_a_missing_override_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"INDEXBOT_PROFILE_OVERRIDE names .*nope\.toml, which is not a file"):
        load_profiles("base", None, tmp_path / "nope.toml")


# -- RPC URLs are shown redacted -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("https://mainnet.base.org", "https://mainnet.base.org"),
    ("https://base-mainnet.g.alchemy.com/v2/AbCdEf123456GhIjKl7890", "https://base-mainnet.g.alchemy.com/v2/***"),
    ("https://base-mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://base-mainnet.infura.io/v3/***"),
    ("https://user:secret@node.example.org/rpc", "https://node.example.org/rpc"),
    ("https://node.example.org/rpc?apikey=s3cret", "https://node.example.org/rpc?***"),
    ("https://x.base-mainnet.quiknode.pro/4f5e6d7c8b9a/", "https://x.base-mainnet.quiknode.pro/***/"),
    ("not a url", "***"),
])
def test_rpc_urls_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_indexbot_config_shows_rpc_urls_redacted_and_logs_hide_them() -> None:
    keyed = "https://base-mainnet.g.alchemy.com/v2/AbCdEf123456GhIjKl7890"
    config = load_config({"INDEXBOT_RPC_URLS": f"{keyed}, http://127.0.0.1:8545"})
    assert config.redacted()["rpc_urls"] == ("https://base-mainnet.g.alchemy.com/v2/***", "http://127.0.0.1:8545")
    assert config.secrets == [keyed, "AbCdEf123456GhIjKl7890"]  # the URL, and its key alone (logged in another shape)


async def test_check_prints_the_rpc_redacted(
    chain: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed = chain.url.replace("http://", "http://operator:hunter2@") + "/v2/SeCrEtKeY0123456789?key=abc"
    code = await run_cli(monkeypatch, tmp_path, "--profile", str(chain.profile_path),
                         env={"INDEXBOT_RPC_URLS": keyed})
    captured = capsys.readouterr()
    assert code == 2  # anvil does not answer on that path: nothing reached
    for secret in ("hunter2", "operator", "SeCrEtKeY0123456789", "key=abc"):
        assert secret not in captured.out + captured.err
    assert re.search(r"no RPC endpoint answered \(http://127\.0\.0\.1:\d+/v2/\*\*\*\?\*\*\*\): \w+", captured.err), captured.err


# -- locked-LP tokens discovered through AssetLocking ---------------------------------------------------------------


async def test_start_up_counts_the_lp_tokens_asset_locking_accepts(chain: Devnet, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A profile naming AssetLocking but no [[lp_tokens]] gets the index/USDC V2 pairs getActiveTokens() lists; a
    token it accepts that is no such pair (made active here: USDC itself) is logged and not counted."""
    data = copy.deepcopy(devnet_data(chain))
    listed = data.pop("lp_tokens")
    del data["companions"]
    path = write(tmp_path / "profile.toml", data)
    async with connect(chain.url) as w3:  # the deployer owns the devnet's AssetLocking
        locking = w3.eth.contract(address=chain.profile.locking, abi=[
            {"name": n, "type": "function", "stateMutability": "nonpayable", "outputs": [], "inputs": i} for n, i in (
                ("updateLockConfig", [{"type": "address"}, {"type": "uint8"}, {"type": "uint256"}, {"type": "uint48"}]),
                ("setEpoch", [{"type": "address"}, {"type": "uint8"}]))])
        me = data["devnet"]["deployer"]
        usdc = chain.profile.usdc.address
        await w3.eth.wait_for_transaction_receipt(await locking.functions.updateLockConfig(usdc, 1, 10**30, 3600).transact({"from": me}))
        await w3.eth.wait_for_transaction_receipt(await locking.functions.setEpoch(usdc, 1).transact({"from": me}))
    with caplog.at_level("WARNING", logger="bot.chain.discovery"):
        app = await App.start(replace(make_config(chain, tmp_path), chain=str(path)), track_head=False)
    try:
        found = [(lp.token.address, lp.token.symbol, lp.token.decimals, lp.index, lp.kind) for lp in app.profile.lp_tokens]
    finally:
        await app.stop()
    assert found == [(lp["address"], lp["symbol"], lp["decimals"], lp["index"], lp["kind"]) for lp in listed]
    assert f"AssetLocking accepts {usdc}, which is not a Uniswap V2 pair of an index and USDC" in caplog.text
