"""No log line carries a secret, at any level: the journeys that move keys and PINs through Telegram, Discord and
the terminal, run at DEBUG with every logger writing and the bot configured with both tokens and keyed RPC URLs,
and the scrubbing of payloads whoever logs them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yarl
from discord.gateway import DiscordWebSocket
from eth_account import Account

from bot.config import Secret
from devnet import operator
from bot.frontends.adapters.console import ConsoleFrontend
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from conftest import JOURNEY_LIMITS, make_config
from discord_fake import DM_CHANNEL_ID, FakeDiscord, message_dict, press_payload, slash_payload, user_dict
from auxil.discord import shown
from devnet.harness import Devnet
from bot.logs import QUIET, THIRD_PARTY, public_hash, scrub, setup_logging
from telegram_emulator import BotApiEmulator
from auxil.catalog import html_text as text  # as the Telegram adapter renders it
from auxil.telegram import ask, press_and_wait_edit, to_chat

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
PIN = "739146"
TOKEN = "123456:TEST-token"


@contextmanager
def debug_logging(path: Path, secrets: Iterable[str]) -> Iterator[Path]:
    """Every logger at DEBUG (the root's level; no logger of ours or of a library set quieter by the test)
    writing through the bot's own set-up, told `secrets` as `indexbot` tells it the configured ones, into the file
    `path`; the previous logging restored afterwards."""
    root = logging.getLogger()
    names = [n for n in logging.root.manager.loggerDict if isinstance(logging.getLogger(n), logging.Logger)]
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in names})
    for name in names:
        logging.getLogger(name).setLevel(logging.NOTSET)  # whatever a library or an earlier test set: inherit DEBUG
    setup_logging(logging.DEBUG, secrets, file=path)
    try:
        yield path
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    with debug_logging(tmp_path / "logs" / "debug.log", [TOKEN]) as path:
        yield path


def test_third_party_loggers_are_capped_whatever_the_level(debug_log: Path) -> None:
    """At DEBUG a library's DEBUG line (its payloads) is dropped even when its own logger was set to DEBUG."""
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.DEBUG)  # as a library might do itself
        logging.getLogger(f"{name}.child").debug("payload of %s", name)
        logging.getLogger(f"{name}.child").info("info of %s", name)
    logging.getLogger("bot.something").debug("ours at debug")
    written = debug_log.read_text()
    assert "payload of" not in written and "ours at debug" in written
    assert all(f"info of {name}" in written for name in THIRD_PARTY if name not in QUIET)


@pytest.mark.parametrize("line", [
    f"Calling Bot API endpoint `sendMessage` with parameters `{{'chat_id': 5, 'text': 'Your key: {KEY}'}}`",
    f'{{"update_id": 9, "message": {{"text": "/pin {PIN}", "chat": {{"id": 5}}}}}}',
    f"{{'message': {{'text': '{PIN}', 'chat': {{'id': 5}}}}}}",  # a PIN typed alone after a button
    f"{{'text': 'it\\'s {PIN}'}}",
    f"POST /bot{TOKEN}/sendMessage text={PIN}&chat_id=5",
    f"handling /withdraw USDC 10 0x{'cd' * 20} {PIN}",
    f"handling /pin@indexbot_test_bot 1234 {PIN}",
    f"handling /wallet export {PIN}",
    f"ValueError: not a key: {KEY[2:].upper()}",
    f"https://base-mainnet.example/v2/{KEY[2:]}",
])
def test_payloads_are_scrubbed_by_shape(line: str) -> None:
    shown = scrub(line, [TOKEN])
    for secret in (KEY[2:], PIN, TOKEN):
        assert secret.lower() not in shown.lower(), shown


INTERACTION_TOKEN = "aW50ZXJhY3Rpb246OTMwMDAwMDAwMDAwMDAwMDM3"


