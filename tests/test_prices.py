"""The price layer: sources in order per symbol, Hermes through a local stand-in, TWAP from the devnet's own
SOSO pool, the sequencer feed, provenance in /indexes, and the start-up checks of each feed.

Hermes is the only stand-in (it sits across the network edge): the devnet runs one on 127.0.0.1 serving the
documented JSON; each test below swaps what it answers. Everything on-chain is the real devnet.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from web3 import AsyncWeb3

from bot.chain import protocol as p
from bot.app import App
from bot.chain.client import Chain
from bot.core.errors import UserError
from bot.market.quotes import SEQUENCER_REFUSALS
from bot.market.prices import KINDS, PROBLEMS, HermesAnswer, HermesPrice
from bot.market.prices.hermes import parse_answer
from bot.market.prices.twap import mean_tick, usd_per_token
from bot.market.prices.model import TwapPool
from bot.chain.profile import ProfileError, load_profile, parse_profile
from bot.chain.verify import ProfileMismatch, verify_profile
from devnet import operator
from devnet.harness import Devnet
from devnet.hermes import EXPO, PYTH_IDS, entry
from devnet.rpc import connect
from test_wallet_commands import EN, ZH
from auxil.trading import funded_user, say

DOGE = PYTH_IDS["DOGE"]  # Pyth first, its Chainlink feed behind it, in MAG7.ssi


# -- the catalogs name every source, problem and sequencer state -------------------------------------------

def test_every_source_problem_and_sequencer_state_reads_in_both_languages() -> None:
    keys = [f"prices.source.{k}" for k in KINDS] + [f"prices.problem.{c}" for c in PROBLEMS]
    keys += list(SEQUENCER_REFUSALS.values()) + [f"sequencer.{s}" for s in SEQUENCER_REFUSALS]
    assert [k for k in keys if k not in EN or k not in ZH] == []


# -- Hermes' answer, parsed ---------------------------------------------------------------------------------

def _body(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"binary": {"encoding": "hex", "data": []}, "parsed": list(entries)}


HERMES_ANSWERS = [  # (what, parsed[] entry for DOGE, expected price or problem)
    ("expo -8", entry(DOGE, 16_000_000, -8, 1000, 8000), Decimal("0.16")),
    ("expo -5 read from the answer", entry(DOGE, 16_000, -5, 1000, 8), Decimal("0.16")),
    ("expo as a string", entry(DOGE, 16_000, "-5", 1000), Decimal("0.16")),
    ("non-numeric price", entry(DOGE, "abc", -8, 1000), "bad_answer"),
    ("fractional price", entry(DOGE, "1.5", -8, 1000), "bad_answer"),
    ("positive expo", entry(DOGE, 16, 3, 1000), "bad_answer"),
    ("absurd expo", entry(DOGE, 16, -64, 1000), "bad_answer"),
    ("no publish time", entry(DOGE, 16, -8, 0), "bad_answer"),
    ("another id only", entry(PYTH_IDS["ADA"], 16, -8, 1000), "missing"),
]


@pytest.mark.parametrize(("what", "raw", "expected"), HERMES_ANSWERS, ids=[a[0] for a in HERMES_ANSWERS])
def test_hermes_answers_are_read_with_their_own_exponent(what: str, raw: dict[str, Any], expected: Decimal | str) -> None:
    got = parse_answer(_body(raw), [DOGE]).for_id(DOGE)
    if isinstance(expected, Decimal):
        assert isinstance(got, HermesPrice) and got.price == expected and got.publish_time == 1000
    else:
        assert got == expected


@pytest.mark.parametrize("body", [None, [], {"parsed": "x"}, {"binary": {}}])
def test_a_hermes_answer_of_the_wrong_shape_is_a_bad_answer(body: Any) -> None:
    assert parse_answer(body, [DOGE]) == HermesAnswer(problem="bad_answer")


# -- profile entries ----------------------------------------------------------------------------------------

BASE_DATA = {
    "name": "t", "chain_id": 1, "rpc_urls": ["http://127.0.0.1:1"],
    "contracts": {"multicall3": "0xcA11bde05977b3631167028862bE2a173976CA11"},
    "usdc": {"address": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "symbol": "USDC", "decimals": 6},
    "weth": {"address": "0x4200000000000000000000000000000000000006", "symbol": "WETH", "decimals": 18},
}
FEED = "0xC01502b887D09B0f329981764268fC32a94cB453"
BAD_SOURCES = [
    ({"source": "coingecko"}, "prices.BTC[0]: source 'coingecko' is not one of chainlink, pyth, twap"),
    ("0xabc", "prices.BTC[0]: each price source is a table"),
    ({"source": "chainlink"}, "prices.BTC[0]: missing feed"),
    ({"source": "chainlink", "feed": "0x12"}, "prices.BTC[0]: feed '0x12' is not an address"),
    ({"source": "chainlink", "feed": FEED, "heartbeat": 0}, "prices.BTC[0]: heartbeat must be a positive number"),
    ({"source": "chainlink", "feed": FEED, "decimals": "8"}, "prices.BTC[0]: decimals must be a whole number"),
    ({"source": "pyth", "id": "e62df6"}, "prices.BTC[0]: id must be a Pyth feed id (64 hex digits)"),
    ({"source": "twap", "window": 60}, "prices.BTC[0]: missing token"),
    ({"source": "pyth", "id": PYTH_IDS["BTC"], "max_conf": 2}, "prices.BTC[0]: max_conf must be a fraction of the price"),
    ({"source": "pyth", "id": PYTH_IDS["BTC"], "max_conf": "lots"}, "prices.BTC[0]: max_conf must be a fraction of the price"),
]


@pytest.mark.parametrize(("source", "message"), BAD_SOURCES, ids=[m.split(": ")[1][:30] for _, m in BAD_SOURCES])
def test_a_malformed_price_source_names_where_and_what_is_valid(source: Any, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile({**BASE_DATA, "prices": {"BTC": [source]}})
    assert str(caught.value).startswith(message)


BAD_TABLES = [
    ({"pyth": {"timeout_seconds": "soon"}}, "pyth.timeout_seconds: 'soon' is not a number"),
    ({"pyth": {"timeout_seconds": 0}}, "pyth.timeout_seconds must be above 0 and at most 60"),
    ({"sequencer": {"grace_seconds": 60}}, "sequencer: missing feed"),
    ({"sequencer": {"feed": FEED, "grace_seconds": "1h"}}, "sequencer.grace_seconds must be a whole number of seconds"),
    ({"sequencer": {"feed": "0xnope"}}, "sequencer.feed: '0xnope' is not an address"),
    ({"prices": ["BTC"]}, "prices: a table of SYMBOL = [sources]"),
    ({"prices": {"BTC": []}}, "prices.BTC: a non-empty list of sources"),
]


@pytest.mark.parametrize(("table", "message"), BAD_TABLES, ids=[m[:28] for _, m in BAD_TABLES])
def test_a_malformed_pyth_or_sequencer_table_names_what_is_wrong(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile({**BASE_DATA, **table})
    assert str(caught.value).startswith(message)


def test_the_schema_and_its_shorthand() -> None:
    prof = parse_profile({
        **BASE_DATA,
        "pyth": {"hermes_url": "https://hermes.example", "timeout_seconds": 1.5},
        "sequencer": {"feed": "0xBCF85224fc0756B9Fa45aA7892530B47e10b6433"},
        "prices": {"BTC": [{"source": "chainlink", "feed": FEED, "description": "BTC / USD", "heartbeat": 1200},
                           {"source": "pyth", "id": "0x" + PYTH_IDS["BTC"].upper(), "max_age": 120}]},
        "feeds": {"ETH": "0x50015f8b17fb2C290Dde41fDc246ed0dcEE93a8b", "BTC": FEED},
    })
    assert [s.kind for s in prof.prices["BTC"]] == ["chainlink", "pyth"] and prof.prices["BTC"][1].pyth_ids() == (PYTH_IDS["BTC"],)
    assert [s.kind for s in prof.prices["ETH"]] == ["chainlink"]  # [feeds] is one Chainlink feed
    assert prof.pyth is not None and prof.pyth.timeout_seconds == 1.5
    assert prof.sequencer is not None and prof.sequencer.grace_seconds == 3600


# -- TWAP arithmetic ----------------------------------------------------------------------------------------

def test_twap_tick_rounds_down_and_prices_either_order() -> None:
    assert mean_tick([0, -1801], 1800) == -2 and mean_tick([0, 3600], 1800) == 2  # towards negative infinity
    soso_first = TwapPool("0x0", 3000, True, 18, 6)
    usdc_first = TwapPool("0x0", 3000, False, 18, 6)
    tick = -281_433  # 1.0001**tick is about 0.6e6 USDC units per 1e18 SOSO units
    a, b = usd_per_token(tick, soso_first), usd_per_token(-tick, usdc_first)
    assert a == b and abs(a / Decimal("0.6") - 1) < Decimal("0.0001")  # within a tick


# -- Hermes through the devnet's stand-in, on the real chain ------------------------------------------------

def serve(devnet: Devnet, make: Any) -> Any:
    """Make the devnet's Hermes stand-in answer `make(ids, now)` instead; returns the previous source."""
    assert devnet.hermes is not None
    old = devnet.hermes.source

    async def source(ids: Sequence[str]) -> list[dict[str, Any]]:
        async with connect(devnet.url) as w3:
            now = int((await w3.eth.get_block("latest"))["timestamp"])
        return list(make(ids, now))

    devnet.hermes.source = source
    return old


