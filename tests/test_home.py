"""The home screen and its tapped journeys: Telegram through the Bot API emulator, Discord through constructed
interactions, and the console; buying, selling and staking on the devnet without typing an amount; every step
edited in place; an expired quote; the Buy presets setting and its bad input."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest

from bot.app import App
from bot.frontends.adapters.console import ConsoleFrontend
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.split import split_lines
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.core.router import Outcome
from bot.storage.wallets import DEFAULT_BUY_PRESETS
from auxil.catalog import html_text
from auxil.discord import dm_press, dm_slash
from auxil.requests import labels
from auxil.trading import PIN, click, funded_user, say, token_balance
from devnet.operator import fund
from discord_fake import FakeDiscord
from telegram_emulator import BotApiEmulator, Call
from auxil.telegram import ask, force_reply, keyboard, tap, to_chat

UPDATE_MESSAGE = 7  # Discord's interaction callback type that edits the pressed message


def en(app: App, key: str, **params: Any) -> str:
    return app.services.catalogs.text(key, "en").format(**params) if params else app.services.catalogs.text(key, "en")


async def telegram_user(emulator: BotApiEmulator, user: int) -> None:
    """A Telegram user with a custodial wallet, its PIN and the faucet's USDC, as typed."""
    await ask(emulator, user, user, "/wallet new")
    await ask(emulator, user, user, f"/pin {PIN}")
    await ask(emulator, user, user, "/faucet")