@pytest.mark.parametrize(("line", "secret"), [  # discord.py's DEBUG lines: gateway events and REST requests
    (f"For Shard ID None: WebSocket Event: {{'op': 0, 't': 'INTERACTION_CREATE', 'd': {{'type': 2, 'token': "
     f"'{INTERACTION_TOKEN}', 'data': {{'name': 'pin', 'options': [{{'name': 'pin', 'type': 3, 'value': '{PIN}'}}]}}}}}}",
     PIN),
    (f"For Shard ID None: WebSocket Event: {{'op': 0, 't': 'INTERACTION_CREATE', 'd': {{'type': 2, 'token': "
     f"'{INTERACTION_TOKEN}', 'data': {{'name': 'faucet'}}}}}}", INTERACTION_TOKEN),
    (f"For Shard ID None: WebSocket Event: {{'op': 0, 't': 'MESSAGE_CREATE', 'd': {{'content': '!pin {PIN} 246813', "
     "'channel_id': '5'}}", PIN),
    (f'POST https://discord.com/api/v10/channels/5/messages with {{"content": "your PIN {PIN} is set"}} has returned 200',
     PIN),
    (f"handling !withdraw USDC 10 0x{'cd' * 20} {PIN}", PIN),
    (f"handling !wallet export {PIN}", PIN),
])
def test_discord_payloads_are_scrubbed_by_shape(line: str, secret: str) -> None:
    """What the cap on discord.py's loggers keeps out of the log is scrubbed too, should a record get through."""
    assert secret not in scrub(line, [TOKEN]), scrub(line, [TOKEN])


def test_scrubbing_keeps_what_carries_no_secret() -> None:
    line = f"intent 12 step 1 sent to {Account.from_key(KEY).address} in block 77; /wallet new; /quote MAG7 10"
    assert scrub(line, [TOKEN]) == line


def test_a_record_that_cannot_be_formatted_is_still_scrubbed(debug_log: Path) -> None:
    logging.getLogger("telegram.ext").warning("update %s %s", {"text": f"/pin {PIN}"})  # one argument short
    written = debug_log.read_text()
    assert PIN not in written and "WARNING telegram.ext: update" in written


def test_the_log_file_is_the_owners_alone(debug_log: Path) -> None:
    assert debug_log.stat().st_mode & 0o777 == 0o600
    assert debug_log.parent.stat().st_mode & 0o777 == 0o700



def test_a_profiles_keyed_rpc_url_learned_after_set_up_is_hidden(debug_log: Path) -> None:
    """RPC URLs from a chain profile (or its override file) are known only once App.start loads it."""
    from bot.config import url_secrets
    from bot.logs import redact_more

    keyed = "https://base-mainnet.g.alchemy.com/v2/Pr0fileKeyAbcdef123456"
    redact_more(url_secrets(keyed))
    logging.getLogger("bot.chain.client").warning("endpoint %s failed: %s", keyed, "Pr0fileKeyAbcdef123456 rejected")
    written = debug_log.read_text()
    assert "Pr0fileKeyAbcdef123456" not in written and "endpoint *** failed: *** rejected" in written


def test_the_hash_of_a_transaction_the_bot_signed_stays_readable() -> None:
    """A transaction hash has a private key's shape: the ones the bot signed itself are registered and shown, so an
    operator can follow a trade in the log; any other 64-hex string (a key, a hash someone handed in) goes."""
    signed = Account.sign_transaction({"type": 2, "chainId": 31337, "nonce": 0, "to": Account.from_key(KEY).address, "value": 1,
                                       "gas": 21_000, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}, KEY)
    ours = "0x" + bytes(signed.hash).hex()
    line = f"intent 7 sent {ours}; key {KEY}; reported {'ab' * 32}"
    assert ours not in scrub(line)  # not ours until registered
    public_hash(ours)
    shown = scrub(line)
    assert ours in shown and KEY[2:] not in shown and "ab" * 32 not in shown
    assert ours.upper()[2:] in scrub(ours.upper()[2:])  # whatever case a library prints it in


