"""The market service against the real devnet: values cross-checked through independent code paths."""

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import AsyncWeb3

from bot.app import App
from bot.chain.client import Chain, ChainUnavailable
from bot.core.errors import UserError
from bot.chain.profile import load_profile
from bot.chain.verify import ProfileMismatch, verify_profile
from devnet import operator
from devnet.anvil import node_call
from devnet.harness import Devnet
from devnet.rpc import connect

ROOT = Path(__file__).resolve().parents[1]
QUOTER_ABI = json.loads((ROOT / "node_modules/@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json").read_text())["abi"]


async def direct_quote(devnet: Devnet, token_in: str, token_out: str, amount: int, fee: int) -> int:
    """QuoterV2 called through web3's own contract machinery, not the bot's encoder."""
    w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(devnet.url))
    quoter = w3.eth.contract(address=devnet.profile.quoter_v2, abi=QUOTER_ABI)
    try:
        out = await quoter.functions.quoteExactInputSingle((token_in, token_out, amount, fee, 0)).call()
    finally:
        await w3.provider.disconnect()
    return int(out[0])


async def test_buy_quote_matches_quoter_and_nav(app: App, devnet: Devnet) -> None:
    ref = app.services.find_index("mag7")
    assert ref is not None and ref.symbol == "MAG7.ssi"
    q = await app.services.market.quote(ref, "buy", Decimal(100))
    pool = app.services.market.setup.pools[ref.symbol][0]
    expected = await direct_quote(devnet, app.profile.usdc.address, ref.token.address, 100 * 10**6, pool.fee)
    assert q.amount_out == Decimal(expected).scaleb(-8)
    assert q.nav == await operator.index_nav(devnet.profile, "MAG7.ssi")
    assert q.block == await app.chain.block_number()
    assert q.pool_fee == pool.fee
    assert q.exec_price == Decimal(100) / q.amount_out
    assert Decimal(0) < q.price_impact < Decimal("0.01")
    assert q.premium > 0  # a buy pays the pool fee on top of a pool priced at NAV
    assert q.gas_units > 100_000 and q.gas_usd > 0


async def test_sell_quote_and_impact_grows_with_size(app: App, devnet: Devnet) -> None:
    ref = app.services.find_index("USSI")
    assert ref is not None
    small = await app.services.market.quote(ref, "sell", Decimal(10))
    big = await app.services.market.quote(ref, "sell", Decimal(500_000))
    pool = app.services.market.setup.pools[ref.symbol][0]
    expected = await direct_quote(devnet, ref.token.address, app.profile.usdc.address, 10 * 10**8, pool.fee)
    assert small.amount_out == Decimal(expected).scaleb(-6)
    assert big.price_impact > small.price_impact * 10
    assert big.exec_price < small.exec_price


async def test_one_round_trip_cold_none_warm(app: App, chain: Devnet) -> None:
    market, ref = app.services.market, app.profile.indexes[0]
    await app.head.poll_once()
    with app.chain.counting() as cold:  # the quote's own round trips, not the head tracker's polls beside it
        await market.quote(ref, "buy", Decimal(250))
    with app.chain.counting() as warm:
        for _ in range(5):
            await market.quote(ref, "buy", Decimal(250))
    assert (cold.count, warm.count) == (1, 0)
    await operator.advance(chain.url, 1)  # a new block: the cached quote must not be served for it
    await app.head.poll_once()
    with app.chain.counting() as trips:
        q = await market.quote(ref, "buy", Decimal(250))
    assert trips.count == 1 and q.block == app.head.head


async def feed_price(chain: Devnet, symbol: str) -> Decimal:
    async with connect(chain.url) as w3:
        return (await operator.feed_prices(w3, {symbol: chain.profile.feeds[symbol]}))[symbol]


async def test_price_move_shows_as_discount_then_rebalance_keeps_nav(app: App, chain: Devnet) -> None:
    market = app.services.market
    before = (await market.snapshot()).indexes["MAG7.ssi"]
    await operator.set_price(chain.profile, "BTC", await feed_price(chain, "BTC") * 2)
    assert (await market.snapshot()).indexes["MAG7.ssi"].nav == before.nav  # same known head: served from cache
    await app.head.poll_once()
    after = (await market.snapshot()).indexes["MAG7.ssi"]
    assert after.nav > before.nav
    assert after.premium is not None and after.premium < 0  # the pool did not follow: it trades at a discount
    await operator.rebalance(chain.profile, "MAG7")
    await app.head.poll_once()
    rebalanced = (await market.snapshot()).indexes["MAG7.ssi"]
    assert abs(rebalanced.nav - after.nav) / after.nav < Decimal("0.000001")
    assert rebalanced.tokenset != after.tokenset
    assert not rebalanced.rebalancing


