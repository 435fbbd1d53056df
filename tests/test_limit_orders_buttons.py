"""A stop-loss or take-profit tapped from a position (handlers.order_buttons): /positions (and Positions on the home
screen) offers one per index held; the share, the trigger (a preset below or above NAV, a trailing stop, or a price
typed), the expiry, the summary and the PIN, each a button but the price and the PIN; the stored order is the one the
typed command would store. Through the console, Telegram (the Bot API emulator) and Discord (constructed
interactions, the price and PIN in modals)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auxil.console import console_lines
from test_limit_orders_connected import connected_holder
from auxil.discord import DiscordJourney, shown
from auxil.orders import (MAG7, lasts, preset, guide_text as say, buy_mag7, move_mag7_nav, pin_sets_the_order, sells, snapshot_of,
                          the_order)
from auxil.telegram import ask, force_reply, labels_of, tap, text_of
from auxil.trading import PIN, funded_user
from bot.app import App
from bot.core.messages import Msg, Pct, Usd
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from devnet import operator as op
from discord_fake import FakeDiscord, user_dict
from telegram_emulator import BotApiEmulator

D = Decimal
HUNDRED = D(100)




async def test_a_stop_loss_tapped_in_the_console_fires_when_nav_falls(app: App) -> None:
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    line = console_lines(app, "u1")
    shown_ = await line("/positions")
    assert f"] {say(app, 'limits.button.stop', index=MAG7)}" in shown_, shown_
    share = await line(say(app, "limits.button.stop", index=MAG7))
    assert say(app, "limits.guide.share.stop", index=MAG7) in share, share
    trigger = await line("50%")
    assert say(app, "limits.guide.trigger.stop", index=MAG7, nav=Usd(nav), amount=Pct(D("0.5"), 0)) in trigger, trigger
    expiry = await line(preset(app, nav, -10))
    assert say(app, "limits.guide.expiry") in expiry, expiry
    summary = await line(say(app, "limits.guide.button.1w"))
    stop_at = (nav * D("0.9")).quantize(D("0.01"))
    assert say(app, "limits.guide.lasts.1w") in summary and say(app, "limits.guide.ask.pin") in summary, summary
    order_said = Msg("limits.describe.stop", {"index": MAG7, "line": Usd(stop_at), "amount": Pct(D("0.5"), 2)})
    assert say(app, "limits.guide.summary", order=order_said) in summary, summary
    assert await app.services.limit_orders.rows.of_user(uid) == []  # nothing before the PIN
    set_ = await line(PIN)
    assert PIN not in set_ and "Order #" in set_, set_
    order = await the_order(app, uid)
    assert (order.kind, order.amount, order.line, order.trail, order.watch) == ("stop", D(50), stop_at, None, "price")
    assert lasts(order, 7 * 86_400), (order.created_at, order.expires_at)
    book = app.services.limit_orders
    assert (await book.check()).triggered == 0
    await move_mag7_nav(app, stop_at - 1)
    assert (await book.check()).triggered == 1
    assert await sells(app, uid) == 1


async def test_a_stop_loss_tapped_on_telegram_from_the_home_screen_with_a_typed_price(
        app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    user = 5301
    uid, _ = await funded_user(app, str(user), usdc=D(1000), platform="telegram")
    quote = await ask(emulator, user, user, f"/buy {MAG7} 100")
    await tap(emulator, user, quote, say(app, "button.confirm"), until="Confirmed in block")
    nav, _ = await snapshot_of(app)

    home = await ask(emulator, user, user, "/start")
    positions = await tap(emulator, user, home, say(app, "home.button.positions"))
    assert {say(app, "limits.button.stop", index=MAG7), say(app, "limits.button.takeprofit", index=MAG7),
            say(app, "button.home")} <= set(labels_of(positions)), labels_of(positions)
    share = await tap(emulator, user, positions, say(app, "limits.button.stop", index=MAG7))
    assert text_of(share) == say(app, "limits.guide.share.stop", index=MAG7)
    since = emulator.mark()
    trigger = await tap(emulator, user, share, "100%")
    assert say(app, "limits.guide.button.trail", trail=Pct(D("0.1"), 0)) in str(trigger.params["reply_markup"])
    asked = await force_reply(emulator, user, since)  # a price of one's own: typed as the answer
    line = (nav * D("0.85")).quantize(D("0.01"))
    since = emulator.mark()
    refused = await ask(emulator, user, user, "abc", reply_to=asked.result["message_id"])
    assert text_of(refused).startswith('"abc" is not a price'), text_of(refused)  # said, asked again, nothing stored
    asked = await force_reply(emulator, user, since)
    assert await app.services.limit_orders.rows.of_user(uid) == []
    expiry = await ask(emulator, user, user, str(line), reply_to=asked.result["message_id"])
    assert text_of(expiry) == say(app, "limits.guide.expiry"), text_of(expiry)
    since = emulator.mark()
    summary = await tap(emulator, user, expiry, say(app, "limits.guide.button.gtc"))
    assert say(app, "limits.expires.never") in text_of(summary)
    await pin_sets_the_order(emulator, user, since)
    order = await the_order(app, uid)
    assert (order.kind, order.amount, order.line, order.expires_at, order.platform) == ("stop", HUNDRED, line, None, "telegram")


async def test_a_stop_loss_typed_on_telegram_without_its_pin_asks_for_it(
        app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """The one-line /stop without its PIN: the summary, a ForceReply for the PIN, the PIN's message deleted, the order
    set as typed."""
    user = 5302
    uid, _ = await funded_user(app, str(user), usdc=D(1000), platform="telegram")
    quote = await ask(emulator, user, user, f"/buy {MAG7} 100")
    await tap(emulator, user, quote, say(app, "button.confirm"), until="Confirmed in block")
    nav, _ = await snapshot_of(app)
    line = (nav * D("0.85")).quantize(D("0.01"))
    since = emulator.mark()
    summary = await ask(emulator, user, user, f"/stop {MAG7} 40% below {line} 2w")
    assert say(app, "limits.guide.ask.pin") in text_of(summary), text_of(summary)
    assert await app.services.limit_orders.rows.of_user(uid) == []
    await pin_sets_the_order(emulator, user, since)
    order = await the_order(app, uid)
    assert (order.kind, order.amount, order.line, order.platform) == ("stop", D(40), line, "telegram")
    assert lasts(order, 14 * 86_400), (order.created_at, order.expires_at)


CAROL = user_dict(940000000000000077, "carol")


@pytest.mark.parametrize("guild", [False, True], ids=["dm", "server"])
async def test_a_stop_loss_tapped_on_discord_from_positions(app: App, frontend: DiscordFrontend, rest: FakeDiscord,
                                                            guild: bool) -> None:
    """In a DM, or in the server where every answer is for the user's eyes only (the journey checks it)."""
    me = DiscordJourney(frontend, rest, CAROL, guild)
    uid, _ = await funded_user(app, CAROL["id"], usdc=D(1000), platform="discord")
    quote = await me.slash("buy", index=MAG7, amount="100")
    assert shown((await me.press(quote, say(app, "button.confirm"))).content).startswith("Confirmed in block")
    nav, _ = await snapshot_of(app)

    positions = await me.slash("positions")
    share = await me.press(positions, say(app, "limits.button.stop", index=MAG7))
    trigger = await me.press(share, "25%")
    assert say(app, "button.answer") in me.labels(trigger)  # a price of one's own goes in a form
    expiry = await me.press(trigger, preset(app, nav, -5))
    summary = await me.press(expiry, say(app, "limits.guide.button.1d"))
    assert say(app, "limits.guide.lasts.1d") in shown(summary.content)
    wrong = await me.answer(summary, say(app, "button.answer"), "12")
    assert await app.services.limit_orders.rows.of_user(uid) == []
    set_ = await me.answer(wrong, say(app, "button.answer"), PIN)
    assert "Order #" in shown(set_.content) and PIN not in set_.content, shown(set_.content)
    order = await the_order(app, uid)
    assert (order.kind, order.amount, order.line, order.platform) == ("stop", D(25), (nav * D("0.95")).quantize(D("0.01")), "discord")
    assert lasts(order, 86_400), (order.created_at, order.expires_at)