def serve_without(devnet: Devnet, symbol: str) -> Any:
    """Make the devnet's Hermes stand-in leave `symbol` out of its answers (the others as the devnet prices them)."""
    assert devnet.hermes is not None
    old = devnet.hermes.source

    async def source(ids: Sequence[str]) -> list[dict[str, Any]]:
        return [e for e in await old(ids) if e["id"] != PYTH_IDS[symbol]]

    devnet.hermes.source = source
    return old


FALL_THROUGH = [  # (what, DOGE's entry given the chain time, the problem the Pyth reading has)
    ("stale", lambda now: [entry(DOGE, 99_000_000, EXPO, now - 600)], "stale"),
    ("missing", lambda now: [], "missing"),
    ("negative", lambda now: [entry(DOGE, -16_000_000, EXPO, now)], "not_positive"),
    ("zero", lambda now: [entry(DOGE, 0, EXPO, now)], "not_positive"),
    ("wrong expo", lambda now: [entry(DOGE, 16_000_000, 8, now)], "bad_answer"),
    ("non-numeric", lambda now: [entry(DOGE, "0x10", EXPO, now)], "bad_answer"),
    ("too uncertain", lambda now: [entry(DOGE, 16_000_000, EXPO, now, 1_000_000)], "uncertain"),  # ± 6 %
]


