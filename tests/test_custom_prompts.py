"""Custom on the Stake and Settings screens asks for the value (the user's next message) instead of telling what to
type: the answer is read as the typed command reads it (`/stake`, `/presets`), a bad one is explained in the user's
language and asked again, changing nothing; Cancel and a time-out end the question. Through the router (tables, per
language where the decimal mark matters) and through the Telegram Bot API emulator (journeys)."""

from __future__ import annotations

import html
import time
from dataclasses import replace
from decimal import Decimal

import pytest

from bot.app import App
from bot.core.router import Outcome
from bot.frontends.adapters.base import PlainMarkup
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.storage.wallets import DEFAULT_BUY_PRESETS
from auxil.requests import ask as typed, labels
from auxil.telegram import ask, force_reply, to_chat
from auxil.trading import click, funded_user, say, token_balance
from telegram_emulator import BotApiEmulator, Call
from test_home import en, keyboard, tap, telegram_user


async def answer(app: App, text: str, user: str, locale: str = "en") -> Outcome:
    """A plain message `text` from `user` (the answer to their open question), as an adapter hands it over."""
    return await app.router.handle(replace(typed(text, user, locale=locale), text=text), PlainMarkup())


async def speaks(app: App, user: str, locale: str) -> None:
    """`user` chose `locale` (/lang): their presses are answered in it too."""
    await app.services.users.set_locale((await app.services.users.seen("console", user)).id, locale)


async def stake_custom(app: App, user: str, locale: str = "en") -> Outcome:
    """Home, Stake, Stake MAG7.ssi, Custom: the question."""
    await speaks(app, user, locale)
    home = await say(app, "/start", user, locale=locale)
    stake = await click(app, home, app.services.catalogs.text("home.button.stake", locale), user)
    kind = await click(app, stake, app.services.catalogs.text("menu.stake.button", locale).format(symbol="MAG7.ssi"), user)
    return await click(app, kind, app.services.catalogs.text("button.custom", locale), user)


async def presets_custom(app: App, user: str, locale: str = "en") -> Outcome:
    """Home, Settings, Buy amounts: the question."""
    await speaks(app, user, locale)
    home = await say(app, "/start", user, locale=locale)
    settings = await click(app, home, app.services.catalogs.text("home.button.settings", locale), user)
    return await click(app, settings, app.services.catalogs.text("button.presets", locale), user)


BAD_STAKE = [
    ("en", "abc", "error.amount.format"),
    ("en", "1e3", "error.amount.format"),
    ("en", "-5", "error.amount.negative"),
    ("en", "0", "error.amount.zero"),
    ("en", "0.1234567890123456789", "error.amount.too_precise"),
    ("en", "5 MAG7", "error.amount.format"),
    ("en", "5", "error.stake.short"),  # more than held: read against the chain, as /stake reads it
    ("vi", "1.500", "error.amount.ambiguous"),  # 1.5 or 1500? refused in a decimal-comma language
    ("vi", "1,5x", "error.amount.format"),
    ("ru", "2.000", "error.amount.ambiguous"),
    ("es", "0,5,0", "error.amount.format"),
]


@pytest.mark.parametrize(("locale", "text", "key"), BAD_STAKE)
async def test_a_bad_stake_amount_is_explained_and_asked_again(app: App, locale: str, text: str, key: str) -> None:
    user = f"stake-{locale}"
    uid, _ = await funded_user(app, user)
    mag7 = app.profile.index("MAG7.ssi")
    await click(app, await say(app, "/buy MAG7.ssi 10", user), "Confirm", user)  # holds a little MAG7.ssi
    question = await stake_custom(app, user, locale)
    assert question.rendered.ask is not None and question.rendered.edit
    before = await app.services.desks.home.intents.of_user(uid)
    refused = await answer(app, text, user, locale)
    assert refused.reply is not None and refused.reply.lines[0].key == key, refused.rendered.text
    assert "{" not in refused.rendered.text and refused.locale == locale
    assert refused.rendered.ask is not None  # asked again
    assert refused.reply.lines[1].key == "menu.custom.stake"
    assert await app.services.desks.home.intents.of_user(uid) == before  # nothing offered, nothing stored
    assert await token_balance(app, mag7.token.address, (await app.services.desks.home.sender(uid)).address) > 0


