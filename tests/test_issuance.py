"""The issuance venue end to end on the devnet: MAG7.nex, issued by a factory that fills only while its market is
open, beside MAG7.ssi bought on Uniswap; one bot loads both chain profiles.

The market-hours window is set per test in a copy of the devnet's profiles (the bot and the fulfilment process
read the same window); time moves with `devnet.operator.advance`, the code `indexbot devnet advance` runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.dates import format_time

from bot.app import App
from bot.issuance.factory import FactoryReader
from conftest import JOURNEY_LIMITS
from bot.trading.intents import State
from devnet.harness import Devnet
from devnet.fulfil import Fulfiller
from devnet.operator import advance
from auxil.issuance import chain_now, hours_app, mag7_nex, next_utc_midnight, steps  # noqa: F401  (hours_app: a fixture)
from auxil.trading import click, funded_user, say, token_balance


async def sent_texts(app: App) -> list[str]:
    rows = await app.db.fetch_all("SELECT payload FROM outbox ORDER BY id")
    return [str(r[0]) for r in rows]


async def test_issue_during_market_hours_completes(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    user, address = await funded_user(app)
    token, _ = mag7_nex(app)
    quoted = await say(app, "/buy MAG7.nex 1000")
    text = quoted.rendered.text
    assert "Issue MAG7.nex on Ethereum" in text and "Factory fee (0.1%): $1.00" in text, text
    assert "NVDA" in text and "The market is open around the clock: requests fill within minutes." in text, text
    done = await click(app, quoted, "Confirm")
    assert "Issuance request #2 sent: 1,000 USDC for MAG7.nex" in done.rendered.text, done.rendered.text
    assert "expected to complete within minutes" in done.rendered.text
    assert await token_balance(app, token, address) == 0  # nothing minted before the fill

    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
    assert await app.services.issuance.orders.check() == 1  # type: ignore[union-attr]
    got = await token_balance(app, token, address)
    order = (await app.services.issuance.orders.rows.of_user(user))[0]  # type: ignore[union-attr]
    assert order.state == "filled" and order.amount_out == got
    nav = Decimal(order.price or 0).scaleb(-18)
    assert abs(Decimal(got).scaleb(-18) - Decimal(999) / nav) < Decimal("1e-9")  # (1000 - 0.1 % fee) / NAV
    assert any("orders.done.issue" in t for t in await sent_texts(app))
    assert await app.services.issuance.orders.check() == 0  # type: ignore[union-attr]  # told once


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
async def test_closed_market_pending_then_completes_after_advance(hours_app: tuple[App, Fulfiller], chain: Devnet) -> None:
    app, fulfiller = hours_app
    user, address = await funded_user(app)
    token, _ = mag7_nex(app)
    now = await chain_now(chain)
    opens = int((datetime.fromtimestamp(now, UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0).timestamp())
    quoted = await say(app, "/buy MAG7.nex 250")
    assert "The market is closed" in quoted.rendered.text
    done = await click(app, quoted, "Confirm")
    text = done.rendered.text
    assert "pending" in text and "expected to complete when it opens" in text, text
    when = datetime.fromtimestamp(opens, UTC)
    assert format_time(when, "short", tzinfo=UTC, locale="en") in text and str(when.day) in text, text

    assert await steps(fulfiller) == []  # closed: nothing fills
    assert await app.services.issuance.orders.check() == 0  # type: ignore[union-attr]
    listed = await say(app, "/orders")
    assert "⏳ #2 USDC → MAG7.nex\n  paid 250\n  requested " in listed.rendered.text and "\n  expected " in listed.rendered.text
    assert any(b.label == "Cancel #2 (MAG7.nex)" for row in listed.rendered.buttons for b in row)

    await advance(chain.url, opens - now + 60)  # past the open
    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
    assert await app.services.issuance.orders.check() == 1  # type: ignore[union-attr]
    assert await token_balance(app, token, address) > 0
    assert any("orders.done.issue" in t for t in await sent_texts(app))


async def test_several_fills_settle_in_one_pass_each_with_its_own_amount(hours_app: tuple[App, Fulfiller]) -> None:
    """Two users' issuances and a third's redemption fill in one fulfilment step; one orders pass settles all
    three (one log query per factory and side), each with the amount its own wallet received."""
    app, fulfiller = hours_app
    token, _ = mag7_nex(app)
    usdc = app.profile.usdc.address
    holders = {name: (await funded_user(app, name))[1] for name in ("a1", "a2", "a3")}
    await click(app, await say(app, "/buy MAG7.nex 300", "a3"), "Confirm", "a3")
    await steps(fulfiller)
    await app.services.issuance.orders.check()  # type: ignore[union-attr]
    before = {name: (await token_balance(app, token, a), await token_balance(app, usdc, a)) for name, a in holders.items()}
    for name, amount in (("a1", 100), ("a2", 250)):
        await click(app, await say(app, f"/buy MAG7.nex {amount}", name), "Confirm", name, message_ref=f"{name}-msg")
    await click(app, await say(app, "/sell MAG7.nex 1", "a3"), "Confirm", "a3", message_ref="a3-msg")
    assert sorted(await steps(fulfiller)) == ["MAG7.nex issuance 3", "MAG7.nex issuance 4", "MAG7.nex redemption 1"]
    assert await app.services.issuance.orders.check() == 3  # type: ignore[union-attr]
    got = {name: (await token_balance(app, token, a) - before[name][0], await token_balance(app, usdc, a) - before[name][1])
           for name, a in holders.items()}
    assert got["a1"][0] > 0 and got["a2"][0] > got["a1"][0] * 2  # 250 buys 2.5 times what 100 does
    assert got["a3"][0] == -10**18 and got["a3"][1] > 0
    rows = await app.db.fetch_all("SELECT user_id, amount_out FROM issuance_orders WHERE state = 'filled' ORDER BY id")
    users = {(await app.services.users.seen("console", n)).id: n for n in holders}
    settled = {users[int(r[0])]: int(r[1]) for r in rows[1:]}
    assert settled == {"a1": got["a1"][0], "a2": got["a2"][0], "a3": got["a3"][1]}


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
async def test_cancel_pending_request_refunds(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    user, address = await funded_user(app)
    usdc = app.profile.usdc.address
    before = await token_balance(app, usdc, address)
    await click(app, await say(app, "/buy MAG7.nex 300"), "Confirm")
    assert await token_balance(app, usdc, address) == before - 300 * 10**6
    listed = await say(app, "/orders")
    cancelled = await click(app, listed, "Cancel #2 (MAG7.nex)")
    assert "Issuance request #2 cancelled: 300 USDC returned" in cancelled.rendered.text, cancelled.rendered.text
    assert await token_balance(app, usdc, address) == before
    again = await click(app, listed, "Cancel #2 (MAG7.nex)")
    assert "already cancelled" in again.rendered.text, again.rendered.text
    order = (await app.services.issuance.orders.rows.of_user(user))[0]  # type: ignore[union-attr]
    assert order.state == "cancelled"
    assert await steps(fulfiller) == []


async def test_redeem_pays_usdc(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    user, address = await funded_user(app)
    token, _ = mag7_nex(app)
    await click(app, await say(app, "/buy MAG7.nex 500"), "Confirm")
    await steps(fulfiller)
    await app.services.issuance.orders.check()  # type: ignore[union-attr]
    held = await token_balance(app, token, address)
    usdc = app.profile.usdc.address
    before = await token_balance(app, usdc, address)
    quoted = await say(app, "/sell MAG7.nex all")
    assert "Redeem MAG7.nex on Ethereum" in quoted.rendered.text, quoted.rendered.text
    done = await click(app, quoted, "Confirm")
    assert "Redemption request #1 sent" in done.rendered.text, done.rendered.text
    assert await token_balance(app, token, address) == 0  # in the factory's escrow
    assert await steps(fulfiller) == ["MAG7.nex redemption 1"]
    assert await app.services.issuance.orders.check() == 1  # type: ignore[union-attr]
    paid = await token_balance(app, usdc, address) - before
    assert 497 * 10**6 < paid < 500 * 10**6, paid  # two 0.1 % fees and rounding
    assert held > 0


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
async def test_restart_while_pending_still_tells_completion(hours_app: tuple[App, Fulfiller], chain: Devnet,
                                                            tmp_path: Path) -> None:
    app, fulfiller = hours_app
    user, _ = await funded_user(app)
    await click(app, await say(app, "/buy MAG7.nex 100"), "Confirm")
    config = app.config
    await app.stop()
    now = await chain_now(chain)
    await advance(chain.url, 86_400 - now % 86_400 + 60)
    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]  # filled while the bot was down
    again = await App.start(config)
    try:
        await again.reconcile()
        assert await again.services.issuance.orders.check() == 1  # type: ignore[union-attr]
        assert any("orders.done.issue" in t for t in await sent_texts(again))
        order = (await again.services.issuance.orders.rows.of_user(user))[0]  # type: ignore[union-attr]
        assert order.state == "filled"
    finally:
        await again.stop()
        app.stop = again.stop  # type: ignore[method-assign]  # the fixture's stop is done


async def test_symbol_on_two_chains_takes_the_home_chains_and_offers_the_other(hours_app: tuple[App, Fulfiller]) -> None:
    app, _ = hours_app
    await funded_user(app)
    asked = await say(app, "/buy mag7 100")
    assert "Buy quote: MAG7.ssi" in asked.rendered.text, asked.rendered.text
    labels = [b.label for row in asked.rendered.buttons for b in row]
    assert labels == ["Confirm", "Cancel", "Limit…", "MAG7.nex on Ethereum"]
    picked = await click(app, asked, "MAG7.nex on Ethereum")
    assert "Issue MAG7.nex on Ethereum" in picked.rendered.text, picked.rendered.text
    quote = await say(app, "/quote mag7 50")
    assert "Buy quote: MAG7.ssi" in quote.rendered.text, quote.rendered.text


BAD = [
    ("/buy MAG7.nex", "Usage"),
    ("/buy MAG7.nex -5", "positive"),
    ("/buy MAG7.nex 1.1234567", "decimal"),
    ("/buy MAG7.nex 99999999999", "the most is"),
    ("/buy NOPE.nex 10", "There is no index called"),
    ("/sell MAG7.nex 5", "You need 5"),
    ("/orders now", "Usage"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
async def test_bad_input_changes_nothing(hours_app: tuple[App, Fulfiller], text: str, expected: str) -> None:
    app, _ = hours_app
    user, _ = await funded_user(app)
    out = await say(app, text)
    assert expected.lower() in out.rendered.text.lower(), out.rendered.text
    x = app.services.desks.home
    assert x is not None
    assert [i for i in await x.intents.of_user(user) if i.state is not State.QUOTED] == []
    assert await app.services.issuance.orders.rows.of_user(user) == []  # type: ignore[union-attr]


async def test_indexes_shows_pending_reindex(hours_app: tuple[App, Fulfiller], chain: Devnet) -> None:
    from devnet.rpc import Sender, connect, contract

    app, fulfiller = hours_app
    _, factory = mag7_nex(app)
    tokens = chain.stocks_profile.extra["devnet"]["stock_tokens"]
    now = await chain_now(chain)
    shares = [40 * 10**18, 30 * 10**18, 30 * 10**18]
    async with connect(chain.url) as w3:
        f = contract(w3, "IndexFactory", factory)
        await Sender(w3).transact(f.functions.setOracleList([tokens["NVDA"], tokens["AAPL"], tokens["AVGO"]], shares, now + 3600))
    shown = (await say(app, "/indexes")).rendered.text
    assert "Monthly reindex on" in shown and "+ AVGO: 30% (joins)" in shown and "− TSLA (leaves)" in shown, shown
    assert await steps(fulfiller) == []  # not due yet
    await advance(chain.url, 3700)
    assert await steps(fulfiller) == ["MAG7.nex reindex"]
    await app.head.poll_once()  # the bot sees the reindex's block (it polls every half block time)
    after = (await say(app, "/indexes")).rendered.text
    assert "Monthly reindex" not in after and "AVGO: 30%" in after, after
    # the bot's reader guessed the old lists (TSLA in place of AVGO, as many constituents): it read the new ones
    issuance, ref = app.services.issuance, app.services.companions[0].index("MAG7.nex")
    assert issuance is not None
    desk = issuance.desk(ref)
    assert await issuance.state(ref) == await FactoryReader(desk.profile, desk.chain).read(ref)


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_new_user_on_telegram_buys_while_closed_and_is_told_when_it_fills(
        hours_app: tuple[App, Fulfiller], chain: Devnet) -> None:
    """The issue's "done": a new Telegram user buys the stock index outside market hours, sees it pending with the
    expected completion time, and the same message is edited with the completion once the devnet market opened."""
    from bot.frontends.adapters.telegram import TelegramFrontend
    from telegram_emulator import BotApiEmulator
    from auxil.telegram import ask, press_and_wait_edit

    app, fulfiller = hours_app
    user = 7707
    now = await chain_now(chain)
    opens = (datetime.fromtimestamp(now, UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0)
    async with BotApiEmulator() as emulator:
        front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
        await front.start()
        app.notices.attach(front)
        try:
            await ask(emulator, user, user, "/wallet new")
            await ask(emulator, user, user, "/pin 4821")
            await ask(emulator, user, user, "/faucet")
            quote = await ask(emulator, user, user, "/buy mag7 100")  # the home chain's MAG7.ssi, MAG7.nex offered
            rows = quote.params["reply_markup"]["inline_keyboard"]
            assert [b["text"] for row in rows for b in row] == ["Confirm", "Cancel", "Limit…", "MAG7.nex on Ethereum"]
            picked = await press_and_wait_edit(emulator, user, quote, "MAG7.nex on Ethereum")  # its quote replaces it
            picked.result = {"message_id": quote.result["message_id"]}  # the same message, pressed again next
            assert "Issue MAG7.nex on Ethereum" in picked.params["text"] and "market is closed" in picked.params["text"]
            pending = await press_and_wait_edit(emulator, user, picked, "Confirm")
            shown = pending.params["text"]
            assert "Issuance request #2 sent" in shown and "expected to complete when it opens" in shown, shown
            assert format_time(opens, "short", tzinfo=UTC, locale="en") in shown, shown  # the user's language's clock

            await advance(chain.url, int(opens.timestamp()) - now + 60)
            assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
            since = emulator.mark()
            assert await app.services.issuance.orders.check() == 1  # type: ignore[union-attr]
            done = await emulator.wait_for(
                "editMessageText", lambda c: int(c.params["message_id"]) == picked.result["message_id"], since=since, timeout=15)
            assert "Issuance #2 completed: received" in done.params["text"] and "MAG7.nex" in done.params["text"], done.params
        finally:
            await app.notices.detach(front)
            await front.stop()


async def test_a_factory_state_serves_every_quote_of_its_block(hours_app: tuple[App, Fulfiller], chain: Devnet) -> None:
    """Quotes in one block share one read of the factory; the next block reads it again (a fill moves NAV)."""
    app, _ = hours_app
    issuance = app.services.issuance
    assert issuance is not None
    ref = app.services.companions[0].index("MAG7.nex")
    await app.head.poll_once()
    first = await issuance.state(ref)
    assert await issuance.state(ref) is first
    await advance(chain.url, 12)  # one block later
    await app.head.poll_once()
    desk = issuance.desk(ref)
    with desk.chain.counting() as trips:
        again = await issuance.state(ref)
    assert again is not first and again.block > first.block
    assert dict(trips.by_method) == {"eth_call": 1}  # the constituents known: lists, shares, holdings, feeds at once
    assert again == await FactoryReader(desk.profile, desk.chain).read(ref)  # as a reader that knows nothing reads it


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
async def test_a_dca_plan_into_the_stock_index_sends_a_request_that_fills_after_the_open(
        hours_app: tuple[App, Fulfiller], chain: Devnet) -> None:
    """`/dca MAG7.nex 100 daily` runs as a factory request on the stock chain (not a swap): pending while the market
    is closed, filled after the open, and its run is told with the request's expected time."""
    app, fulfiller = hours_app
    user, address = await funded_user(app)
    created = (await say(app, "/dca MAG7.nex 100 daily at 09:00 739146")).rendered.text
    assert "100 USDC into MAG7.nex" in created and "request to the MAG7.nex factory" in created, created
    dca = app.services.dca
    assert dca is not None
    (plan,) = await dca.plans.of_user(user)
    assert (plan.token, plan.usdc_units) == ("MAG7.nex", 100 * 10**6)
    assert await dca.run(plan.id) == "done"
    x = app.services.desks.home
    assert x is not None
    (intent,) = await x.intents.of_user(user)
    assert (intent.kind, intent.state, intent.params["chain"]) == ("issue", State.MINED, app.services.companions[0].name)
    told = [t for t in await sent_texts(app) if f"dca:{plan.id}:" in t or "dca.run.title" in t]
    assert told and "issuance.expected.closed" in told[-1], told

    now = await chain_now(chain)
    await advance(chain.url, int(next_utc_midnight(now).timestamp()) - now + 60)
    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
    assert await app.services.issuance.orders.check() == 1  # type: ignore[union-attr]
    token, _ = mag7_nex(app)
    assert await token_balance(app, token, address) > 0