CHOICES = [  # (the kind's button, the share, the trigger button or a typed price, kind, expected line from NAV, trail)
    ("limits.button.stop", "25%", ("preset", -20), "stop", D("0.8"), None),
    ("limits.button.stop", "100%", ("trail", 10), "stop", D("0.9"), D(10)),
    ("limits.button.takeprofit", "50%", ("preset", 25), "takeprofit", D("1.25"), None),
    ("limits.button.takeprofit", "100%", ("typed", D("1.4")), "takeprofit", D("1.4"), None),
]


@pytest.mark.parametrize(("kind_button", "share", "choice", "kind", "times_nav", "trail"), CHOICES)
async def test_each_trigger_tapped_stores_its_order(app: App, kind_button: str, share: str, choice: tuple[str, object],
                                                    kind: str, times_nav: Decimal, trail: Decimal | None) -> None:
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    line = console_lines(app, "u1")
    await line("/positions")
    await line(say(app, kind_button, index=MAG7))
    await line(share)
    how, value = choice
    if how == "preset":
        await line(preset(app, nav, int(str(value))))
    elif how == "trail":
        await line(say(app, "limits.guide.button.trail", trail=Pct(D(str(value)) / HUNDRED, 0)))
    else:
        await line(str((nav * D(str(value))).quantize(D("0.01"))))
    await line(say(app, "limits.guide.button.gtc"))
    assert "Order #" in await line(PIN)
    order = await the_order(app, uid)
    expected = (nav * times_nav).quantize(D("0.01")) if trail is None else nav * times_nav
    assert (order.kind, order.amount, order.trail, order.expires_at) == (kind, D(share.rstrip("%")), trail, None)
    assert abs(order.line - expected) < D("0.01"), (order.line, expected)