@pytest.mark.parametrize(("what", "answer", "problem"), FALL_THROUGH, ids=[f[0] for f in FALL_THROUGH])
async def test_an_unusable_pyth_price_falls_through_to_chainlink(app: App, chain: Devnet, what: str, answer: Any,
                                                                 problem: str) -> None:
    old = serve(chain, lambda ids, now: answer(now))
    try:
        await app.head.poll_once()
        q = await app.services.market.quote(app.profile.index("MAG7.ssi"), "buy", Decimal(100))
    finally:
        assert chain.hermes is not None
        chain.hermes.source = old
    snap = await app.services.market.snapshot()
    assert snap.priced is not None
    tried = snap.priced.readings["DOGE"]
    assert [(r.source, r.problem) for r in tried] == [("pyth", problem), ("chainlink", "")]
    async with connect(chain.url) as w3:
        feed = (await operator.feed_prices(w3, {"DOGE": chain.profile.feeds["DOGE"]}))["DOGE"]
    assert snap.prices["DOGE"] == feed and not q.partial  # priced by the next source, nothing else changed
    assert q.nav == await operator.index_nav(chain.profile, "MAG7.ssi")


async def test_a_slow_hermes_times_out_and_falls_through(app: App, chain: Devnet) -> None:
    assert chain.hermes is not None and app.services.market.hermes is not None
    timeout = app.services.market.hermes.settings.timeout_seconds
    chain.hermes.delay = timeout + 0.5
    try:
        await app.head.poll_once()
        started = asyncio.get_running_loop().time()
        q = await app.services.market.quote(app.profile.index("MAG7.ssi"), "buy", Decimal(100))
        waited = asyncio.get_running_loop().time() - started
    finally:
        chain.hermes.delay = 0
    doge = next(r for r in q.sources if r.symbol == "DOGE")
    assert doge.source == "chainlink" and not q.partial and timeout <= waited < timeout + 0.5
    snap = await app.services.market.snapshot()
    assert snap.priced is not None and snap.priced.readings["DOGE"][0].problem == "timeout"


