"""No log line carries a secret, at any level: the journeys that move keys and PINs through Telegram, run at
DEBUG with every logger writing, and the scrubbing of payloads whoever logs them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from conftest import make_config
from devnet.harness import Devnet
from bot.logs import QUIET, THIRD_PARTY, public_hash, scrub, setup_logging
from telegram_emulator import BotApiEmulator
from auxil.catalog import html_text as text  # as the Telegram adapter renders it
from auxil.telegram import ask, press_and_wait_edit, to_chat

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
PIN = "739146"
TOKEN = "123456:TEST-token"


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every logger at DEBUG (the root's level; no logger of ours or of a library set quieter by the test)
    writing through the bot's own set-up into a file; the previous logging restored afterwards."""
    root = logging.getLogger()
    names = [n for n in logging.root.manager.loggerDict if isinstance(logging.getLogger(n), logging.Logger)]
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in names})
    for name in names:
        logging.getLogger(name).setLevel(logging.NOTSET)  # whatever a library or an earlier test set: inherit DEBUG
    path = tmp_path / "logs" / "debug.log"
    setup_logging(logging.DEBUG, [TOKEN], file=path)
    try:
        yield path
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


async def test_key_pin_and_token_never_reach_a_debug_log(debug_log: Path, app: App, emulator: BotApiEmulator,
                                                        telegram: TelegramFrontend) -> None:
    """Import a wallet by its key, set a PIN, export the key, withdraw with the PIN, a wrong PIN, a PIN change:
    the key, both PINs and the bot token are in the chat, never in the log."""
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    logging.getLogger("bot.journey").debug("journey starts")  # proves DEBUG lines are written, whatever ran before
    user, new_pin = 7801, "246813"
    imported = await ask(emulator, user, user, f"/wallet import {KEY}")
    assert text(app, "wallet.imported") in imported.params["text"]
    await ask(emulator, user, user, "/faucet")
    assert (await ask(emulator, user, user, f"/pin {PIN}")).params["text"].endswith(text(app, "pin.set"))
    exported = await ask(emulator, user, user, f"/wallet export {PIN}")
    assert KEY in exported.params["text"]  # the key did cross the Bot API
    to = "0x" + "cd" * 20
    offer = await ask(emulator, user, user, f"/withdraw USDC 10 {to} {PIN}")
    done = await press_and_wait_edit(emulator, user, offer, "Confirm")
    assert "Confirmed in block" in done.params["text"], done.params["text"]
    await ask(emulator, user, user, "/wallet export 000000")  # a wrong PIN, refused
    await ask(emulator, user, user, f"/pin {PIN} {new_pin}")
    since = emulator.mark()
    emulator.send_text(user, user, KEY)  # a bare key pasted in the private chat
    await emulator.wait_for("sendMessage", to_chat(user), since=since)
    await telegram.stop()  # deletes the exported key's message at once

    for handler in logging.getLogger().handlers:
        handler.flush()
    written = debug_log.read_text()
    assert "DEBUG bot.journey: journey starts" in written and "telegram: polling as" in written  # it did log, at DEBUG
    for secret in (KEY, KEY[2:], KEY[2:].upper(), PIN, new_pin, TOKEN, TOKEN.split(":")[1]):
        assert secret.lower() not in written.lower(), f"{secret} is in the log:\n" + "\n".join(
            line for line in written.splitlines() if secret.lower() in line.lower())


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
