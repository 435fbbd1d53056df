"""The chunked log reader (bot.chain.logreader) against real providers' refusals.

Table-driven: every refusal shape collected from public reports of Infura, Alchemy, QuickNode, reth, zkSync,
Tenderly and others is read as a range or a results refusal, with the limit and the suggested range it names; rate
limits and other errors are not refusals. Then on the devnet, through tests/rpc_proxy.py in each provider's style:
events spread over a range many times the proxy's caps are all read, exactly as an uncapped read of anvil gives them,
in windows the proxy accepted that tile the range; the range cap is learned from the first refusal when it is named.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_account import Account
from web3.exceptions import Web3RPCError

from bot.chain import protocol as p
from bot.chain.client import Chain
from bot.chain.logreader import LogReader, LogsRefused, Refusal, refusal_of
from devnet.anvil import node_call
from devnet.harness import Devnet
from devnet.rpc import DEPLOYER_KEY, Sender, connect, contract
from rpc_proxy import STYLES, RpcProxy

DEPLOYER = Account.from_key(DEPLOYER_KEY).address


def rpc_error(message: str, code: int = -32602, data: Any = None) -> Web3RPCError:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return Web3RPCError(message, rpc_response={"jsonrpc": "2.0", "id": 1, "error": error})  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("message", "code", "data", "asked", "want"),
    [
        ("range 1000000 exceeds limit of 10000", -32602, None, 1_000_001, ("range", 10_000, None)),  # Infura
        ("eth_getLogs is limited to a 10,000 range", -32614, None, 20_000, ("range", 10_000, None)),  # QuickNode
        ("You can make eth_getLogs requests with up to a 500 block range. Based on your parameters, this block range should "
         "work: [0x1a30dfd, 0x1a30ff0]", -32600, None, 5_000, ("range", 500, (0x1A30DFD, 0x1A30FF0))),  # Alchemy free tier
        ("query exceeds max block range 5000", -32602, None, 9_000, ("range", 5_000, None)),  # reth
        ("block range is larger than max block range, block range = 5120, max block range = 5000", -32000, None, 5_120,
         ("range", 5_000, None)),  # a geth fork
        ("block range is too wide (maximum 1024)", -32000, None, 2_000, ("range", 1_024, None)),  # Frontier
        ("invalid params", -32602, {"error_id": "4ed9", "payload": "range 9009594 is bigger than range limit 2000"}, 9_009_594,
         ("range", 2_000, None)),  # Tenderly
        ("logs are limited to a 10000 block range", -32602, None, 50_000, ("range", 10_000, None)),  # Polygon zkEVM
        ("block range is bigger than maxBlockRange", -32000, None, 10_000, ("range", None, None)),  # Scroll: no number
        ("block range too high", -32600, None, 10_000, ("range", None, None)),
        ("query returned more than 10000 results", -32005, None, 5_000, ("results", 10_000, None)),  # Infura
        ("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the "
         "response size, or you can request any block range with a cap of 10K logs in the response. Based on your "
         "parameters, this block range should work: [0x10, 0x2f]", -32602, None, 5_000, ("results", None, (16, 47))),  # Alchemy: "10K"
        ("Query returned more than 10000 results. Try with this block range [0x0, 0x30f].", -32602, None, 5_000,
         ("results", 10_000, (0, 0x30F))),  # zkSync
        ("query exceeds max results 20000, retry with the range 25766988-25775072", -32602, None, 8_085,
         ("results", 20_000, (25_766_988, 25_775_072))),  # reth (the very range asked)
        ("Response is too big", -32008, "Exceeded max limit of 10000", 5_000, ("results", 10_000, None)),
        ("query timeout exceeded", -32005, None, 5_000, ("results", None, None)),
    ],
)
def test_refusals_are_read_from_every_providers_words(message: str, code: int, data: Any, asked: int,
                                                       want: tuple[str, int | None, tuple[int, int] | None]) -> None:
    got = refusal_of(rpc_error(message, code, data), asked)
    assert isinstance(got, Refusal)
    assert (got.kind, got.limit, got.suggested) == want


@pytest.mark.parametrize(
    "message",
    [
        "daily request count exceeded, request rate limited",  # Infura's rate limit, also -32005
        "Your app has exceeded its compute units per second capacity",  # Alchemy's
        "execution reverted",
        "header not found",
        "invalid argument 0: hex string has odd length",
        "missing trie node",
    ],
)
def test_other_errors_are_not_refusals(message: str) -> None:
    assert refusal_of(rpc_error(message, -32005)) is None
    assert refusal_of(ValueError("query returned more than 10000 results")) is None  # not a node's answer


async def test_an_error_that_is_not_a_refusal_propagates_at_once() -> None:
    asked: list[dict[str, Any]] = []

    async def fetch(query: dict[str, Any]) -> list[Any]:
        asked.append(query)
        raise rpc_error("daily request count exceeded, request rate limited", -32005)

    with pytest.raises(Web3RPCError, match="rate limited"):
        await LogReader(fetch, 100).read("0x" + "11" * 20, [], 0, 10_000)
    assert len(asked) == 1  # no halving into a rate limit


# -- on the devnet, through the capping proxy -----------------------------------------------------------------------


@pytest.fixture
async def spread(chain: Devnet) -> AsyncIterator[tuple[int, int, list[tuple[int, int, str]]]]:
    """USDC transfers from the deployer: 12 in consecutive blocks (a busy stretch), then 12 each 25 blocks apart;
    (first block, last block, every transfer log as (block, log index, tx hash) read from anvil in one query)."""
    profile = chain.profile
    async with connect(chain.url) as w3:
        start = await w3.eth.block_number + 1
        me = Sender(w3, chain_id=profile.chain_id)
        usdc = contract(w3, "TestToken", profile.usdc.address)
        for i in range(24):
            await me.transact(usdc.functions.transfer(Account.create().address, 1))
            if i >= 12:
                await node_call(w3, "anvil_mine", hex(24))
        await node_call(w3, "anvil_mine", hex(40))
        end = await w3.eth.block_number
        logs = await w3.eth.get_logs({"address": profile.usdc.address, "topics": [p.TRANSFER_TOPIC, sender_topic(me.address)],
                                      "fromBlock": start, "toBlock": end})
    yield start, end, [key(entry) for entry in logs]


def sender_topic(address: str) -> str:
    return "0x" + address[2:].lower().rjust(64, "0")


def key(entry: Any) -> tuple[int, int, str]:
    return int(entry["blockNumber"]), int(entry["logIndex"]), bytes(entry["transactionHash"]).hex()


def assert_tiles(windows: list[tuple[int, int]], first: int, last: int) -> None:
    """The windows cover first..last exactly once, in order."""
    assert windows[0][0] == first and windows[-1][1] == last
    assert all(b + 1 == c for (_, b), (c, _) in zip(windows, windows[1:]))


@pytest.mark.parametrize("style", sorted(STYLES))
async def test_every_event_is_read_through_each_providers_caps(chain: Devnet, spread: Any, style: str) -> None:
    first, last, want = spread
    assert last - first > 8 * 40 and len(want) == 24  # the range is many times the cap
    async with RpcProxy(chain.url, max_blocks=40, max_results=3, style=style) as proxy:
        reader = Chain([proxy.url], chain.profile.multicall3, log_range_blocks=10_000)
        try:
            got = await reader.logs(chain.profile.usdc.address, [p.TRANSFER_TOPIC, sender_topic(DEPLOYER)], first, last)
            learned = reader.log_reader.span
        finally:
            await reader.close()
    assert [key(e) for e in got] == want  # every event, once, in order
    ok = proxy.ok()
    assert all(a.blocks <= 40 for a in ok) and len(ok) >= (last - first + 1) // 40
    assert_tiles([(a.first, a.last) for a in ok], first, last)
    halvings, n = 0, last - first + 1  # a refusal naming no limit: the whole range, halved until it fits
    while n > 40:
        n, halvings = n // 2, halvings + 1
    ranges = [a.answer for a in proxy.asked].count("range")
    assert (ranges, learned) == ((1, 40) if style != "unnumbered" else (halvings, n))  # a named limit is learned at once
    assert any(a.answer == "results" for a in proxy.asked)  # the busy stretch was cut too
    if style in ("infura", "quicknode", "reth", "tenderly", "zksync"):  # they name their results cap: a window is only
        assert [a.answer for a in proxy.asked].count("results") <= 4  # widened while half the cap would still fit


async def test_a_block_with_more_logs_than_the_cap_is_refused_plainly(chain: Devnet, spread: Any) -> None:
    first, last, want = spread
    async with RpcProxy(chain.url, max_results=0) as proxy:
        reader_chain = Chain([proxy.url], chain.profile.multicall3)
        try:
            with pytest.raises(LogsRefused, match=f"block {want[0][0]} alone: query returned more than 0 results"):
                await reader_chain.logs(chain.profile.usdc.address, [p.TRANSFER_TOPIC], first, last)
        finally:
            await reader_chain.close()
    assert proxy.asked[-1].blocks == 1 and all(a.answer == "results" for a in proxy.asked)


async def test_the_profile_and_the_operator_set_the_range(chain: Devnet, tmp_path: Any) -> None:
    from dataclasses import replace

    from bot.app import App
    from conftest import make_config

    app = await App.start(make_config(chain, tmp_path, log_range_blocks=123))
    try:
        assert app.chain.log_reader.span == 123 and app.profile.log_range_blocks == 123
    finally:
        await app.stop()
    assert replace(chain.profile).log_range_blocks == 5_000  # the default when a profile says nothing


@pytest.mark.parametrize(
    ("env", "file", "message"),
    [
        ({"INDEXBOT_LOG_RANGE_BLOCKS": "ten"}, None, "INDEXBOT_LOG_RANGE_BLOCKS must be a whole number of blocks, got 'ten'"),
        ({"INDEXBOT_LOG_RANGE_BLOCKS": "0"}, None, "INDEXBOT_LOG_RANGE_BLOCKS must be at least 1, got 0"),
        ({}, "log_range_blocks = -5\n", "INDEXBOT_LOG_RANGE_BLOCKS must be at least 1, got -5"),
        ({}, "[alerts]\nlog_range = 500\n", "alerts.log_range has moved: set log_range_blocks"),
    ],
)
def test_a_bad_log_range_setting_is_refused_naming_it(tmp_path: Any, env: dict[str, str], file: str | None, message: str) -> None:
    from bot.config import ConfigError, load_config

    if file is not None:
        (tmp_path / "c.toml").write_text(file)
        env = {**env, "INDEXBOT_CONFIG": str(tmp_path / "c.toml")}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(env)
    assert load_config({"INDEXBOT_LOG_RANGE_BLOCKS": "2000"}).log_range_blocks == 2000
    assert load_config({}).log_range_blocks is None


@pytest.mark.parametrize("value", [0, -1, "500", 1.5, True])
def test_a_bad_profile_log_range_is_a_profile_error(devnet: Devnet, value: Any) -> None:
    import tomllib

    from bot.chain.profile import ProfileError, parse_profile

    data = tomllib.loads(devnet.profile_path.read_text())
    with pytest.raises(ProfileError, match="log_range_blocks: .* is not a whole number of blocks of at least 1"):
        parse_profile({**data, "log_range_blocks": value})
    assert parse_profile({**data, "log_range_blocks": 750}).log_range_blocks == 750


async def test_the_operators_log_names_the_learned_range_without_the_providers_url(caplog: pytest.LogCaptureFixture) -> None:
    """A provider's words can carry the request's URL, and an RPC URL can hold an API key: the log line drops it."""
    asked: list[tuple[int, int]] = []

    async def fetch(query: dict[str, Any]) -> list[Any]:
        asked.append((query["fromBlock"], query["toBlock"]))
        if query["toBlock"] - query["fromBlock"] + 1 > 800:
            raise rpc_error("eth_getLogs is limited to a 800 range", -32614,
                            {"url": "https://base-mainnet.example/v2/SECRETKEY123", "host": "node-7"})
        return []

    caplog.set_level("INFO", logger="bot.chain.logreader")
    assert await LogReader(fetch, 5_000).read("0x" + "11" * 20, [], 1, 4_000) == []
    assert asked == [(1, 4_000), (1, 800), (801, 1_600), (1_601, 2_400), (2_401, 3_200), (3_201, 4_000)]
    text = caplog.text
    assert "refused 4000 blocks" in text and "reading at most 800 blocks" in text
    assert "SECRETKEY123" not in text and "<url>" in text


def test_no_module_of_the_bot_sends_eth_getlogs_around_the_reader() -> None:
    """Every event read goes through Chain.log_reader: the one eth_getLogs call is Chain._get_logs, its fetch."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted([*root.glob("bot/**/*.py"), *root.glob("handlers/**/*.py"), *root.glob("wallets/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("get_logs", "getLogs", "create_filter"):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, ast.Constant) and node.value == "eth_getLogs" and path != root / "bot/chain/client.py":
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == ["bot/chain/client.py:" + str(_get_logs_line(root / "bot/chain/client.py"))]


def _get_logs_line(path: Any) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "w3.eth.get_logs(" in line)