async def test_stake_custom_reads_the_answer_as_stake_does_and_ends_by_cancel_or_time_out(app: App) -> None:
    uid, address = await funded_user(app, "s1")
    await click(app, await say(app, "/buy MAG7.ssi 10", "s1"), "Confirm", "s1")
    question = await stake_custom(app, "s1")
    assert question.rendered.text.startswith(en(app, "menu.custom.stake", symbol="MAG7.ssi"))
    assert "/stake" not in question.rendered.text  # asked, not told what to type
    offer = await answer(app, "ALL", "s1")  # "all", any case, as /stake takes it
    assert offer.reply is not None and offer.reply.lines[0].key == "stake.offer" and "Confirm" in labels(offer)
    typed_offer = await say(app, "/stake MAG7.ssi all", "s1")
    assert offer.rendered.text == typed_offer.rendered.text  # the same offer the typed command makes

    cancelled = await click(app, await stake_custom(app, "s1"), "Cancel", "s1")
    assert cancelled.rendered.text == en(app, "prompt.cancelled")
    after = await answer(app, "5", "s1")
    assert after.reply is not None and after.reply.lines[0].key != "stake.offer"  # no question open: the home screen

    await stake_custom(app, "s1")
    app.router.clock = lambda: time.time() + app.router.prompt_seconds + 1
    try:
        late = await answer(app, "all", "s1")
    finally:
        app.router.clock = time.time
    assert late.reply is not None and late.reply.lines[0].key == "prompt.expired"


BAD_PRESETS = [
    ("en", "abc", "error.presets.format"),
    ("en", "10 1e3", "error.presets.format"),
    ("en", "0", "error.presets.range"),
    ("en", "-5", "error.presets.range"),
    ("en", "10000000000", "error.presets.range"),
    ("en", "1 2 3 4 5", "error.presets.count"),
    ("en", "10.005", "error.presets.precision"),
    ("vi", "1.500", "error.amount.ambiguous"),  # 1.5 or 1500: refused where a comma is the decimal mark
    ("vi", "12,50,5", "error.presets.format"),
    ("ru", "10 2.500", "error.amount.ambiguous"),
    ("es", "1,505", "error.amount.ambiguous"),
]


@pytest.mark.parametrize(("locale", "text", "key"), BAD_PRESETS)
async def test_bad_buy_amounts_are_explained_and_asked_again(app: App, locale: str, text: str, key: str) -> None:
    user = f"presets-{locale}"
    question = await presets_custom(app, user, locale)
    assert question.rendered.ask is not None and question.rendered.edit
    refused = await answer(app, text, user, locale)
    assert refused.reply is not None and refused.reply.lines[0].key == key, refused.rendered.text
    assert "{" not in refused.rendered.text and refused.locale == locale
    assert refused.rendered.ask is not None and refused.reply.lines[1].key == "menu.custom.presets"  # asked again
    uid = (await app.services.users.seen("console", user)).id
    assert await app.services.settings.get_buy_presets(uid) == DEFAULT_BUY_PRESETS


@pytest.mark.parametrize(("locale", "text", "stored"), [
    ("en", "10 20.5 $75", (Decimal(10), Decimal("20.5"), Decimal(75))),
    ("en", "1,000 1.500", (Decimal(1000), Decimal("1.5"))),  # a decimal point: 1.500 is one and a half
    ("vi", "10 20.5", (Decimal(10), Decimal("20.5"))),
])
async def test_buy_amounts_answered_are_read_as_presets_reads_them(app: App, locale: str, text: str,
                                                                  stored: tuple[Decimal, ...]) -> None:
    user = f"set-{locale}"
    await presets_custom(app, user, locale)
    done = await answer(app, text, user, locale)
    assert done.reply is not None and done.reply.lines[0].key == "presets.set" and done.rendered.ask is None
    uid = (await app.services.users.seen("console", user)).id
    assert await app.services.settings.get_buy_presets(uid) == stored
    await say(app, "/presets 5", user, locale=locale)
    assert await app.services.settings.get_buy_presets(uid) == (Decimal(5),)
    typed_set = await say(app, f"/presets {text}", user, locale=locale)
    assert typed_set.rendered.text == done.rendered.text  # the same as /presets with those words


@pytest.mark.parametrize(("locale", "typed_line", "key"), [
    ("vi", "/presets 1.500", "error.amount.ambiguous"),
    ("es", "/presets 25 2.000", "error.amount.ambiguous"),
    ("ru", "/presets 1,5x", "error.presets.format"),
    ("en", "/presets 1,5", "error.presets.format"),
])
async def test_typed_presets_follow_the_users_decimal_mark(app: App, locale: str, typed_line: str, key: str) -> None:
    user = f"typed-{locale}"
    await speaks(app, user, locale)
    refused = await say(app, typed_line, user, locale=locale)
    assert refused.reply is not None and refused.reply.lines[0].key == key, refused.rendered.text
    uid = (await app.services.users.seen("console", user)).id
    assert await app.services.settings.get_buy_presets(uid) == DEFAULT_BUY_PRESETS