TYPED = [  # a price typed for the trigger: what is said, and whether the question is asked again
    ("abc", '"abc" is not a price', True),
    ("0", "must be more than $0", True),
    ("{far}", "times away from the price now", True),
    ("{met}", "would fire at once, so it was not set", False),  # Execute now offered instead
]


@pytest.mark.parametrize(("typed", "says", "again"), TYPED)
async def test_a_bad_price_typed_says_why_and_stores_nothing(app: App, typed: str, says: str, again: bool) -> None:
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    line = console_lines(app, "u1")
    await line("/positions")
    await line(say(app, "limits.button.stop", index=MAG7))
    await line("50%")
    answer = await line(typed.format(far=(nav * 20).quantize(D("0.01")), met=(nav + 1).quantize(D("0.01"))))
    assert says in answer, answer
    assert (say(app, "prompt.field.usd") in answer) is again, answer
    assert (f"] {say(app, 'limits.button.now')}" in answer) is not again, answer
    assert await app.services.limit_orders.rows.of_user(uid) == []


async def test_the_sell_menu_offers_a_stop_loss_too(app: App) -> None:
    await funded_user(app)
    await buy_mag7(app)
    line = console_lines(app, "u1")
    await line("/start")
    holdings = await line(say(app, "home.button.sell"))
    holding = next(row.split("] ", 1)[1] for row in holdings.splitlines() if row.startswith("[") and MAG7 in row)
    shares = await line(holding)
    assert f"] {say(app, 'limits.button.takeprofit', index=MAG7)}" in shares, shares
    asked = await line(say(app, "limits.button.takeprofit", index=MAG7))
    assert say(app, "limits.guide.share.takeprofit", index=MAG7) in asked, asked


async def test_a_connected_wallet_taps_a_stop_loss_and_confirms_it_without_a_pin(app: App) -> None:
    uid, _ = await connected_holder(app, "w9")
    nav, _ = await snapshot_of(app)
    line = console_lines(app, "w9")
    await line("/positions")
    await line(say(app, "limits.button.stop", index=MAG7))
    await line("100%")
    await line(preset(app, nav, -10))
    offer = await line(say(app, "limits.guide.button.1w"))
    assert "] Confirm" in offer and say(app, "limits.guide.ask.pin") not in offer, offer
    assert await app.services.limit_orders.rows.of_user(uid) == []
    assert "Order #" in await line("Confirm")
    order = await the_order(app, uid)
    address = (await app.services.desks.home.sender(uid)).address
    assert (order.kind, order.amount, order.line, order.address) == ("stop", HUNDRED, (nav * D("0.9")).quantize(D("0.01")), address)