async def test_pyth_prices_follow_the_devnet_market_and_one_request_serves_a_block(app: App, chain: Devnet) -> None:
    market, ref = app.services.market, app.profile.index("MAG7.ssi")
    assert chain.hermes is not None and market.hermes is not None
    await operator.set_price(chain.profile, "DOGE", Decimal("0.25"))  # `indexbot devnet price DOGE 0.25`
    await app.head.poll_once()
    hermes_before = market.hermes.requests
    with app.chain.counting() as trips:  # the quotes' own round trips, not the head tracker's polls beside them
        q = await market.quote(ref, "buy", Decimal(100))
        assert (trips.count, market.hermes.requests - hermes_before) == (1, 1)
        doge = next(r for r in q.sources if r.symbol == "DOGE")
        assert (doge.source, doge.price, doge.where) == ("pyth", Decimal("0.25"), DOGE)
        ids = chain.hermes.requests[-1]
        assert set(ids) == set(market.book.pyth_ids()) and DOGE in ids  # every Pyth id of the profile, in one request
        for _ in range(3):  # warm: the same block costs nothing, a snapshot included
            await market.quote(ref, "buy", Decimal(100))
            await market.quote(ref, "sell", Decimal(1))
    assert (trips.count, market.hermes.requests - hermes_before) == (2, 1)  # the sell: 1 chain read
    await operator.advance(chain.url, 1)  # a new block read by five quotes at once: still one Hermes request
    await app.head.poll_once()
    hermes_before = market.hermes.requests
    await asyncio.gather(*(market.quote(ref, "buy", Decimal(10 + i)) for i in range(5)))
    assert market.hermes.requests - hermes_before == 1


# -- SOSO from its own pool's TWAP ---------------------------------------------------------------------------

POOL_ABI = [{"name": "observe", "type": "function", "stateMutability": "view",
             "inputs": [{"name": "s", "type": "uint32[]"}],
             "outputs": [{"name": "t", "type": "int56[]"}, {"name": "l", "type": "uint160[]"}]}]


async def test_soso_is_priced_by_the_twap_of_its_pool(app: App, chain: Devnet) -> None:
    snap = await app.services.market.snapshot()
    reading = snap.source("SOSO")
    assert reading is not None and reading.source == "twap"
    pool = chain.profile.extra["devnet"]["soso_pool"]
    assert reading.where == pool
    w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(chain.url))  # observe through web3's own ABI machinery
    try:
        ticks, _ = await w3.eth.contract(address=pool, abi=POOL_ABI).functions.observe([1800, 0]).call(block_identifier=snap.block)
    finally:
        await w3.provider.disconnect()
    tick = (ticks[1] - ticks[0]) // 1800
    usdc, soso = app.profile.usdc.address, app.profile.soso
    assert soso is not None
    soso_first = int(soso.address, 16) < int(usdc, 16)
    per_unit = Decimal("1.0001") ** tick if soso_first else 1 / Decimal("1.0001") ** tick
    assert abs(snap.prices["SOSO"] - per_unit.scaleb(12)) < Decimal("1e-20")
    assert abs(snap.prices["SOSO"] / Decimal("0.6") - 1) < Decimal("0.0001")  # seeded at $0.60


# -- the L2 sequencer ---------------------------------------------------------------------------------------

async def test_trades_pause_while_the_sequencer_is_down_and_through_its_grace(app: App, chain: Devnet) -> None:
    user, address = await funded_user(app)
    await operator.set_sequencer(chain.profile, down=True)
    await app.head.poll_once()
    quoted = await say(app, "/quote MAG7.ssi 100")
    assert EN["sequencer.down"].split("(")[0] in quoted.rendered.text
    refused = await say(app, "/buy MAG7.ssi 100")
    assert refused.rendered.text.startswith(EN["error.trade.sequencer_down"].split("(")[0]), refused.rendered.text
    x = app.services.desks.home
    assert x is not None and await x.intents.of_user(user) == [] and await app.chain.nonce(address) == 0

    await operator.set_sequencer(chain.profile, down=False)  # back up: the grace period starts
    await app.head.poll_once()
    refused = await say(app, "/buy MAG7.ssi 100")
    assert refused.rendered.text.startswith(EN["error.trade.sequencer_grace"].split("{")[0]), refused.rendered.text
    snap = await app.services.market.snapshot()
    assert snap.sequencer is not None and snap.sequencer.state == "grace"
    assert snap.sequencer.grace_until == snap.sequencer.since + 3600

    await operator.advance(chain.url, 3600)
    await app.head.poll_once()
    quoted = await say(app, "/buy MAG7.ssi 100")
    assert "Confirm within" in quoted.rendered.text and "sequencer" not in quoted.rendered.text


# -- provenance: /indexes MAG7 sources ----------------------------------------------------------------------

