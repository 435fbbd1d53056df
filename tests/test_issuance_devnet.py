"""The stock index on the devnet: an IndexFactory issuing MAG7.nex, filled by the fulfilment process only while
the market is open (chain time), on the session's real anvil (each test reverted)."""

from __future__ import annotations

import asyncio
import tomllib
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError

from bot.market.engine.reindex import SHARE_TOTAL, ReindexSchedule, market_cap_shares
from bot.issuance.hours import ALWAYS_OPEN, MarketHours
from bot.chain.profile import IndexRef, Profile, ProfileError, load_profile, parse_profile
from devnet import operator as op
from devnet.fulfil import ISSUANCE, REDEMPTION, REINDEX, Fill, Fulfiller, parse_hours
from devnet.harness import Devnet
from devnet.market import load_stock_market
from devnet.rpc import DEV_KEYS, Sender, connect, contract
from auxil.issuance import well_inside_a_session

D = Decimal
USER, OTHER = DEV_KEYS[1], DEV_KEYS[2]
PENDING, COMPLETED, CANCELLED = 1, 2, 3
USDC = 10**6
FEE_RATE = 10


def mag7(net: Devnet) -> tuple[Profile, IndexRef]:
    profile = net.stocks_profile
    return profile, profile.index("MAG7.nex")