async def test_telegram_buy_sell_stake_by_tapping(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    user = 8801
    assert json.loads(emulator.menu_button) == {"type": "commands"}  # the persistent menu button lists the commands
    await telegram_user(emulator, user)
    mag7 = app.profile.index("MAG7.ssi")
    home = await ask(emulator, user, user, "/start")
    assert html_text(app, "home.body") in home.params["text"]
    assert [b["text"] for b in keyboard(home)] == [en(app, f"home.button.{n}") for n in (
        "indexes", "buy", "sell", "wallet", "positions", "stake", "alerts", "points", "invite", "settings")]

    pick = await tap(emulator, user, home, en(app, "home.button.buy"))
    assert en(app, "menu.buy.pick") in pick.params["text"]
    amounts = await tap(emulator, user, pick, lambda t: t.startswith("MAG7.ssi"))
    assert [b["text"] for b in keyboard(amounts)][:5] == ["$25", "$50", "$100", "$250", "Custom"]
    back = await tap(emulator, user, amounts, en(app, "button.back"))  # Back: the index choice again, same message
    assert en(app, "menu.buy.pick") in back.params["text"]
    amounts = await tap(emulator, user, back, lambda t: t.startswith("MAG7.ssi"))
    quote = await tap(emulator, user, amounts, "$50")
    assert "Confirm within" in quote.params["text"]
    bought = await tap(emulator, user, quote, "Confirm", until="Confirmed in block")
    assert "for 50 USDC" in bought.params["text"]
    address = (await app.services.desks.home.sender((await app.services.users.seen("telegram", str(user))).id)).address
    held = await token_balance(app, mag7.token.address, address)
    assert held > 0

    home = await ask(emulator, user, user, "hello")  # plain text: the home screen, not "Unknown command"
    assert html_text(app, "home.body") in home.params["text"] and "Unknown command" not in home.params["text"]
    sell = await tap(emulator, user, home, en(app, "home.button.sell"))
    shares = await tap(emulator, user, sell, lambda t: t.startswith("MAG7.ssi:"))
    assert [b["text"] for b in keyboard(shares)][:4] == ["25%", "50%", "100%", "Custom"]
    quote = await tap(emulator, user, shares, "50%")
    await tap(emulator, user, quote, "Confirm", until="Confirmed in block")
    assert await token_balance(app, mag7.token.address, address) == held - held // 2

    home = await ask(emulator, user, user, "/start")
    stake = await tap(emulator, user, home, en(app, "home.button.stake"))
    shares = await tap(emulator, user, stake, en(app, "menu.stake.button", symbol="MAG7.ssi"))
    offer = await tap(emulator, user, shares, "100%")
    assert "Confirm within" in offer.params["text"] or "Confirm" in [b["text"] for b in keyboard(offer)]
    staked = await tap(emulator, user, offer, "Confirm", until="Confirmed in block")
    assert "staked" in staked.params["text"]
    assert await token_balance(app, mag7.token.address, address) == 0
    again = await tap(emulator, user, staked, en(app, "button.home")) if keyboard(staked) else None
    assert again is None or html_text(app, "home.body") in again.params["text"]


async def test_refresh_and_index_choice_and_language_edit_their_own_message(app: App, emulator: BotApiEmulator,
                                                                           telegram: TelegramFrontend) -> None:
    user = 8802
    quote = await ask(emulator, user, user, "/quote MAG7.ssi 100")
    fresh = await tap(emulator, user, quote, en(app, "button.refresh"))
    assert "MAG7.ssi" in fresh.params["text"] and keyboard(fresh)
    picker = await ask(emulator, user, user, "/lang")
    chosen = await tap(emulator, user, picker, lambda t: "中文" in t)
    assert "中文" in chosen.params["text"]


async def test_expired_quote_loses_confirm_and_offers_refresh(app: App) -> None:
    await funded_user(app)
    quoted = await say(app, "/buy MAG7.ssi 25")
    desk = app.services.desks.home
    desk.clock = lambda: time.time() + desk.settings.quote_ttl_seconds + 1
    expired = await click(app, quoted, "Confirm")
    assert expired.rendered.edit and expired.rendered.text.startswith("That quote expired")
    assert labels(expired) == ["Refresh"]
    desk.clock = time.time
    fresh = await click(app, expired, "Refresh")
    assert fresh.rendered.edit and "Confirm within" in fresh.rendered.text and "25 USDC" in fresh.rendered.text
    assert "Confirmed in block" in (await click(app, fresh, "Confirm")).rendered.text


def rpc_calls(app: App) -> int:
    return sum(provider.by_method["eth_call"] for provider in app.chain.providers)


async def test_home_costs_no_chain_call_within_a_block(app: App) -> None:
    _, address = await funded_user(app)
    head = app.services.market.head
    await head.poll_once()
    first = await say(app, "hi")
    block = head.head
    before = rpc_calls(app)
    again = await click(app, first, en(app, "home.button.settings"))
    home = await click(app, again, en(app, "button.home"))
    assert en(app, "home.body") in home.rendered.text and home.rendered.edit
    assert head.head == block and rpc_calls(app) == before  # nothing changed in the block: nothing read
    await fund(app.profile, address, usdc=Decimal(1000))  # a new block, with more in the wallet
    await head.poll_once()
    later = await click(app, await click(app, home, en(app, "home.button.settings")), en(app, "button.home"))
    assert rpc_calls(app) > before and later.rendered.text != home.rendered.text  # read again, and it shows


@pytest.mark.parametrize(("typed", "key"), [
    ("/presets abc", "error.presets.format"),
    ("/presets 10 1e3", "error.presets.format"),
    ("/presets 0", "error.presets.range"),
    ("/presets -5", "error.presets.range"),
    ("/presets 10000000000", "error.presets.range"),
    ("/presets 1 2 3 4 5", "error.presets.count"),
    ("/presets 10.005", "error.presets.precision"),
    ("/presets 10 20.125", "error.presets.precision"),
])
async def test_bad_presets_are_explained_and_change_nothing(app: App, typed: str, key: str) -> None:
    await say(app, "/presets 10 20")
    user = await app.services.users.seen("console", "u1")
    answer = await say(app, typed)
    assert answer.reply is not None and answer.reply.lines[0].key == key  # what was wrong, in the user's language
    assert "Nothing was changed" in answer.rendered.text and "{" not in answer.rendered.text
    assert await app.services.settings.get_buy_presets(user.id) == (Decimal(10), Decimal(20))


async def test_presets_set_the_buy_screen_amounts(app: App) -> None:
    await funded_user(app)
    user = await app.services.users.seen("console", "u1")
    assert await app.services.settings.get_buy_presets(user.id) == DEFAULT_BUY_PRESETS
    assert (await say(app, "/presets 10 20.5 $75")).reply.lines[0].key == "presets.set"  # type: ignore[union-attr]
    pick = await click(app, await say(app, "hello"), en(app, "home.button.buy"))
    amounts = await click(app, pick, next(label for label in labels(pick) if label.startswith("MAG7.ssi")))
    assert labels(amounts)[:4] == ["$10", "$20.50", "$75", "Custom"]
    custom = await click(app, amounts, "Custom")
    assert custom.rendered.ask is not None and custom.rendered.edit  # Custom asks for the amount
    assert custom.rendered.text == en(app, "menu.custom.buy", unit="USDC", index="MAG7.ssi")


async def test_discord_buy_by_tapping_edits_in_place(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    home = await dm_slash(frontend, rest, "start")
    await dm_press(frontend, rest, home, en(app, "home.button.wallet"))
    await dm_slash(frontend, rest, "wallet", action="new")
    await dm_slash(frontend, rest, "pin", pin=PIN)
    await dm_slash(frontend, rest, "faucet")
    home = await dm_slash(frontend, rest, "start")
    pick = await dm_press(frontend, rest, home, en(app, "home.button.buy"))
    assert en(app, "menu.buy.pick") in pick.content
    amounts = await dm_press(frontend, rest, pick, next(b["label"] for row in pick.body.get("data", pick.body)["components"]
                                                         for b in row["components"] if b["label"].startswith("MAG7.ssi")))
    quote = await dm_press(frontend, rest, amounts, "$50")
    assert "Confirm within" in quote.content
    done = await dm_press(frontend, rest, quote, "Confirm")
    assert "Confirmed in block" in done.content
    for answer in (pick, amounts, quote):
        assert answer.body.get("type") == UPDATE_MESSAGE or answer.method == "PATCH", answer


async def test_console_journey_by_number(app: App) -> None:
    await funded_user(app, "local")
    out = StringIO()
    console = ConsoleFrontend(app.router, stdin=StringIO(), stdout=out)
    console.locale = "en"

    async def choose(label: Callable[[str], bool] | str) -> str:
        matches = (lambda text: text == label) if isinstance(label, str) else label
        number = next(i for i, b in enumerate(console._buttons, 1) if matches(b.label))
        start = out.tell()
        await console.handle_line(str(number))
        return out.getvalue()[start:]

    await console.handle_line("/start")
    assert en(app, "home.body") in out.getvalue()
    await choose(en(app, "home.button.buy"))
    await choose(lambda t: t.startswith("MAG7.ssi"))
    assert "Confirm within" in await choose("$100")
    assert "Confirmed in block" in await choose("Confirm")


def test_long_answers_split_on_lines() -> None:
    text = "\n".join(f"line {i:04d} " + "x" * 80 for i in range(200))
    for limit in (4096, 2000):
        pieces = split_lines(text, limit)
        assert len(pieces) > 1 and all(len(p) <= limit for p in pieces)
        assert "\n".join(pieces) == text  # cut between lines only
    assert split_lines("short", 2000) == ["short"]
    assert split_lines("y" * 4100, 4096) == ["y" * 4096, "y" * 4]


async def answered_and_confirmed(emulator: BotApiEmulator, user: int, asked: Call, answer: str) -> Call:
    """Reply `answer` to the bot's question `asked`; the quote it sends, confirmed until its block."""
    since = emulator.mark()
    emulator.send_text(user, user, answer, reply_to=asked.result["message_id"])
    quote = await emulator.wait_for("sendMessage", lambda c: c.chat_id == user and "Confirm within" in c.params["text"],
                                    since=since, timeout=30)
    await tap(emulator, user, quote, "Confirm", until="Confirmed in block")
    return quote


async def test_custom_asks_for_the_amount_and_the_answer_is_quoted(app: App, emulator: BotApiEmulator,
                                                                  telegram: TelegramFrontend) -> None:
    """Custom on the Buy and Sell screens asks for the amount (a ForceReply): a bad answer is explained and asked
    again, changing nothing; a good one is quoted as `/buy` or `/sell` would quote it; "all" sells everything."""
    user = 8806
    await telegram_user(emulator, user)
    mag7 = app.profile.index("MAG7.ssi")
    home = await ask(emulator, user, user, "/start")
    pick = await tap(emulator, user, home, en(app, "home.button.buy"))
    amounts = await tap(emulator, user, pick, lambda t: t.startswith("MAG7.ssi"))
    since = emulator.mark()
    question = await tap(emulator, user, amounts, "Custom")
    assert en(app, "menu.custom.buy", unit="USDC", index="MAG7.ssi") in question.params["text"]
    asked = await force_reply(emulator, user, since)
    uid = (await app.services.users.seen("telegram", str(user))).id
    intents = app.services.desks.home.intents
    before = await intents.of_user(uid)
    for bad, why in (("abc", "error.amount.format"), ("-5", "error.amount.negative")):
        since = emulator.mark()
        emulator.send_text(user, user, bad, reply_to=asked.result["message_id"])
        refused = await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)
        assert en(app, why, value=bad) in html.unescape(refused.params["text"]), refused.params["text"]
        asked = await force_reply(emulator, user, since)  # asked again
    assert await intents.of_user(uid) == before  # nothing quoted, nothing stored
    quote = await answered_and_confirmed(emulator, user, asked, "75")
    assert "75 USDC" in quote.params["text"] and "MAG7.ssi" in quote.params["text"]
    address = (await app.services.desks.home.sender(uid)).address
    assert await token_balance(app, mag7.token.address, address) > 0

    home = await ask(emulator, user, user, "/start")
    sell = await tap(emulator, user, home, en(app, "home.button.sell"))
    shares = await tap(emulator, user, sell, lambda t: t.startswith("MAG7.ssi:"))
    since = emulator.mark()
    question = await tap(emulator, user, shares, "Custom")
    assert en(app, "menu.custom.sell", unit="MAG7.ssi", index="MAG7.ssi") in question.params["text"]
    asked = await force_reply(emulator, user, since)
    await answered_and_confirmed(emulator, user, asked, "all")
    assert await token_balance(app, mag7.token.address, address) == 0