async def test_indexes_sources_say_where_each_price_came_from(app: App, chain: Devnet) -> None:
    out = (await say(app, "/indexes MAG7 sources")).rendered.text
    snap = await app.services.market.snapshot()
    assert EN["sources.header"].replace("{index}", "MAG7.ssi") in out
    for e in snap.indexes["MAG7.ssi"].tokenset:
        reading = snap.source(e.symbol)
        assert reading is not None
        name = EN[f"prices.source.{reading.source}"]
        assert f"{e.symbol}: " in out and f"from {name}" in out
    assert "from Pyth" in out and "from Chainlink" in out
    quoted = (await say(app, "/quote MAG7.ssi 100")).rendered.text
    assert "/indexes MAG7.ssi sources" in quoted
    from auxil.trading import click

    one = await say(app, "/indexes MAG7")
    pressed = (await click(app, one, EN["button.price_sources"])).rendered.text
    assert pressed.startswith(EN["sources.header"].replace("{index}", "MAG7.ssi")) and "from Pyth" in pressed
    every = (await say(app, "/indexes sources")).rendered.text
    assert all(EN["sources.header"].replace("{index}", r.symbol) in every for r in app.services.market.indexes)
    refused = (await say(app, "/indexes MAG7 sauces")).rendered.text
    assert "/indexes [index] [sources]" in refused


async def test_a_partial_nav_names_what_is_unpriced_and_shows_the_pool_price(app: App, chain: Devnet) -> None:
    from devnet.anvil import node_call

    async with connect(chain.url) as w3:  # the XRP feed gone, and Hermes without XRP: nothing prices it
        await node_call(w3, "anvil_setCode", chain.profile.feeds["XRP"], "0x")
    old = serve_without(chain, "XRP")
    try:
        await app.head.poll_once()
        out = (await say(app, "/indexes MAG7")).rendered.text
        sources = (await say(app, "/indexes MAG7 sources")).rendered.text
        quoted = (await say(app, "/quote MAG7.ssi 100")).rendered.text
    finally:
        assert chain.hermes is not None
        chain.hermes.source = old
    assert "NAV is partial: no fresh price for XRP. Priced at the pool alone:" in out
    assert "XRP: no fresh price" in sources and "· Chainlink: no answer" in sources and "· Pyth: no answer" in sources
    assert "NAV is partial" in quoted and "Price: $" in quoted and "(NAV" not in quoted  # no premium to a partial NAV


# -- start-up verification of the feeds (the bad input of the issue) ----------------------------------------

def _edited(devnet: Devnet, tmp_path: Path, edit: Any) -> Path:
    data = tomllib.loads(devnet.profile_path.read_text())
    edit(data)
    path = tmp_path / "edited.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _set(symbol: str, key: str, value: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        next(s for s in data["prices"][symbol] if s["source"] == "chainlink")[key] = value
    return edit


BAD_FEEDS = [
    ("wrong description", _set("BTC", "description", "ETH / USD"), "description() is 'BTC / USD', expected 'ETH / USD'"),
    ("wrong decimals", _set("ETH", "decimals", 18), "decimals() is 8, expected 18"),
    ("not a feed", _set("SOL", "feed", "0x0000000000000000000000000000000000000001"), "no contract code for SOL feed"),
]


@pytest.mark.parametrize(("what", "edit", "message"), BAD_FEEDS, ids=[b[0] for b in BAD_FEEDS])
async def test_a_feed_that_does_not_match_refuses_start_up_naming_it(chain: Devnet, tmp_path: Path, what: str, edit: Any,
                                                                     message: str) -> None:
    profile = load_profile(_edited(chain, tmp_path, edit))
    checker = Chain(profile.rpc_urls, profile.multicall3)
    try:
        with pytest.raises(ProfileMismatch) as caught:
            await verify_profile(profile, checker)
    finally:
        await checker.close()
    assert message in "\n".join(caught.value.problems)


async def test_a_stale_feed_is_a_warning_not_a_refusal(chain: Devnet) -> None:
    checker = Chain(chain.profile.rpc_urls, chain.profile.multicall3)
    try:
        fresh = await verify_profile(chain.profile, checker)
        await operator.advance(chain.url, 2 * 86_400)
        stale = await verify_profile(chain.profile, checker)
    finally:
        await checker.close()
    assert fresh.warnings == () and not any(f.stale for f in fresh.feeds)
    btc = next(f for f in fresh.feeds if f.symbol == "BTC")
    assert (btc.description, btc.decimals, btc.heartbeat) == ("BTC / USD", 8, 86_400) and btc.answer == Decimal(95_000)
    assert all(f.stale for f in stale.feeds) and len(stale.warnings) == len(stale.feeds)
    assert any("feed BTC at" in w and "is stale" in w for w in stale.warnings)
    assert stale.sequencer is not None and stale.sequencer.answer == 0