class Factory:
    """The factory and the tokens around it, for one connection."""

    def __init__(self, w3: AsyncWeb3, profile: Profile, ref: IndexRef):
        assert ref.factory is not None
        self.w3, self.profile = w3, profile
        self.fn = contract(w3, "IndexFactory", ref.factory).functions
        self.address = ref.factory
        self.index = contract(w3, "MintableToken", ref.token.address)
        self.usdc = contract(w3, "TestToken", profile.usdc.address)
        self.tokens: dict[str, str] = profile.extra["devnet"]["stock_tokens"]
        self.feeds: dict[str, str] = profile.extra["devnet"]["stock_feeds"]

    async def send(self, key: str, fn: Any) -> Any:
        return await Sender(self.w3, key).transact(fn)

    async def request_issuance(self, key: str, usdc: int) -> int:
        await self.send(key, self.usdc.functions.approve(self.address, usdc))
        await self.send(key, self.fn.issuanceIndexTokens(usdc))
        return int(await self.fn.issuanceNonce().call())

    async def answers(self) -> dict[str, int]:
        return {s: (await contract(self.w3, "PriceFeed", f).functions.latestRoundData().call())[1]
                for s, f in self.feeds.items()}

    async def holdings(self) -> dict[str, int]:
        return {s: await contract(self.w3, "MintableToken", t).functions.balanceOf(self.address).call()
                for s, t in self.tokens.items()}

    async def shares(self) -> dict[str, int]:
        symbols = {t: s for s, t in self.tokens.items()}
        listed = [await self.fn.currentList(i).call() for i in range(await self.fn.totalCurrentList().call())]
        return {symbols[t]: await self.fn.tokenCurrentMarketShare(t).call() for t in listed}

    async def nav(self) -> int:
        """NAV per index token by hand (USD, 18 decimals): holdings at feed prices (8 decimals) over the supply."""
        answers, held = await self.answers(), await self.holdings()
        total = sum(held[s] * answers[s] * 10**18 // 10**8 // 10**18 for s in held)
        return total * 10**18 // await self.index.functions.totalSupply().call()


async def test_stocks_profile_is_a_companion_on_the_same_chain(devnet: Devnet) -> None:
    home = load_profile(devnet.profile_path)
    stocks, ref = mag7(devnet)
    assert home.companions == ("stocks.toml",) and home.label == "Base"
    assert devnet.stocks_profile_path == devnet.profile_path.parent / "stocks.toml"
    assert (stocks.name, stocks.label, stocks.chain_id, stocks.rpc_urls) == (
        "devnet-stocks", "Ethereum", home.chain_id, home.rpc_urls)
    assert (stocks.usdc, stocks.weth, stocks.multicall3) == (home.usdc, home.weth, home.multicall3)
    assert stocks.feeds == {"ETH": home.feeds["ETH"]}
    assert (ref.venue, ref.methodology, ref.token.decimals, ref.name) == (
        "issuance", "market-cap", 18, "Nex Magnificent 7 Stock Index")
    assert ref.market_hours == MarketHours.from_config(load_stock_market().market_hours)
    assert ref.reindex == ReindexSchedule(1, time(9, 30))
    assert DEV_KEYS[0].removeprefix("0x") not in devnet.stocks_profile_path.read_text()


@pytest.mark.parametrize(("change", "message"), [
    ({"market_hours": None}, "indexes[0]: an issuance index needs `factory` and `market_hours`"),
    ({"factory": None}, "indexes[0]: an issuance index needs `factory` and `market_hours`"),
    ({"market_hours": {"zone": "Mars/Olympus", "open": "09:30", "close": "16:00", "days": ["mon"]}},
     "indexes[0]: market_hours.zone: 'Mars/Olympus' is not an IANA time zone"),
    ({"market_hours": {"zone": "UTC", "open": "16:00", "close": "09:30", "days": ["mon"]}},
     "indexes[0]: market_hours.close: '09:30' is not after open '16:00'"),
    ({"market_hours": "always"}, "indexes[0]: market_hours must be a table, not 'always'"),
    ({"reindex": {"day": 31}}, "indexes[0]: reindex.day: 31 is not a day of the month between 1 and 28"),
    ({"reindex": {"day": 1, "at": "9h30"}}, "indexes[0]: reindex.at: '9h30' is not a time like '09:30'"),
    ({"venue": "otc"}, "indexes[0]: venue 'otc' is not one of pool, issuance"),
])
async def test_a_malformed_stock_index_stops_the_profile(devnet: Devnet, change: dict[str, Any], message: str) -> None:
    """A wrong market-hours window or reindex schedule is refused when the profile is read, naming the entry."""
    data = tomllib.loads(devnet.stocks_profile_path.read_text())
    for key, value in change.items():
        if value is None:
            del data["indexes"][0][key]
        else:
            data["indexes"][0][key] = value
    with pytest.raises(ProfileError) as caught:
        parse_profile(data)
    assert str(caught.value) == message


async def test_factory_holds_the_top_seven_by_market_cap_and_a_seed(devnet: Devnet) -> None:
    stocks, ref = mag7(devnet)
    market = load_stock_market()
    async with connect(devnet.url) as w3:
        f = Factory(w3, stocks, ref)
        shares = await f.shares()
        assert shares == market_cap_shares(market.caps(), 7) and "AVGO" not in shares
        assert sum(shares.values()) == SHARE_TOTAL
        assert (await f.fn.usdc().call(), await f.fn.indexToken().call()) == (stocks.usdc.address, ref.token.address)
        assert await f.fn.feeRate().call() == FEE_RATE and await f.fn.initialPrice().call() == 100 * 10**18
        for symbol, token in f.tokens.items():
            assert await f.fn.priceFeedByTokenAddress(token).call() == f.feeds[symbol]
        assert await f.fn.operator().call() == stocks.extra["devnet"]["fulfiller"]
        seed = await f.fn.issuanceRequest(1).call()
        assert seed[2] == COMPLETED and seed[3] == await f.index.functions.totalSupply().call() > 0
        assert abs(await f.nav() - 100 * 10**18) < 10**12  # the seed bought at $100 at the deploy's prices
        assert await f.usdc.functions.balanceOf(f.address).call() >= 10_000_000 * USDC
        assert (await f.fn.totalOracleList().call(), await f.fn.reindexTime().call()) == (0, 0)


async def test_issuance_mints_what_the_feed_prices_shares_and_fee_say(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    user = Account.from_key(USER).address
    async with connect(chain.url) as w3:
        f = Factory(w3, stocks, ref)
        await op.set_price(stocks, "NVDA", D("131.5"))  # NAV moves off $100
        usdc_before = await f.usdc.functions.balanceOf(user).call()
        nonce = await f.request_issuance(USER, 1_000 * USDC)
        assert nonce == 2  # the seed was 1
        assert await f.fn.issuanceRequest(nonce).call() == [user, 1_000 * USDC, PENDING, 0]
        assert await f.usdc.functions.balanceOf(user).call() == usdc_before - 1_000 * USDC
        assert await f.index.functions.balanceOf(user).call() == 0

        price, answers, held, shares = await f.nav(), await f.answers(), await f.holdings(), await f.shares()
        assert price > 100 * 10**18
        assert await (await chain.fulfiller(ALWAYS_OPEN)).step() == [Fill("MAG7.nex", ISSUANCE, nonce)]

        net_usd = (1_000 * USDC - 1_000 * USDC * FEE_RATE // 10_000) * 10**18 // USDC  # 999 USD, 18 decimals
        out = net_usd * 10**18 // price
        assert await f.index.functions.balanceOf(user).call() == out
        assert 9 * 10**18 < out < D("9.99") * 10**18
        assert await f.fn.issuanceRequest(nonce).call() == [user, 1_000 * USDC, COMPLETED, out]
        after = await f.holdings()
        for symbol, share in shares.items():
            bought = net_usd * share // SHARE_TOTAL * 10**8 * 10**18 // answers[symbol] // 10**18
            assert after[symbol] - held[symbol] == bought > 0
        assert after["AVGO"] == held["AVGO"] == 0
        event = (await contract(w3, "IndexFactory", f.address).events.Issuanced().get_logs(from_block="latest"))[0]
        args = event.args
        assert (args.nonce, args.user, args.inputAmount, args.outputAmount, args.price) == (
            nonce, user, 1_000 * USDC, out, price)


async def test_a_request_waits_while_closed_and_fills_once_chain_time_passes_the_open(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    hours = ref.market_hours
    fulfiller = await chain.fulfiller()  # the profile's window: New York, mon-fri 09:30-16:00
    async with connect(chain.url) as w3:
        now = await op.chain_now(w3)
        await op.advance(chain.url, hours.next_close(now) - now + 1)  # just after a close: hours before an open
        f = Factory(w3, stocks, ref)
        nonce = await f.request_issuance(USER, 500 * USDC)
        now = await op.chain_now(w3)
        assert not hours.is_open(now)
        assert await fulfiller.step() == []
        assert await op.advance(chain.url, hours.next_open(now) - now - 30) < hours.next_open(now)
        assert await fulfiller.step() == []
        assert (await f.fn.issuanceRequest(nonce).call())[2] == PENDING

        opens = hours.next_open(now)
        await op.advance(chain.url, 60)  # the same code as `indexbot devnet advance 60s`
        assert await fulfiller.step() == [Fill("MAG7.nex", ISSUANCE, nonce)]
        assert (await f.fn.issuanceRequest(nonce).call())[2] == COMPLETED
        event = (await contract(w3, "IndexFactory", f.address).events.Issuanced().get_logs(from_block="latest"))[0]
        assert opens <= event.args.time < hours.next_close(opens)
        assert await fulfiller.step() == []  # nothing left


async def test_cancel_refunds_only_the_requester_and_the_fill_then_reverts(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    user = Account.from_key(USER).address
    async with connect(chain.url) as w3:
        f = Factory(w3, stocks, ref)
        before = await f.usdc.functions.balanceOf(user).call()
        nonce = await f.request_issuance(USER, 250 * USDC)
        with pytest.raises(ContractLogicError, match="not requester"):
            await f.send(OTHER, f.fn.cancelIssuance(nonce))
        with pytest.raises(ContractLogicError, match="not operator"):
            await f.send(USER, f.fn.completeIssuance(nonce))
        await f.send(USER, f.fn.cancelIssuance(nonce))
        assert await f.usdc.functions.balanceOf(user).call() == before
        assert await f.fn.issuanceRequest(nonce).call() == [user, 250 * USDC, CANCELLED, 0]
        with pytest.raises(ContractLogicError, match="not pending"):
            await f.send(DEV_KEYS[0], f.fn.completeIssuance(nonce))
        with pytest.raises(ContractLogicError, match="not pending"):
            await f.send(USER, f.fn.cancelIssuance(nonce))
        with pytest.raises(ContractLogicError, match="amount is zero"):
            await f.send(USER, f.fn.issuanceIndexTokens(0))
        assert await (await chain.fulfiller(ALWAYS_OPEN)).step() == []


async def test_redemption_pays_value_less_fee_and_cancel_returns_the_tokens(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    user = Account.from_key(USER).address
    fulfiller = await chain.fulfiller(ALWAYS_OPEN)
    async with connect(chain.url) as w3:
        f = Factory(w3, stocks, ref)
        await f.request_issuance(USER, 2_000 * USDC)
        await fulfiller.step()
        held = await f.index.functions.balanceOf(user).call()
        await op.set_price(stocks, "MSFT", D("430"))

        await f.send(USER, f.index.functions.approve(f.address, held))
        await f.send(USER, f.fn.redemption(held // 4))
        first = await f.fn.redemptionNonce().call()
        assert await f.index.functions.balanceOf(user).call() == held - held // 4  # in escrow
        with pytest.raises(ContractLogicError, match="not requester"):
            await f.send(OTHER, f.fn.cancelRedemption(first))
        await f.send(USER, f.fn.cancelRedemption(first))
        assert await f.index.functions.balanceOf(user).call() == held
        assert (await f.fn.redemptionRequest(first).call())[2] == CANCELLED

        await f.send(USER, f.fn.redemption(held // 2))
        nonce = await f.fn.redemptionNonce().call()
        price, supply, usdc_before = await f.nav(), await f.index.functions.totalSupply().call(), \
            await f.usdc.functions.balanceOf(user).call()
        assert await fulfiller.step() == [Fill("MAG7.nex", REDEMPTION, nonce)]
        value = held // 2 * price // 10**18 * USDC // 10**18
        paid = value - value * FEE_RATE // 10_000
        assert await f.usdc.functions.balanceOf(user).call() - usdc_before == paid > 0
        assert await f.fn.redemptionRequest(nonce).call() == [user, held // 2, COMPLETED, paid]
        assert await f.index.functions.totalSupply().call() == supply - held // 2
        assert abs(await f.nav() - price) < 10**9  # burning a pro-rata slice keeps NAV


async def test_a_reindex_applies_only_when_due_and_keeps_nav(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    fulfiller = await chain.fulfiller(ALWAYS_OPEN)
    async with connect(chain.url) as w3:
        f = Factory(w3, stocks, ref)
        await op.set_price(stocks, "AVGO", D("200"))  # 200 x 4.4e9 > TSLA's 240 x 3.2e9
        result = await op.schedule_reindex(stocks, "MAG7.nex", "next")
        assert (result.plan.added, result.plan.removed) == (("AVGO",), ("TSLA",))
        now = await op.chain_now(w3)
        assert result.plan.at > now and await f.fn.reindexTime().call() == result.plan.at
        assert await f.fn.totalOracleList().call() == 7
        assert await fulfiller.step() == []  # open, but not due
        with pytest.raises(ContractLogicError, match="no reindex due"):
            await f.send(DEV_KEYS[0], f.fn.applyReindex())
        nav = await f.nav()

        await op.advance(chain.url, result.plan.at - now)
        assert await fulfiller.step() == [Fill("MAG7.nex", REINDEX)]
        assert await f.shares() == result.plan.next
        held = await f.holdings()
        assert held["TSLA"] == 0 and held["AVGO"] > 0
        assert abs(await f.nav() - nav) <= nav // 10**12  # NAV unchanged up to rounding
        assert (await f.fn.totalOracleList().call(), await f.fn.reindexTime().call()) == (0, 0)
        assert await fulfiller.step() == []


async def test_the_fulfiller_runs_on_through_a_revert_of_the_chain_under_it(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    fulfiller = await chain.fulfiller(ALWAYS_OPEN)
    task = asyncio.create_task(fulfiller.run(interval=0.02))

    async def filled(f: Factory, nonce: int) -> None:
        async with asyncio.timeout(5):
            while (await f.fn.issuanceRequest(nonce).call())[2] != COMPLETED:
                await asyncio.sleep(0.02)

    try:
        async with connect(chain.url) as w3:
            f = Factory(w3, stocks, ref)
            snap = await chain.snapshot()
            nonce = await f.request_issuance(USER, 100 * USDC)
            await filled(f, nonce)
            assert await chain.revert(snap)  # the fill, its block and the fulfiller's nonce are gone
            assert (await f.fn.issuanceRequest(nonce).call())[2] == 0
            assert await f.request_issuance(OTHER, 300 * USDC) == nonce  # the same nonce, a new request
            await filled(f, nonce)
            assert (await f.fn.issuanceRequest(nonce).call())[1] == 300 * USDC
            assert not task.done()
    finally:
        fulfiller.stop()  # a cancellation alone was once lost inside a step, and this test never returned
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done


async def test_a_step_after_a_revert_fills_a_new_request_under_an_old_nonce(chain: Devnet) -> None:
    stocks, ref = mag7(chain)
    fulfiller = await chain.fulfiller(ALWAYS_OPEN)
    async with connect(chain.url) as w3:
        f = Factory(w3, stocks, ref)
        snap = await chain.snapshot()
        nonce = await f.request_issuance(USER, 100 * USDC)
        assert await fulfiller.step() == [Fill("MAG7.nex", ISSUANCE, nonce)]  # nonces up to `nonce` settled
        assert await chain.revert(snap)
        assert await f.request_issuance(OTHER, 300 * USDC) == nonce  # pending again, unseen by the fulfiller
        assert await fulfiller.step() == [Fill("MAG7.nex", ISSUANCE, nonce)]
        assert await f.fn.issuanceRequest(nonce).call() == [
            Account.from_key(OTHER).address, 300 * USDC, COMPLETED, (await f.fn.issuanceRequest(nonce).call())[3]]


async def test_a_revert_while_a_step_reads_does_not_leave_a_new_request_marked_settled(chain: Devnet) -> None:
    """The race the running fulfiller met once in CI, made to happen every time: the chain is reverted and a
    request re-made under the same nonce between a step's reads and its end."""
    stocks, ref = mag7(chain)

    class RevertedMidStep(Fulfiller):
        async def _fill(self, w3: AsyncWeb3, tx: Sender, ref: IndexRef, now: int,
                        settled: dict[tuple[str, str], int]) -> list[Fill]:
            done = await super()._fill(w3, tx, ref, now, settled)
            if ref.symbol == "MAG7.nex":
                assert await chain.revert(snap)
                assert await f.request_issuance(OTHER, 300 * USDC) == nonce
            return done

    async with connect(chain.url) as w3:
        f = Factory(w3, stocks, ref)
        fulfiller = RevertedMidStep(stocks, ALWAYS_OPEN)
        plain = await chain.fulfiller(ALWAYS_OPEN)
        snap = await chain.snapshot()
        nonce = await f.request_issuance(USER, 100 * USDC)
        assert await plain.step() == [Fill("MAG7.nex", ISSUANCE, nonce)]
        fulfiller._settled = plain._settled  # it has filled `nonce`, as the running fulfiller had
        assert await fulfiller.step() == []  # nothing pending when it read; the revert and the new request follow
        fulfiller.__class__ = Fulfiller
        assert await fulfiller.step() == [Fill("MAG7.nex", ISSUANCE, nonce)]
        assert (await f.fn.issuanceRequest(nonce).call())[1:3] == [300 * USDC, COMPLETED]


@pytest.mark.parametrize(("text", "days", "opens", "closes"), [
    ("mon-fri 09:30-16:00 America/New_York", {0, 1, 2, 3, 4}, "09:30", "16:00"),
    ("daily 00:00-24:00 UTC", set(range(7)), "00:00", "24:00"),
    ("mon,wed,fri 10:00-11:30 Europe/London", {0, 2, 4}, "10:00", "11:30"),
    ("fri-mon 08:00-20:00 Asia/Tokyo", {4, 5, 6, 0}, "08:00", "20:00"),
])
def test_parse_hours(text: str, days: set[int], opens: str, closes: str) -> None:
    hours = parse_hours(text)
    assert (set(hours.days), hours.to_config()["open"], hours.to_config()["close"]) == (days, opens, closes)


@pytest.mark.parametrize("text", ["", "mon-fri", "mon-fri 09:30 UTC", "mon-xyz 09:30-16:00 UTC",
                                  "mon-fri 16:00-09:30 UTC", "mon-fri 09:30-16:00 Mars/Olympus"])
def test_parse_hours_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(text)


def test_always_is_always_open() -> None:
    assert parse_hours("always") == ALWAYS_OPEN


async def test_run_stops_when_cancelled_even_if_a_step_turns_the_cancellation_into_an_error() -> None:
    class Stubborn(Fulfiller):
        def __init__(self) -> None:
            self.steps = 0

        async def step(self) -> list[Fill]:
            self.steps += 1
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                raise RuntimeError("a library's cleanup error") from None
            return []

    fulfiller = Stubborn()
    task = asyncio.create_task(fulfiller.run(interval=0.001))
    await asyncio.sleep(0.05)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled() and fulfiller.steps > 1


async def test_stop_ends_run_even_when_a_step_swallows_the_cancellation() -> None:
    """A library that catches the CancelledError inside a step and un-cancels its task (a timeout firing at the same
    instant can) loses the cancellation: `stop` still ends the loop."""

    class Swallowing(Fulfiller):
        def __init__(self) -> None:
            self.steps = 0
            self.lost = 0

        async def step(self) -> list[Fill]:
            self.steps += 1
            task = asyncio.current_task()
            assert task is not None
            if self.steps == 3:
                task.cancel()  # the cancellation arrives while this step awaits
            try:
                await asyncio.sleep(0.001)
            except asyncio.CancelledError:
                task.uncancel()  # ... and the step swallows it
                self.lost += 1
            return []

    fulfiller = Swallowing()
    task = asyncio.create_task(fulfiller.run(interval=0.001))
    while fulfiller.steps < 6:
        await asyncio.sleep(0.005)
    assert fulfiller.lost == 1 and not task.done()  # the loop went on: what the running test once met
    fulfiller.stop()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and not task.cancelled()


async def test_the_embedded_devnet_fills_in_the_background_until_stopped(devnet: Devnet, tmp_path: Path) -> None:
    # Once, in three processes on a loaded machine, this test never returned (its loop idle, its fulfiller quiet):
    # bounded, so that it fails with the await it was stuck at instead of holding the run.
    async with asyncio.timeout(60):
        net = await Devnet.start(tmp_path, fulfil=True)  # `indexbot chat` with no chain: the profile's hours
        try:
            stocks, ref = mag7(net)
            hours = ref.market_hours
            async with connect(net.url) as w3:
                now = await op.chain_now(w3)
                await op.advance(net.url, well_inside_a_session(hours, now) - now + 60)
                f = Factory(w3, stocks, ref)
                nonce = await f.request_issuance(USER, 100 * USDC)
                async with asyncio.timeout(5):
                    while (await f.fn.issuanceRequest(nonce).call())[2] != COMPLETED:
                        await asyncio.sleep(0.05)
            task = net._fulfilling
            assert task is not None and not task.done()
        finally:
            await net.stop()
    assert task.done()
