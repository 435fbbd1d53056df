"""A limit order tapped from a quote (handlers.order_buttons): Limit… under /buy's or /sell's quote asks the trigger
(a preset from the pool price now, the premium to NAV, or a price typed), the expiry, then the PIN, and stores the
order /limit would store for the same USDC or the same share; the quote keeps its Confirm. Through the console,
Telegram (the Bot API emulator) and Discord (constructed interactions, a typed price in a modal), and on the devnet,
where the order fires when the pool price falls."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auxil.console import console_lines
from auxil.discord import DiscordJourney, shown
from auxil.orders import MAG7, preset, guide_text as say, buy_mag7, lasts, pin_sets_the_order, snapshot_of, the_order
from auxil.requests import click, say as said_to
from auxil.telegram import ask, labels_of, tap, text_of
from test_limit_orders_connected import connected_holder
from auxil.trading import PIN, funded_user, token_balance
from bot.app import App
from bot.core.messages import Amount, Pct, Usd
from bot.frontends.adapters.discord import DiscordFrontend
from devnet import operator as op
from discord_fake import FakeDiscord, user_dict
from telegram_emulator import BotApiEmulator

D = Decimal
HUNDRED = D(100)
DAY = 86_400




def premium(app: App, change: int) -> str:
    return say(app, "limits.guide.button.premium", premium=Pct(D(change) / HUNDRED, 0, signed=True))


async def half_held(app: App, uid: int) -> str:
    """Half of the MAG7 the user's wallet holds, as /sell takes it."""
    address = (await app.services.desks.home.sender(uid)).address
    held = await token_balance(app, app.profile.index(MAG7).token.address, address)
    return format(D(held // 2).scaleb(-app.profile.index(MAG7).token.decimals), "f")


CHOICES = [  # (side, what the quote trades, the trigger, the expiry) -> (amount, watch, line from the price now, seconds)
    ("buy", "100", ("preset", -2), "1d", D(100), "price", D("0.98"), DAY),
    ("buy", "250.5", ("premium", -1), "gtc", D("250.5"), "premium", None, None),
    ("buy", "100", ("typed", D("0.97")), "1w", D(100), "price", D("0.97"), 7 * DAY),
    ("sell", "all", ("preset", 5), "1w", D(100), "price", D("1.05"), 7 * DAY),
    ("sell", "half", ("premium", 1), "1d", D(50), "premium", None, DAY),
    ("sell", "half", ("preset", 1), "gtc", D(50), "price", D("1.01"), None),
]


@pytest.mark.parametrize(("side", "traded", "trigger", "expiry", "amount", "watch", "times", "seconds"), CHOICES)
async def test_each_choice_under_a_quote_stores_the_order_limit_would(
        app: App, side: str, traded: str, trigger: tuple[str, object], expiry: str, amount: Decimal, watch: str,
        times: Decimal | None, seconds: int | None) -> None:
    uid, _ = await funded_user(app)
    if side == "sell":
        await buy_mag7(app, "500")
        traded = await half_held(app, uid) if traded == "half" else traded
    _, price = await snapshot_of(app)
    line = console_lines(app, "u1")
    quote = await line(f"/{side} {MAG7} {traded}")
    assert f"] {say(app, 'limits.button.limit')}" in quote and "] Confirm" in quote, quote
    asked = await line(say(app, "limits.button.limit"))
    shown_amount = Amount(amount, 2) if side == "buy" else Pct(amount / HUNDRED, 2)
    assert say(app, f"limits.guide.trigger.{side}", index=MAG7, price=Usd(price), amount=shown_amount) in asked, asked
    how, value = trigger
    if how == "preset":
        await line(preset(app, price, int(str(value))))
    elif how == "premium":
        await line(premium(app, int(str(value))))
    else:
        await line(str((price * D(str(value))).quantize(D("0.01"))))
    summary = await line(say(app, f"limits.guide.button.{expiry}"))
    assert say(app, "limits.guide.ask.pin") in summary, summary
    assert await app.services.limit_orders.rows.of_user(uid) == []  # nothing before the PIN
    assert "Order #" in await line(PIN)
    order = await the_order(app, uid)
    expected = D(str(value)) if times is None else (price * times).quantize(D("0.01"))
    assert (order.kind, order.amount, order.watch, order.line) == (side, amount, watch, expected)
    assert lasts(order, seconds), (order.created_at, order.expires_at)


async def test_the_quote_keeps_its_confirm_and_another_user_cannot_press_limit(app: App) -> None:
    uid, _ = await funded_user(app)
    await funded_user(app, "u2")
    quoted = await said_to(app, f"/buy {MAG7} 100")
    refused = await click(app, quoted, say(app, "limits.button.limit"), "u2")
    assert refused.rendered.text == say(app, "error.button.not_yours"), refused.rendered.text
    asked = await click(app, quoted, say(app, "limits.button.limit"))
    assert asked.reply is not None and not asked.reply.edit  # a new question: the quote is left as it was
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == []  # Limit… traded nothing
    assert "Confirmed in block" in (await click(app, quoted, "Confirm")).rendered.text
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == ["buy"]
    assert await app.services.limit_orders.rows.of_user(uid) == []


TYPED = [  # a price typed for a limit buy's trigger: what is said, and whether the question is asked again
    ("abc", '"abc" is not a price', True),
    ("{far}", "times away from the price now", True),
    ("{met}", "would fire at once, so it was not set", False),  # above the pool price: Execute now instead
]


@pytest.mark.parametrize(("typed", "says", "again"), TYPED)
async def test_a_bad_price_typed_under_a_quote_says_why_and_stores_nothing(app: App, typed: str, says: str, again: bool) -> None:
    uid, _ = await funded_user(app)
    _, price = await snapshot_of(app)
    line = console_lines(app, "u1")
    await line(f"/buy {MAG7} 100")
    await line(say(app, "limits.button.limit"))
    answer = await line(typed.format(far=(price / 20).quantize(D("0.01")), met=(price * D("1.01")).quantize(D("0.01"))))
    assert says in answer, answer
    assert (say(app, "prompt.field.usd") in answer) is again, answer
    assert (f"] {say(app, 'limits.button.now')}" in answer) is not again, answer
    assert await app.services.limit_orders.rows.of_user(uid) == []
    if not again:  # Execute now: the same 100 USDC quoted now
        assert "100" in await line(say(app, "limits.button.now"))


async def test_a_limit_buy_tapped_on_telegram_from_a_quote(app: App, emulator: BotApiEmulator, telegram: object) -> None:
    user = 5401
    uid, _ = await funded_user(app, str(user), usdc=D(1000), platform="telegram")
    _, price = await snapshot_of(app)
    quote = await ask(emulator, user, user, f"/buy {MAG7} 100")
    assert say(app, "limits.button.limit") in labels_of(quote), labels_of(quote)
    since = emulator.mark()
    [token] = [b["callback_data"] for row_ in quote.params["reply_markup"]["inline_keyboard"] for b in row_
               if b["text"] == say(app, "limits.button.limit")]
    emulator.press(user, user, quote.result["message_id"], token)
    trigger = await emulator.wait_for("sendMessage", lambda c: "pool price" in c.params["text"], since=since, timeout=30)
    assert not emulator.calls_to("editMessageText", since)  # the quote keeps its Confirm
    assert premium(app, -1) in labels_of(trigger), labels_of(trigger)
    expiry = await tap(emulator, user, trigger, preset(app, price, -1))
    assert text_of(expiry) == say(app, "limits.guide.expiry"), text_of(expiry)
    since = emulator.mark()
    summary = await tap(emulator, user, expiry, say(app, "limits.guide.button.1w"))
    assert say(app, "limits.guide.lasts.1w") in text_of(summary)
    await pin_sets_the_order(emulator, user, since)
    order = await the_order(app, uid)
    assert (order.kind, order.amount, order.line, order.watch, order.platform) == (
        "buy", HUNDRED, (price * D("0.99")).quantize(D("0.01")), "price", "telegram")


DAVE = user_dict(940000000000000088, "dave")


async def test_a_limit_sell_with_a_typed_price_on_discord_in_a_dm(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    me = DiscordJourney(frontend, rest, DAVE, guild=False)
    uid, _ = await funded_user(app, DAVE["id"], usdc=D(1000), platform="discord")
    bought = await me.slash("buy", index=MAG7, amount="100")
    assert shown((await me.press(bought, say(app, "button.confirm"))).content).startswith("Confirmed in block")
    _, price = await snapshot_of(app)
    quote = await me.slash("sell", index=MAG7, amount="all")
    trigger = await me.press(quote, say(app, "limits.button.limit"), edits=False)
    assert "pool price" in shown(trigger.content) and say(app, "button.answer") in me.labels(trigger), me.labels(trigger)
    typed = (price * D("1.03")).quantize(D("0.01"))
    expiry = await me.answer(trigger, say(app, "button.answer"), str(typed))  # the price in a modal
    assert shown(expiry.content) == say(app, "limits.guide.expiry"), expiry.content
    summary = await me.press(expiry, say(app, "limits.guide.button.1d"))
    assert await app.services.limit_orders.rows.of_user(uid) == []
    set_ = await me.answer(summary, say(app, "button.answer"), PIN)
    assert "Order #" in shown(set_.content) and PIN not in set_.content, shown(set_.content)
    order = await the_order(app, uid)
    assert (order.kind, order.amount, order.line, order.platform) == ("sell", HUNDRED, typed, "discord")
    assert lasts(order, DAY), (order.created_at, order.expires_at)
    assert "Confirmed in block" in shown((await me.press(quote, say(app, "button.confirm"))).content)  # the quote still trades


async def test_a_limit_buy_from_a_quote_fires_when_the_pool_price_falls(app: App) -> None:
    uid, address = await funded_user(app)
    await funded_user(app, "u2", usdc=D(50_000))
    await buy_mag7(app, "20000", "u2")  # the pool price rises
    _, price = await snapshot_of(app)
    line = console_lines(app, "u1")
    await line(f"/buy {MAG7} 100")
    await line(say(app, "limits.button.limit"))
    await line(preset(app, price, -1))
    await line(say(app, "limits.guide.button.1d"))
    assert "Order #" in await line(PIN)
    book = app.services.limit_orders
    assert (await book.check()).triggered == 0
    u2 = (await app.services.users.seen("console", "u2")).id
    held = await token_balance(app, app.profile.index(MAG7).token.address, (await app.services.desks.home.sender(u2)).address)
    quoted = await said_to(app, f"/sell {MAG7} {D(held) / 10**8:.8f}", "u2")  # the pool price falls back
    assert "Confirmed in block" in (await click(app, quoted, "Confirm", "u2")).rendered.text
    _, after = await snapshot_of(app)
    assert after < (price * D("0.99")).quantize(D("0.01"))
    assert (await book.check()).triggered == 1
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == ["buy"]
    assert await token_balance(app, app.profile.index(MAG7).token.address, address) > 0


@pytest.mark.parametrize(("side", "traded", "trigger", "watch", "amount"), [
    ("buy", "100", "premium", "premium", HUNDRED),
    ("sell", "all", "preset", "price", HUNDRED),
])
async def test_a_connected_wallet_confirms_the_order_from_a_quote_without_a_pin(
        app: App, side: str, traded: str, trigger: str, watch: str, amount: Decimal) -> None:
    uid, _ = await connected_holder(app, "w9")
    _, price = await snapshot_of(app)
    line = console_lines(app, "w9")
    await line(f"/{side} {MAG7} {traded}")
    await line(say(app, "limits.button.limit"))
    await line(premium(app, -1) if trigger == "premium" else preset(app, price, 2))
    offer = await line(say(app, "limits.guide.button.1w"))
    assert "] Confirm" in offer and say(app, "limits.guide.ask.pin") not in offer, offer
    assert await app.services.limit_orders.rows.of_user(uid) == []
    assert "Order #" in await line("Confirm")
    order = await the_order(app, uid)
    address = (await app.services.desks.home.sender(uid)).address
    line_ = D(-1) if trigger == "premium" else (price * D("1.02")).quantize(D("0.01"))
    assert (order.kind, order.amount, order.watch, order.line, order.address) == (side, amount, watch, line_, address)


async def test_the_home_screens_sell_of_a_share_offers_a_limit_sell_of_that_share(app: App) -> None:
    await funded_user(app)
    await buy_mag7(app)
    _, price = await snapshot_of(app)
    line = console_lines(app, "u1")
    await line("/start")
    holdings = await line(say(app, "home.button.sell"))
    holding = next(row.split("] ", 1)[1] for row in holdings.splitlines() if row.startswith("[") and MAG7 in row)
    await line(holding)
    quote = await line("25%")
    assert "] Confirm" in quote and f"] {say(app, 'limits.button.limit')}" in quote, quote
    asked = await line(say(app, "limits.button.limit"))
    assert say(app, "limits.guide.trigger.sell", index=MAG7, price=Usd(price), amount=Pct(D("0.25"), 2)) in asked, asked