async def test_the_hermes_api_key_never_reaches_a_log_line(debug_log: Path, chain: Devnet, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variable a profile's [pyth] names holds an API key: hidden like the RPC URLs' keys, once
    the bot has read its profiles."""
    secret = "pyth-api-key-5f3a9c"
    monkeypatch.setenv("PYTH_API_KEY", secret)
    app = await App.start(make_config(chain, tmp_path / "home"))
    try:
        logging.getLogger("bot.market.prices.hermes").warning("GET %s?api_key=%s failed", "https://hermes.example/v2", secret)
    finally:
        await app.stop()
    written = debug_log.read_text()
    assert "GET https://hermes.example/v2?api_key=" in written and secret not in written


# -- the journeys of every front end at DEBUG, with every configured secret ---------------------------------------

KEYS = {platform: "0x" + hashlib.sha256(platform.encode()).hexdigest() for platform in ("telegram", "discord", "console")}
NEW_PIN = "246813"
TELEGRAM_TOKEN = "777001:AAH-telegram-Secret-Token"
DISCORD_TOKEN = "MTk4NjIyNDgzNDcx.Gx-discord-Secret-Token"
RPC_PASSWORD, RPC_PATH_KEY, RPC_QUERY_KEY = "Rpc-Passw0rd-5e1f", "PathKey0a1b2c3d4e5f", "Qu3ryKey9z8y7x6w"
TO = "0x" + "cd" * 20


def keyed_rpc_urls(chain: Devnet) -> tuple[str, str]:
    """A provider's URLs as an operator configures them: a first endpoint that is down (its key in the path: the
    bot logs that it failed and moves on) and the devnet behind a user, a password and an API key in the query."""
    host = chain.url.removeprefix("http://").rstrip("/")
    return (f"http://rpcuser:{RPC_PASSWORD}@127.0.0.1:9/v2/{RPC_PATH_KEY}",
            f"http://rpcuser:{RPC_PASSWORD}@{host}/?apikey={RPC_QUERY_KEY}")


async def telegram_journey(app: App) -> None:
    """Import a funded key, PIN, export, withdraw with Confirm, a wrong PIN, a PIN change, a bare key: through python-telegram-bot
    and the Bot API emulator."""
    key, user = KEYS["telegram"], 7801
    async with BotApiEmulator(token=TELEGRAM_TOKEN) as emulator:
        front = TelegramFrontend(app, TELEGRAM_TOKEN, emulator.url, limits=JOURNEY_LIMITS)
        await front.start()
        try:
            imported = await ask(emulator, user, user, f"/wallet import {key}")
            assert text(app, "wallet.imported") in imported.params["text"]
            assert (await ask(emulator, user, user, f"/pin {PIN}")).params["text"].endswith(text(app, "pin.set"))
            exported = await ask(emulator, user, user, f"/wallet export {PIN}")
            assert key in exported.params["text"]  # the key did cross the Bot API
            offer = await ask(emulator, user, user, f"/withdraw USDC 10 {TO} {PIN}")
            done = await press_and_wait_edit(emulator, user, offer, "Confirm")
            assert "Confirmed in block" in done.params["text"], done.params["text"]
            await ask(emulator, user, user, "/wallet export 000000")  # a wrong PIN, refused
            await ask(emulator, user, user, f"/pin {PIN} {NEW_PIN}")
            since = emulator.mark()
            emulator.send_text(user, user, key)  # a bare key pasted in the private chat
            await emulator.wait_for("sendMessage", to_chat(user), since=since)
        finally:
            await front.stop()  # deletes the exported key's message at once


async def discord_journey(app: App, rest: FakeDiscord) -> None:
    """The same through discord.py, every interaction and message delivered down its gateway socket (where
    discord.py logs each event it reads): slash commands and a press in the DM, `!pin` and a bare key as DM
    messages."""
    key, user = KEYS["discord"], user_dict(940000000000007801, "dana")
    front = DiscordFrontend(app, DISCORD_TOKEN)
    await front.start()
    try:
        await asyncio.wait_for(front.bot.wait_until_ready(), 30)

        async def interaction(payload: dict[str, Any], containing: str = "") -> Any:
            await rest.dispatch("INTERACTION_CREATE", payload)
            return await rest.wait_for(lambda c: payload["token"] in c.path and bool(c.content) and containing in shown(c.content))

        async def slash(name: str, **options: str) -> Any:
            return await interaction(slash_payload(name, options, user, guild_id=None, channel_id=DM_CHANNEL_ID))

        async def message(content: str) -> Any:
            since = time.monotonic()
            await rest.dispatch("MESSAGE_CREATE", message_dict(content, user, DM_CHANNEL_ID))
            return await rest.wait_for(lambda c: c.at >= since and c.method == "POST"
                                       and c.path == f"/channels/{DM_CHANNEL_ID}/messages")

        assert "Wallet imported" in shown((await slash("wallet", action="import", value=key)).content)
        assert shown((await slash("pin", pin=PIN)).content).startswith("PIN set")
        assert key in (await slash("wallet", action="export", value=PIN)).content
        offer = (await slash("withdraw", asset="USDC", amount="10", address=TO, pin=PIN)).body
        offer = offer.get("data", offer)
        confirm = next(b["custom_id"] for row in offer["components"] for b in row["components"] if b["label"] == "Confirm")
        shown_offer = message_dict(offer["content"], rest.bot, DM_CHANNEL_ID, components=offer["components"])
        await interaction(press_payload(confirm, shown_offer, user, guild_id=None), "Confirmed in block")
        await slash("wallet", action="export", value="000000")  # a wrong PIN, refused
        await message(f"!pin {PIN} {NEW_PIN}")
        await message(key)  # a bare key pasted in the DM
    finally:
        await front.stop()


async def console_journey(app: App) -> None:
    """The same in the terminal chat (`indexbot chat`), the Confirm button pressed by its number."""
    key, out = KEYS["console"], StringIO()
    console = ConsoleFrontend(app.router, stdin=StringIO(), stdout=out, user_id="journey")
    for line in (f"/wallet import {key}", f"/pin {PIN}", f"/wallet export {PIN}",
                 f"/withdraw USDC 10 {TO} {PIN}", "1", "/wallet export 000000", f"/pin {PIN} {NEW_PIN}", key):
        await console.handle_line(line)
    assert key in out.getvalue() and "Confirmed in block" in out.getvalue(), out.getvalue()


async def test_no_journey_on_any_front_end_writes_a_secret_at_debug(chain: Devnet, tmp_path: Path, rest: FakeDiscord,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot configured as an operator would (both tokens, keyed RPC URLs) logs at DEBUG with every logger
    writing, while a user on Telegram, one on Discord and one in the terminal each import a key, set a PIN, export
    the key, withdraw, mistype the PIN, change it and paste the key bare: no key, PIN, token or RPC credential is
    in the log."""
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(rest.gateway))
    config = make_config(chain, tmp_path / "home", telegram_token=Secret(TELEGRAM_TOKEN),
                         discord_token=Secret(DISCORD_TOKEN), rpc_urls=keyed_rpc_urls(chain))
    with debug_logging(tmp_path / "logs" / "debug.log", config.secrets) as log_file:
        logging.getLogger("bot.journey").debug("journey starts")  # proves DEBUG lines are written, whatever ran before
        app = await App.start(config)
        try:
            for key in KEYS.values():  # funded as /faucet would (the devnet's faucet sends through the first RPC URL)
                await operator.fund(chain.profile, Account.from_key(key).address, usdc=Decimal(100), eth=Decimal(1))
            await telegram_journey(app)
            await discord_journey(app, rest)
            await console_journey(app)
        finally:
            await app.stop()
        for handler in logging.getLogger().handlers:
            handler.flush()
        written = log_file.read_text()

    # it did log, at DEBUG, from every front end, and the keyed RPC endpoints were used (the first one failed)
    for seen in ("DEBUG bot.journey: journey starts", "telegram: polling as", "INFO discord.client: logging in",
                 "bot.chain.client: rpc 0 failed"):
        assert seen in written, f"{seen!r} is not in the log:\n{written}"
    keys = [form for key in KEYS.values() for form in (key, key[2:], key[2:].upper())]
    for secret in (*keys, PIN, NEW_PIN, TELEGRAM_TOKEN, TELEGRAM_TOKEN.split(":")[1], DISCORD_TOKEN,
                   DISCORD_TOKEN.split(".")[1], RPC_PASSWORD, RPC_PATH_KEY, RPC_QUERY_KEY):
        assert secret.lower() not in written.lower(), f"{secret} is in the log:\n" + "\n".join(
            line for line in written.splitlines() if secret.lower() in line.lower())