async def test_stale_feeds_fall_through_to_pyth_then_leave_the_nav_partial(app: App, chain: Devnet) -> None:
    """Chainlink feeds past their heartbeat fall through to Pyth (the devnet's Hermes stand-in); with Hermes
    down as well, every constituent is unpriced and the quote says so."""
    ref = app.profile.index("MAG7.ssi")
    q = await app.services.market.quote(ref, "buy", Decimal(1))
    assert not q.prices_stale and {r.source for r in q.sources if r.symbol == "BTC"} == {"chainlink"}
    await operator.advance(chain.url, 3 * 24 * 3600)
    await app.head.poll_once()
    q = await app.services.market.quote(ref, "buy", Decimal(1))
    assert not q.prices_stale and {r.source for r in q.sources} == {"pyth"}
    assert all(r.age(q.timestamp) <= 60 for r in q.sources)
    assert chain.hermes is not None
    chain.hermes.status = 503
    try:
        await operator.advance(chain.url, 1)
        await app.head.poll_once()
        q = await app.services.market.quote(ref, "buy", Decimal(1))
    finally:
        chain.hermes.status = 200
    assert q.prices_stale and set(q.unpriced) == {e.symbol for e in (await app.services.market.snapshot()).indexes[ref.symbol].tokenset}
    btc = next(r for r in q.sources if r.symbol == "BTC")
    assert (btc.source, btc.problem) == ("pyth", "unreachable")  # the last source tried, and why


async def test_missing_price_makes_a_partial_nav(app: App, chain: Devnet) -> None:
    """A constituent no source prices leaves the NAV partial: the quote still works on the pool, says which
    constituent is unpriced and why, and values the index at the pool price alone."""
    ref = app.profile.index("MAG7.ssi")
    full = await operator.index_nav(chain.profile, "MAG7.ssi")
    btc_price = await feed_price(chain, "BTC")
    async with connect(chain.url) as w3:  # wipe the BTC feed's code: the feed call fails inside the batch
        await node_call(w3, "anvil_setCode", chain.profile.feeds["BTC"], "0x")
    q = await app.services.market.quote(ref, "buy", Decimal(100))
    assert q.unpriced == ("BTC",) and q.partial and q.prices_stale
    state = (await app.services.market.snapshot()).indexes[ref.symbol]
    btc = next(e for e in state.tokenset if e.symbol == "BTC")
    assert q.nav == state.nav == full - btc.units * btc_price
    assert state.premium is None and state.price == state.dex_price is not None
    snap = await app.services.market.snapshot()
    assert snap.priced is not None
    tried = [(r.source, r.problem, r.price) for r in snap.priced.readings["BTC"]]
    assert tried == [("chainlink", "missing", None), ("pyth", "missing", None)]  # each source, and why
    assert q.amount_out > 0  # trading stays possible on the pool


async def test_verification_names_each_problem(chain: Devnet, tmp_path: Path) -> None:
    text = chain.profile_path.read_text()
    usdc = chain.profile.usdc.address
    broken = text.replace('symbol = "USDC"', 'symbol = "USDT"', 1).replace("decimals = 8", "decimals = 18", 1)
    path = tmp_path / "broken.toml"
    path.write_text(broken)
    profile = load_profile(path)
    checker = Chain(profile.rpc_urls, profile.multicall3)
    with pytest.raises(ProfileMismatch) as caught:
        await verify_profile(profile, checker)
    problems = "\n".join(caught.value.problems)
    assert f"{usdc} symbol() is 'USDC', expected 'USDT'" in problems
    assert "decimals() is 8, expected 18" in problems
    no_code = replace(profile, quoter_v2="0x000000000000000000000000000000000000dEaD")
    with pytest.raises(ProfileMismatch, match="no contract code for quoter_v2"):
        await verify_profile(no_code, checker)
    wrong_chain = replace(load_profile(chain.profile_path), chain_id=8453)
    with pytest.raises(ProfileMismatch, match="chain id is 31337"):
        await verify_profile(wrong_chain, checker)
    await checker.close()


async def test_rpc_failover_and_outage(chain: Devnet) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    both = Chain((dead, chain.url), chain.profile.multicall3, timeout=2)
    assert await both.block_number() >= 0
    assert both.providers[0].round_trips == 1 and both.providers[1].round_trips == 1
    only_dead = Chain((dead,), chain.profile.multicall3, timeout=2)
    with pytest.raises(ChainUnavailable):
        await only_dead.block_number()
    await both.close()
    await only_dead.close()


async def test_a_head_the_node_does_not_know_yet_falls_back_to_latest(app: App) -> None:
    current = await app.chain.block_number()
    app.head.observe(current + 50)  # as if another node behind the load balancer were ahead
    q = await app.services.market.quote(app.profile.indexes[0], "buy", Decimal(100))
    assert q.block == current
