"""Issue 18's "done": a brand-new user buys, sells, stakes, sets a price alert and withdraws by tapping, typing
nothing but amounts, an address and the PIN, in each shipped language, on Telegram (the real python-telegram-bot
over HTTP to the Bot API emulator, on the devnet); each step checked on the chain, every message in the user's
language.

The whole journey takes about 5 s a language on an idle machine, so every language runs all of it.
"""

from __future__ import annotations

import html
import time
from decimal import Decimal

import pytest

from bot.app import App
from bot.core.amounts import from_base_units
from bot.core.messages import Amount
from bot.frontends.adapters.telegram import TelegramFrontend
from auxil.journey import Journey, english_pieces, units
from auxil.trading import PIN, token_balance
from devnet.operator import fund
from telegram_emulator import BotApiEmulator, Call

LOCALES = ("en", "zh_CN", "zh_TW", "ko", "ja", "vi", "ru", "es")
DEPOSIT = Decimal(1000)  # USDC sent to the new wallet from outside (a deposit): the bot takes it from there
OUTSIDE = "0x000000000000000000000000000000000000dEaD"  # where the withdrawal goes


async def funded(app: App, journey: Journey) -> tuple[int, str]:
    """The journey's user (key) and wallet address, after a deposit of DEPOSIT USDC and 1 ETH for gas."""
    uid = (await app.services.users.seen("telegram", str(journey.user))).id
    address = (await app.services.desks.home.sender(uid)).address
    await fund(app.profile, address, usdc=DEPOSIT, eth=Decimal(1))
    return uid, address


async def first_half(app: App, journey: Journey) -> tuple[int, str, Call]:
    """/start, a wallet and its PIN, a deposit, Buy $50, Sell 50 %: each checked on the chain. (user key, wallet
    address, the sale's confirmation)"""
    home = await journey.wallet_with_pin()
    uid, address = await funded(app, journey)
    usdc, mag7 = app.profile.usdc, app.profile.index("MAG7.ssi").token
    before = await token_balance(app, usdc.address, address)
    bought = await journey.buy(home, 50)
    assert await token_balance(app, usdc.address, address) == before - units(50, usdc.decimals)
    held = await token_balance(app, mag7.address, address)
    assert held > 0
    sold = await journey.sell(await journey.home(bought), 50)
    assert await token_balance(app, mag7.address, address) == held - held * 50 // 100
    return uid, address, sold


def typed_only_answers(journey: Journey, expected: list[str]) -> None:
    """The user typed /start (Telegram's Start button sends it) and then nothing but `expected`."""
    assert journey.typed == ["/start", *expected]


@pytest.mark.parametrize("locale", LOCALES)
async def test_new_user_taps_through_everything(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend,
                                                locale: str) -> None:
    journey = Journey(app, emulator, 8900 + LOCALES.index(locale), locale)
    began = time.monotonic()
    uid, address, sold = await first_half(app, journey)
    mag7, usdc = app.profile.index("MAG7.ssi").token, app.profile.usdc

    home = await journey.home(sold)
    positions = await journey.tap(home, journey.label("home.button.positions"))
    held = await token_balance(app, mag7.address, address)
    shown = app.services.catalogs.format_param(Amount(from_base_units(held, mag7.decimals), 8), locale, html.escape)
    assert shown in positions.params["text"] and "MAG7.ssi" in positions.params["text"]  # what the chain says is held

    staked = await journey.stake(await journey.home(positions), 25)
    assert await token_balance(app, mag7.address, address) == held - held * 25 // 100

    made = await journey.price_alert(await journey.home(staked), "1000")
    [alert] = await app.services.price_alerts.of_user(uid)
    assert (alert.token, alert.kind, alert.threshold) == ("MAG7.ssi", "above", Decimal(1000))
    assert made.params["text"]

    outside = await token_balance(app, usdc.address, OUTSIDE)
    mine = await token_balance(app, usdc.address, address)
    await journey.withdraw(await journey.home(made), usdc.symbol, "10", OUTSIDE)
    assert await token_balance(app, usdc.address, OUTSIDE) == outside + units(10, usdc.decimals)
    assert await token_balance(app, usdc.address, address) == mine - units(10, usdc.decimals)

    # typed: the PIN twice (chosen and repeated), the alert's line, the withdrawal's amount, address and PIN
    typed_only_answers(journey, [PIN, PIN, "1000", "10", OUTSIDE, PIN])
    assert journey.english_leaks() == []
    print(f"{locale}: full journey {time.monotonic() - began:.1f} s")


def test_an_english_sentence_in_another_language_is_found() -> None:
    """The check the journeys make can fail: an English sentence the Russian catalog translates is a leak there."""
    assert english_pieces("ru")["PIN set. Export and withdraw now ask for it."] == "pin.set"
    assert english_pieces("en") == {}