# -- points valuation: the last fresh price, its age recorded ----------------------------------------------

async def test_points_value_an_unpriced_constituent_at_its_last_fresh_price(app: App, chain: Devnet) -> None:
    from auxil.trading import click
    from devnet.anvil import node_call

    points = app.services.points
    assert points is not None
    user, address = await funded_user(app)
    done = await click(app, await say(app, "/buy MAG7.ssi 100"), "Confirm")
    assert done.rendered.text.startswith("Confirmed"), done.rendered.text
    nav = await operator.index_nav(chain.profile, "MAG7.ssi")
    await app.head.poll_once()
    before = await app.services.market.snapshot()  # XRP fresh from Chainlink: remembered as its last fresh price
    xrp = before.source("XRP")
    assert xrp is not None and xrp.fresh
    async with connect(chain.url) as w3:
        await node_call(w3, "anvil_setCode", chain.profile.feeds["XRP"], "0x")
    old = serve_without(chain, "XRP")
    try:
        await operator.advance(chain.url, 600)
        ran = await points.snapshot.run()
    finally:
        assert chain.hermes is not None
        chain.hermes.source = old
    row = await app.db.fetch_one("SELECT timestamp FROM point_snapshots WHERE day = :day", {"day": ran.day.isoformat()})
    assert row is not None
    fallbacks = await app.db.fetch_all("SELECT symbol, price, source, published_at, age_seconds FROM point_price_fallbacks")
    assert [tuple(r) for r in fallbacks] == [("XRP", str(xrp.price), "chainlink", xrp.published_at, int(row[0]) - xrp.published_at)]
    assert int(fallbacks[0].age_seconds) >= 600
    held = await app.db.fetch_one("SELECT usd_e4 FROM point_holdings WHERE address = :address AND source = 'held'", {"address": address})
    (units,) = await app.chain.call(app.profile.index("MAG7.ssi").token.address, p.BALANCE_OF, address)
    assert held is not None and int(held[0]) == int(Decimal(units).scaleb(-8) * nav * 10_000)  # the full NAV, not the partial one


# -- `indexbot devnet up` runs the Hermes stand-in beside the chain; `devnet sequencer` flips the feed ------

@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_devnet_cli_serves_hermes_and_flips_the_sequencer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from bot.market.prices.hermes import Hermes, HermesSettings
    from devnet import cli
    from devnet.anvil import free_port, pid_alive

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", "--home", str(tmp_path), *argv]))

    pid = 0
    try:
        assert await run("up", "--port", str(free_port())) == 0
        pid = int(json.loads((tmp_path / "hermes.json").read_text())["pid"])
        assert "Hermes stand-in up: http://127.0.0.1:" in capsys.readouterr().out
        profile = load_profile(tmp_path / "profile.toml")
        assert profile.pyth is not None and profile.pyth.hermes_url.startswith("http://127.0.0.1:")
        client = Hermes(HermesSettings(profile.pyth.hermes_url, 5))
        try:
            for _ in range(100):  # the process takes a moment to listen
                answer = await client.latest([DOGE])
                if not answer.problem:
                    break
                await asyncio.sleep(0.1)
        finally:
            await client.close()
        got = answer.for_id(DOGE)
        assert isinstance(got, HermesPrice) and got.price == Decimal("0.16")  # the devnet's DOGE feed

        assert await run("sequencer", "down") == 0
        assert "sequencer down since" in capsys.readouterr().out
        assert await run("sequencer", "up") == 0
        assert "trades resume after the 3600s grace period" in capsys.readouterr().out
        assert await run("price", "SOSO", "0.75") == 0
        assert "SOSO pool traded to $0.75; its TWAP follows over 1800s" in capsys.readouterr().out
        assert await run("status") == 0
        status = capsys.readouterr().out
        assert f"  hermes:    {profile.pyth.hermes_url} (pid {pid})" in status
        assert "  sequencer: up, in its grace period for " in status
        checker = Chain(profile.rpc_urls, profile.multicall3)
        try:
            setup = await verify_profile(profile, checker)
        finally:
            await checker.close()
        assert setup.sequencer is not None and setup.sequencer.answer == 0 and setup.sequencer.age_seconds is not None
        assert setup.sequencer.age_seconds < 60  # back up just now: in its grace period
    finally:
        assert await run("down") == 0
    assert "Hermes stand-in stopped" in capsys.readouterr().out and not pid_alive(pid)