async def asked_by(emulator: BotApiEmulator, user: int, shown: Call, label: str) -> tuple[Call, Call]:
    """Press `label` on `shown`, a button that asks: its screen, edited with the question, and the ForceReply."""
    data = next(b["callback_data"] for b in keyboard(shown) if b["text"] == label)
    message_id = shown.result["message_id"]
    since = emulator.mark()
    emulator.press(user, user, message_id, data)
    edit = await emulator.wait_for("editMessageText", lambda c: int(c.params["message_id"]) == message_id, since=since, timeout=30)
    edit.result = {"message_id": message_id}
    return edit, await force_reply(emulator, user, since)


async def test_telegram_stake_custom_journey(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Tap Stake, MAG7.ssi, Custom: a ForceReply asks; a bad answer is explained and asked again; "all" is offered
    and staked; Cancel under a new question ends it."""
    user = 8851
    await telegram_user(emulator, user)
    quote = await ask(emulator, user, user, "/buy MAG7.ssi 20")
    await tap(emulator, user, quote, "Confirm", until="Confirmed in block")
    mag7 = app.profile.index("MAG7.ssi")
    uid = (await app.services.users.seen("telegram", str(user))).id
    address = (await app.services.desks.home.sender(uid)).address
    held = await token_balance(app, mag7.token.address, address)
    assert held > 0

    home = await ask(emulator, user, user, "/start")
    stake = await tap(emulator, user, home, en(app, "home.button.stake"))
    shares = await tap(emulator, user, stake, en(app, "menu.stake.button", symbol="MAG7.ssi"))
    question, asked = await asked_by(emulator, user, shares, "Custom")
    assert en(app, "menu.custom.stake", symbol="MAG7.ssi") in html.unescape(question.params["text"])
    since = emulator.mark()
    emulator.send_text(user, user, "lots", reply_to=asked.result["message_id"])
    refused = await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)
    assert en(app, "error.amount.format", value="lots") in html.unescape(refused.params["text"]), refused.params["text"]
    asked = await force_reply(emulator, user, since)
    since = emulator.mark()
    emulator.send_text(user, user, "all", reply_to=asked.result["message_id"])
    offer = await emulator.wait_for("sendMessage", lambda c: c.chat_id == user and "Confirm" in str(c.params.get("reply_markup")),
                                    since=since, timeout=30)
    await tap(emulator, user, offer, "Confirm", until="Confirmed in block")
    assert await token_balance(app, mag7.token.address, address) == 0  # all of it staked

    shares = await tap(emulator, user, await tap(emulator, user, await ask(emulator, user, user, "/start"),
                                                 en(app, "home.button.stake")), en(app, "menu.stake.button", symbol="MAG7.ssi"))
    question, _ = await asked_by(emulator, user, shares, "Custom")
    await tap(emulator, user, question, "Cancel", until=en(app, "prompt.cancelled"))
    since = emulator.mark()
    emulator.send_text(user, user, "all")  # no question open: no offer
    home = await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)
    assert "Confirm" not in str(home.params.get("reply_markup")), home.params


async def test_telegram_settings_custom_journey(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Tap Settings, Buy amounts: a ForceReply asks; a bad answer is explained and asked again; good ones become the
    Buy screen's amounts."""
    user = 8852
    await telegram_user(emulator, user)
    home = await ask(emulator, user, user, "/start")
    settings = await tap(emulator, user, home, en(app, "home.button.settings"))
    question, asked = await asked_by(emulator, user, settings, en(app, "button.presets"))
    assert "Send up to 4 new amounts" in question.params["text"] and "/presets" not in question.params["text"]
    since = emulator.mark()
    emulator.send_text(user, user, "10 20.125", reply_to=asked.result["message_id"])
    refused = await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)
    assert en(app, "error.presets.precision", value="20.125") in html.unescape(refused.params["text"]), refused.params["text"]
    asked = await force_reply(emulator, user, since)
    since = emulator.mark()
    emulator.send_text(user, user, "15 30 60", reply_to=asked.result["message_id"])
    done = await emulator.wait_for("sendMessage", to_chat(user, en(app, "presets.set", amounts="15, 30, 60")), since=since, timeout=30)
    assert "force_reply" not in (done.params.get("reply_markup") or {})  # answered: no question open
    pick = await tap(emulator, user, await ask(emulator, user, user, "/start"), en(app, "home.button.buy"))
    amounts = await tap(emulator, user, pick, lambda t: t.startswith("MAG7.ssi"))
    assert [b["text"] for b in keyboard(amounts)][:4] == ["$15", "$30", "$60", "Custom"]
