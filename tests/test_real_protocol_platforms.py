"""Issue 14's user-facing answers on Telegram and Discord, as a new user meets them: where each price comes from
(`/indexes MAG7 sources`), trading paused while the L2 sequencer is down and resumed after its grace period, a
staked balance partly locked by a voter explained before anything is signed, and a revert the bot cannot
decode named by its selector instead of "something went wrong".

Telegram runs through python-telegram-bot against the local Bot API emulator (tests/test_telegram.py's `ask`,
`press_and_wait_edit`); Discord through discord.py with constructed interactions and REST on the loopback fake
(tests/auxil/discord.py's `dm_slash`, `dm_press`). The chain side is the real devnet.
"""

from __future__ import annotations

import re
from decimal import Decimal

from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from devnet import operator
from devnet.harness import Devnet
from discord_fake import FakeDiscord
from telegram_emulator import BotApiEmulator
from auxil.discord import dm_press, dm_slash, shown
from auxil.telegram import ask, press_and_wait_edit, text_of as said

PAUSED = "Trading is paused: the network's sequencer is down"
GRACE = "Trading is paused: the network's sequencer came back at"


def address_in(text: str) -> str:
    found = re.search(r"0x[0-9a-fA-F]{40}", text)
    assert found is not None, text
    return found.group(0)


async def sequencer(app: App, chain: Devnet, down: bool) -> None:
    await operator.set_sequencer(chain.profile, down)
    await app.head.poll_once()  # the bot's next read is at the flipping block


async def test_price_sources_and_the_sequencer_on_telegram(app: App, chain: Devnet, emulator: BotApiEmulator,
                                                           telegram: TelegramFrontend) -> None:
    user = 8801
    sources = said(await ask(emulator, user, user, "/indexes MAG7 sources"))
    assert sources.startswith("<b>MAG7.ssi: where each price comes from</b>")
    assert re.search(r"BTC: \$95,000\.00 from Chainlink, \d+ s old", sources), sources
    assert re.search(r"DOGE: \$0\.16 from Pyth, \d+ s old", sources), sources  # through the devnet's Hermes stand-in

    await ask(emulator, user, user, "/wallet new")
    await ask(emulator, user, user, "/pin 4821")
    await ask(emulator, user, user, "/faucet")
    await sequencer(app, chain, down=True)
    quote = said(await ask(emulator, user, user, "/quote MAG7.ssi 100"))
    assert "The network's sequencer is down (since " in quote  # a quote says so
    refused = await ask(emulator, user, user, "/buy MAG7.ssi 100")
    assert said(refused).startswith(PAUSED) and "Nothing was sent" in said(refused)
    assert not refused.params.get("reply_markup")  # nothing to confirm
    await sequencer(app, chain, down=False)
    assert said(await ask(emulator, user, user, "/buy MAG7.ssi 100")).startswith(GRACE)
    await operator.advance(chain.url, chain.profile.sequencer.grace_seconds + 1 if chain.profile.sequencer else 0)
    await app.head.poll_once()
    bought = await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/buy MAG7.ssi 100"), "Confirm")
    assert bought.params["text"].startswith("Confirmed in block")


async def test_a_locked_stake_is_explained_on_telegram(app: App, chain: Devnet, emulator: BotApiEmulator,
                                                      telegram: TelegramFrontend) -> None:
    user = 8802
    address = address_in((await ask(emulator, user, user, "/wallet new")).params["text"])
    await ask(emulator, user, user, "/pin 4821")
    await ask(emulator, user, user, "/faucet")
    await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/buy MAG7.ssi 100"), "Confirm")
    await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/stake MAG7 0.5"), "Confirm")
    await operator.lock_staked(chain.profile, "sMAG7.ssi", address, Decimal("0.3"))  # a voter locks part of it
    await app.head.poll_once()
    sent_before = app.chain.method_counts().get("eth_sendRawTransaction", 0)
    refused = await ask(emulator, user, user, "/unstake MAG7 0.4")
    assert said(refused) == (
        "You cannot unstake 0.4: 0.3 of your 0.5 sMAG7.ssi is locked (held by a vote or another locker until it "
        "releases it), so 0.2 can be unstaken now. Nothing was sent.")
    assert not refused.params.get("reply_markup")
    assert app.chain.method_counts().get("eth_sendRawTransaction", 0) == sent_before
    offer = await ask(emulator, user, user, "/unstake MAG7 all")  # what can move, and what stays locked
    assert said(offer).startswith("Unstake 0.2 sMAG7.ssi")
    assert "0.3 sMAG7.ssi of yours is locked by a vote or another locker and stays staked; 0.2 can be unstaken now." in said(offer)
    done = await press_and_wait_edit(emulator, user, offer, "Confirm")
    assert said(done).startswith("Confirmed in block"), said(done)


async def test_price_sources_the_sequencer_and_a_lock_in_a_discord_dm(app: App, chain: Devnet, frontend: DiscordFrontend,
                                                                      rest: FakeDiscord) -> None:
    sources = shown((await dm_slash(frontend, rest, "indexes", index="MAG7.ssi", view="sources")).content)
    assert sources.startswith("**MAG7.ssi: where each price comes from**")
    assert re.search(r"ADA: \$0\.45 from Pyth, \d+ s old", sources), sources

    address = address_in((await dm_slash(frontend, rest, "wallet", action="new")).content)
    await dm_slash(frontend, rest, "pin", pin="4821")
    await dm_slash(frontend, rest, "faucet")
    await sequencer(app, chain, down=True)
    refused = shown((await dm_slash(frontend, rest, "buy", index="MAG7.ssi", amount="100")).content)
    assert refused.startswith(PAUSED) and "Nothing was sent" in refused
    await sequencer(app, chain, down=False)
    await operator.advance(chain.url, chain.profile.sequencer.grace_seconds + 1 if chain.profile.sequencer else 0)
    await app.head.poll_once()
    await dm_press(frontend, rest, await dm_slash(frontend, rest, "buy", index="MAG7.ssi", amount="100"), "Confirm")
    await dm_press(frontend, rest, await dm_slash(frontend, rest, "stake", asset="MAG7.ssi", amount="0.5"), "Confirm")
    await operator.lock_staked(chain.profile, "sMAG7.ssi", address, Decimal("0.5"))
    await app.head.poll_once()
    refused = await dm_slash(frontend, rest, "unstake", asset="MAG7.ssi", amount="0.1")
    assert shown(refused.content).startswith("All of your 0.5 sMAG7.ssi is locked") and not refused.custom_ids