START_UP_HERMES = [  # (what, the stand-in's answer given the ids and the chain time, delay, what the warning says)
    ("missing id", lambda ids, now: [entry(i, 10**8, EXPO, now) for i in ids if i != DOGE], 0.0, "missing from the answer"),
    ("non-numeric price", lambda ids, now: [entry(i, "n/a" if i == DOGE else 10**8, EXPO, now) for i in ids], 0.0,
     "its price cannot be read"),
    ("stale", lambda ids, now: [entry(i, 10**8, EXPO, now - 3600 if i == DOGE else now) for i in ids], 0.0,
     "its price is older than its max_age"),
    ("slow", lambda ids, now: [entry(i, 10**8, EXPO, now) for i in ids], 1.5, "no answer within the timeout"),
]


@pytest.mark.parametrize(("what", "answer", "delay", "says"), START_UP_HERMES, ids=[c[0] for c in START_UP_HERMES])
async def test_a_bad_hermes_answer_at_start_up_is_a_warning_naming_the_id(chain: Devnet, what: str, answer: Any,
                                                                          delay: float, says: str) -> None:
    from bot.market.prices.hermes import Hermes, HermesSettings

    assert chain.hermes is not None and chain.profile.pyth is not None
    old = serve(chain, answer)
    chain.hermes.delay = delay
    checker = Chain(chain.profile.rpc_urls, chain.profile.multicall3)
    client = Hermes(HermesSettings(chain.profile.pyth.hermes_url, 1.0))
    try:
        setup = await verify_profile(chain.profile, checker, hermes=client)  # not a refusal
    finally:
        chain.hermes.source, chain.hermes.delay = old, 0.0
        await checker.close()
        await client.close()
    doge = next(r for r in setup.pyth if r.symbol == "DOGE")
    assert doge.problem and doge.id == DOGE
    warning = next(w for w in setup.warnings if DOGE in w)
    assert f"Pyth id {DOGE} (DOGE) at Hermes: {says}" in warning and "falls through" in warning
    others = [r for r in setup.pyth if r.symbol != "DOGE"]
    assert all(r.problem == ("timeout" if what == "slow" else "") for r in others)


async def test_a_twap_reads_the_deepest_of_its_pools(chain: Devnet) -> None:
    """A thin SOSO/USDC pool at a lower fee tier (listed first) must not become SOSO's price."""
    from devnet.rpc import Sender, contract

    soso, usdc = chain.profile.soso, chain.profile.usdc
    assert soso is not None
    deep = chain.profile.extra["devnet"]["soso_pool"]
    async with connect(chain.url) as w3:
        tx = Sender(w3, chain_id=chain.profile.chain_id)
        factory = contract(w3, "UniswapV3Factory", chain.profile.uniswap_factory)
        await tx.transact(factory.functions.createPool(soso.address, usdc.address, 500))
        thin = await factory.functions.getPool(soso.address, usdc.address, 500).call()
        await tx.transact(contract(w3, "UniswapV3Pool", thin).functions.initialize(2**96))  # a wild price, no liquidity
    checker = Chain(chain.profile.rpc_urls, chain.profile.multicall3)
    try:
        setup = await verify_profile(chain.profile, checker)
    finally:
        await checker.close()
    assert setup.prices.twap_pools[soso.address].address == deep != thin


async def test_each_feed_is_held_to_its_own_heartbeat(chain: Devnet, tmp_path: Path) -> None:
    """BTC's feed with Base's 1200 s heartbeat goes stale after 20 minutes (plus the slack) and BTC falls through
    to Pyth; ETH's feed, with a day's heartbeat, still prices ETH."""
    from bot.config import Config, WebSettings
    from bot.market.prices.chainlink import HEARTBEAT_SLACK

    path = _edited(chain, tmp_path, _set("BTC", "heartbeat", 1200))
    (tmp_path / "stocks.toml").write_text(chain.stocks_profile_path.read_text())  # its companion, beside it
    app = await App.start(Config(home=tmp_path, chain=str(path), web=WebSettings(port=0)))
    try:
        ref = app.profile.index("MAG7.ssi")
        q = await app.services.market.quote(ref, "buy", Decimal(100))
        assert {r.symbol: r.source for r in q.sources}["BTC"] == "chainlink"
        await operator.advance(chain.url, 1200 + HEARTBEAT_SLACK + 1)
        await app.head.poll_once()
        q = await app.services.market.quote(ref, "buy", Decimal(100))
        snap = await app.services.market.snapshot()
    finally:
        await app.stop()
    sources = {r.symbol: r.source for r in q.sources}
    assert sources["BTC"] == "pyth" and sources["ETH"] == "chainlink" and not q.partial
    assert snap.priced is not None and snap.priced.readings["BTC"][0].problem == "stale"


async def test_devnet_price_soso_trades_its_pool_and_the_twap_follows(app: App, chain: Devnet) -> None:
    """`indexbot devnet price SOSO 0.9`: SOSO has no feed, so its pool is traded to $0.90; its TWAP moves
    over the window and reaches it once a whole window has passed."""
    market = app.services.market
    before = (await market.snapshot()).prices["SOSO"]
    await operator.set_price(chain.profile, "SOSO", Decimal("0.9"))
    await operator.advance(chain.url, 900)  # half a window
    await app.head.poll_once()
    half = (await market.snapshot()).prices["SOSO"]
    await operator.advance(chain.url, 1800)
    await app.head.poll_once()
    after = (await market.snapshot()).prices["SOSO"]
    assert before < half < after and abs(after / Decimal("0.9") - 1) < Decimal("0.0002")


async def test_a_past_block_asks_hermes_for_the_prices_of_its_time(app: App, chain: Devnet) -> None:
    """A points snapshot or a rebalance alert reads a past block: its Pyth prices are Hermes' at that block's
    time (`/v2/updates/price/{time}`), not today's, so a Pyth-only constituent is still priced."""
    market = app.services.market
    assert chain.hermes is not None and market.hermes is not None
    past = await app.chain.block_number()
    await operator.advance(chain.url, 600)
    before = market.hermes.requests
    snap, _ = await market.snapshot_at(past)
    doge = snap.source("DOGE")
    assert doge is not None and doge.source == "pyth" and doge.published_at == snap.timestamp
    assert market.hermes.requests - before == 1 and chain.hermes.paths[-1] == f"/v2/updates/price/{snap.timestamp}"
    assert not any(s.partial for s in snap.indexes.values())


def test_a_pyth_price_published_long_after_a_past_block_is_not_its_price() -> None:
    from bot.market.prices.model import HermesAnswer, PriceSetup, ReadContext
    from bot.market.prices.pyth import Pyth

    late = HermesAnswer({DOGE: HermesPrice(Decimal("0.2"), Decimal(0), 10_000)})
    source = Pyth("DOGE", DOGE, max_age=60)
    assert source.read([], ReadContext(10_000 - 30, PriceSetup(), late)).fresh
    assert source.read([], ReadContext(10_000 - 600, PriceSetup(), late)).problem == "stale"


def test_weights_leave_an_unpriced_constituent_out() -> None:
    from bot.market.engine.basket import TokensetEntry, weights

    tokenset = [TokensetEntry("BTC", "BTC", "", 8, 100_000), TokensetEntry("ETH", "ETH", "", 18, 10**16),
                TokensetEntry("XRP", "XRP", "", 6, 10**6)]
    got = weights(tokenset, {"BTC": Decimal(100_000), "ETH": Decimal(4_000)})
    assert got == {"BTC": Decimal(100) / Decimal(140), "ETH": Decimal(40) / Decimal(140)} and sum(got.values()) == 1


SEQUENCER_ROUNDS = [  # (the feed's round, or None when the call failed; the block time; the state)
    ((5, 0, 1_000, 1_000, 5), 1_000 + 3_600, "up"),
    ((5, 0, 1_000, 1_000, 5), 1_000 + 3_599, "grace"),
    ((5, 1, 1_000, 1_000, 5), 9_999_999, "down"),
    ((5, 0, 0, 1_000, 5), 9_999_999, "unknown"),  # startedAt 0: a round not yet initialised
    (None, 9_999_999, "unknown"),
]


@pytest.mark.parametrize(("values", "now", "state"), SEQUENCER_ROUNDS, ids=[f"{s}-{i}" for i, (_, _, s) in enumerate(SEQUENCER_ROUNDS)])
def test_the_sequencer_feed_reads_up_down_grace_or_unknown(values: Any, now: int, state: str) -> None:
    from bot.chain.client import Result
    from bot.core.errors import UserError
    from bot.market.quotes import refuse_unless_sequencer_up
    from bot.market.prices import SequencerFeed

    status = SequencerFeed("0xBCF85224fc0756B9Fa45aA7892530B47e10b6433", 3600).read(
        Result(values is not None, tuple(values or ())), now)
    assert status.state == state and status.trading == (state == "up")
    if state == "up":
        refuse_unless_sequencer_up(status)
    else:
        with pytest.raises(UserError) as caught:
            refuse_unless_sequencer_up(status)
        assert caught.value.key == SEQUENCER_REFUSALS[state]
