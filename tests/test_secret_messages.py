"""Secrets typed into chats: every message carrying one is deleted whatever the answer, the reply says whether
it could be, and an exported key's deletion survives a crash.

Telegram through python-telegram-bot against the Bot API emulator (which deletes another's message in a group
only when the bot is an admin there, as Telegram does); Discord's `!` prefix commands through discord.py against
the fake REST API; the console through its front end; the crash through `indexbot run`, killed for real.
"""

from __future__ import annotations

import asyncio
import html
import signal
import sqlite3
import subprocess
import sys
import time
from functools import partial
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from bot.frontends.adapters.console import ConsoleFrontend
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from conftest import JOURNEY_LIMITS
from bot.core.messages import Msg, Reply
from bot.core.router import MAX_MESSAGE_CHARS
from bot.core.secrets import PIN_DIGITS, bare
from devnet.harness import Devnet
from discord_fake import CHANNEL_ID, FakeDiscord, dispatched, message_dict, user_dict
from telegram_emulator import BotApiEmulator, Call
from wallets.pin import MAX_DIGITS, MIN_DIGITS
from auxil.catalog import html_text as text  # as the Telegram adapter renders it
from auxil.cli import environment as bare_environment

environment = partial(bare_environment, LANG="C.UTF-8")  # the bot's output read as UTF-8 here

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
PHRASE = "legal winner thank year wave sausage worth useful legal winner thank yellow"  # a BIP-39 test vector
PIN = "4821"
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
ROOT = Path(__file__).resolve().parents[1]


def deleted(app: App, kind: str) -> str:
    return text(app, "secret.deleted", secret=Msg(f"secret.noun.{kind}"))


def kept(app: App, kind: str) -> str:
    return text(app, "secret.kept", secret=Msg(f"secret.noun.{kind}"))


async def say(emulator: BotApiEmulator, user: int, chat: int, line: str, chat_type: str = "private") -> tuple[int, Call]:
    """Send `line`; the id of the user's message and the bot's answer in that chat."""
    since = emulator.mark()
    update = emulator.send_text(user, chat, line, chat_type=chat_type)
    answer = await emulator.wait_for("sendMessage", lambda c: c.chat_id == chat, since=since, timeout=30)
    return int(emulator.injected[update]["message"]["message_id"]), answer


def deletions_of(emulator: BotApiEmulator, chat: int, message_id: int) -> list[Call]:
    return [c for c in emulator.calls_to("deleteMessage")
            if int(c.params["chat_id"]) == chat and int(c.params["message_id"]) == message_id]


def test_a_pin_by_shape_is_what_wallets_accept_as_a_pin() -> None:
    assert PIN_DIGITS == (MIN_DIGITS, MAX_DIGITS)
    assert bare(("4821",)) == "pin" and bare(("482",)) is None and bare(("4821", "4821")) is None
    assert bare(tuple(PHRASE.split())) == "phrase" and bare(tuple(PHRASE.split())[:11]) is None


# -- Telegram: refused messages carrying a secret are deleted, and the reply says so ----------------------------


REFUSED = [
    pytest.param(f"/wallet import {KEY} extra", "key", "error.args.extra", id="import-usage-error"),
    pytest.param(f"/wallet import {KEY} " + "x" * MAX_MESSAGE_CHARS, "key", "error.message.too_long", id="import-too-long"),
    pytest.param(f"/withdraw USDC 10 {PIN}", "pin", "error.withdraw.usage", id="withdraw-usage-error"),
    pytest.param(KEY, "key", "secret.bare", id="bare-key"),
    pytest.param(KEY[2:], "key", "secret.bare", id="bare-key-without-0x"),
    pytest.param(PHRASE, "phrase", "secret.bare", id="bare-recovery-phrase"),
]


@pytest.mark.parametrize(("line", "kind", "refusal"), REFUSED)
async def test_a_refused_message_carrying_a_secret_is_deleted_and_the_reply_says_so(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, line: str, kind: str, refusal: str
) -> None:
    user = 5101
    message_id, answer = await say(emulator, user, user, line)
    assert deletions_of(emulator, user, message_id), "the message carrying the secret was not deleted"
    assert (user, message_id) not in emulator.messages
    said = answer.params["text"]
    assert said.startswith(deleted(app, kind) + "\n")
    first_words = app.services.catalogs.text(refusal, "en").split("{")[0][:20]
    assert html.escape(first_words) in said  # and why it was refused
    assert KEY[2:] not in said and PIN not in said and "legal winner" not in said  # never echoed


async def test_a_pin_typed_after_the_withdraw_button_is_deleted(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """The Withdraw button once answered with a hint that said /withdraw "asks for your PIN", and a user then typed the
    PIN alone; it starts the withdrawal step by step now (refused, before any step, until the wallet has a PIN), and a
    PIN typed alone is still deleted."""
    user = 5102
    await say(emulator, user, user, "/wallet new")
    _, wallet = await say(emulator, user, user, "/wallet")
    rows = wallet.params["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == text(app, "button.withdraw"))
    since = emulator.mark()
    emulator.press(user, user, wallet.result["message_id"], data)
    refused = await emulator.wait_for("editMessageText", lambda c: c.chat_id == user, since=since)
    assert refused.params["text"] == text(app, "error.pin.required")

    message_id, answer = await say(emulator, user, user, PIN)
    assert deletions_of(emulator, user, message_id) and (user, message_id) not in emulator.messages
    assert answer.params["text"] == deleted(app, "pin") + "\n" + text(app, "secret.bare")


async def test_a_pin_in_a_successful_command_is_deleted_and_the_reply_says_so(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend
) -> None:
    user = 5103
    await say(emulator, user, user, "/wallet new")
    message_id, answer = await say(emulator, user, user, f"/pin {PIN}")
    assert deletions_of(emulator, user, message_id)
    assert answer.params["text"] == deleted(app, "pin") + "\n" + text(app, "pin.set")


async def test_a_secret_is_deleted_at_once_not_when_a_slow_answer_is_ready(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend
) -> None:
    release = asyncio.Event()

    async def slow(caller: Any) -> Reply:  # e.g. a chain that takes its time
        await release.wait()
        return Reply.of(Msg("help.title"))

    app.router.command("testslow", slow)
    await telegram.stop()  # handlers are bound when the front end starts
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    try:
        user, since = 5104, emulator.mark()
        emulator.send_text(user, user, f"/testslow {KEY}")
        await emulator.wait_for("deleteMessage", lambda c: c.chat_id == user, since=since)
        assert emulator.calls_to("sendMessage", since) == []  # gone before the answer is
        release.set()
        answer = await emulator.wait_for("sendMessage", lambda c: c.chat_id == user, since=since)
        assert answer.params["text"] == deleted(app, "key") + "\n" + text(app, "help.title")
    finally:
        await front.stop()


# -- Telegram: when the platform refuses the deletion, the reply says so ----------------------------------------


async def test_not_an_admin_in_a_group_the_reply_says_the_pin_is_still_there(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend
) -> None:
    user, group = 5201, -5201
    message_id, answer = await say(emulator, user, group, f"/wallet export {PIN}", chat_type="supergroup")
    [refused] = deletions_of(emulator, group, message_id)
    assert refused.result["error_code"] == 400 and (group, message_id) in emulator.messages  # Telegram said no: still there
    assert answer.params["text"] == "\n".join(
        [kept(app, "pin"), text(app, "secret.public.pin"), text(app, "error.private_only")])


async def test_an_admin_in_a_group_deletes_it_and_still_calls_the_pin_seen(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend
) -> None:
    user, group = 5202, -5202
    emulator.set_admin(group, emulator.me["id"])
    message_id, answer = await say(emulator, user, group, f"/wallet import {KEY}", chat_type="supergroup")
    assert deletions_of(emulator, group, message_id) and (group, message_id) not in emulator.messages
    assert answer.params["text"] == "\n".join(
        [deleted(app, "key"), text(app, "secret.public.key"), text(app, "error.private_only")])
    assert "reply_parameters" not in answer.params  # no reply quoting a deleted message


async def test_a_message_telegram_will_not_delete_is_said_to_be_still_there(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend
) -> None:
    user = 5203
    emulator.fail_next("deleteMessage", 400, "Bad Request: message can't be deleted")  # e.g. older than 48 hours
    message_id, answer = await say(emulator, user, user, f"/withdraw USDC 10 {PIN}")
    assert deletions_of(emulator, user, message_id)
    assert answer.params["text"] == kept(app, "pin") + "\n" + text(app, "error.withdraw.usage")


# -- Discord prefix commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("refused", [False, True], ids=["deleted", "refused"])
async def test_discord_prefix_withdraw_usage_error_deletes_the_pin_or_says_it_could_not(
    app: App, rest: FakeDiscord, refused: bool
) -> None:
    server = rest
    if refused:  # a bot may never delete what others wrote in a DM
        server.refused["DELETE"] = (403, {"message": "Cannot execute action on a DM channel", "code": 50003})
    front = DiscordFrontend(app, "test-token")
    try:
        await front.bot.login("test-token")
        server.calls.clear()
        payload = message_dict(f"!withdraw USDC 10 {PIN}", user_dict(5301), CHANNEL_ID)
        await dispatched(lambda: front.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
        [delete] = server.where("DELETE", f"/channels/{CHANNEL_ID}/messages/{payload['id']}")
        [sent] = server.sent()
        catalogs = app.services.catalogs
        line = catalogs.render_msg(Msg("secret.kept" if refused else "secret.deleted", {"secret": Msg("secret.noun.pin")}),
                                   "en", front.markup.escape)
        assert sent.content.startswith(line + "\n") and PIN not in sent.content
        assert delete.method == "DELETE"
    finally:
        await front.bot.close()


async def test_discord_key_pasted_in_a_dm_without_the_prefix_is_answered_with_what_to_do(
    app: App, rest: FakeDiscord
) -> None:
    server = rest
    server.refused["DELETE"] = (403, {"message": "Cannot execute action on a DM channel", "code": 50003})
    front = DiscordFrontend(app, "test-token")
    try:
        await front.bot.login("test-token")
        server.calls.clear()
        chatter = message_dict("hello there", user_dict(5304), CHANNEL_ID)
        await dispatched(lambda: front.bot._connection.parse_message_create(chatter))  # type: ignore[arg-type]
        assert server.calls == []  # plain chat without the prefix is still not for the bot
        payload = message_dict(KEY, user_dict(5304), CHANNEL_ID)
        await dispatched(lambda: front.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
        assert server.where("DELETE", f"/messages/{payload['id']}")
        [sent] = server.sent()
        catalogs, escape = app.services.catalogs, front.markup.escape
        assert sent.content == "\n".join([
            catalogs.render_msg(Msg("secret.kept", {"secret": Msg("secret.noun.key")}), "en", escape),
            catalogs.render_msg(Msg("secret.bare"), "en", escape)])
    finally:
        await front.bot.close()


# -- the console: nothing to delete, but a secret is never echoed -----------------------------------------------


@pytest.mark.parametrize("line", [KEY, PHRASE, PIN])
@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_console_never_echoes_a_pasted_secret(app: App, line: str) -> None:
    out = StringIO()
    console = ConsoleFrontend(app.router, stdin=StringIO(), stdout=out)
    await console.handle_line(line)
    shown = out.getvalue()
    assert shown.strip() == app.services.catalogs.text("secret.bare", console.router.catalogs.negotiate(console.locale))
    assert KEY[2:12] not in shown and "legal" not in shown and PIN not in shown


# -- an exported key's deletion survives a crash ---------------------------------------------------------------


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_an_exported_key_is_deleted_after_a_kill_and_a_restart(chain: Devnet, tmp_path: Path) -> None:
    user = 5401
    async with BotApiEmulator() as emulator:
        env = environment(tmp_path, INDEXBOT_CHAIN=str(chain.profile_path), TELEGRAM_BOT_TOKEN=emulator.token,
                          TELEGRAM_API_URL=emulator.url)

        def run() -> subprocess.Popen[str]:
            return subprocess.Popen([INDEXBOT, "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        proc = run()
        try:
            await emulator.wait_for("getUpdates", timeout=90)  # polling: the bot is up
            await say(emulator, user, user, "/wallet new")
            await say(emulator, user, user, f"/pin {PIN}")
            _, exported = await say(emulator, user, user, f"/wallet export {PIN}")
            assert "0x" in exported.params["text"]
            key_message = int(exported.result["message_id"])
            db = sqlite3.connect(tmp_path / "indexbot.sqlite3")
            try:
                for _ in range(100):  # stored right after Telegram answered the send
                    rows = db.execute("SELECT chat_id, message_id FROM pending_deletions").fetchall()
                    if rows:
                        break
                    await asyncio.sleep(0.05)
                assert rows == [(str(user), str(key_message))]
            finally:
                db.close()
        finally:
            proc.kill()  # SIGKILL: no timer, no clean-up
            await asyncio.to_thread(proc.wait, 30)
        assert proc.returncode == -signal.SIGKILL
        assert not deletions_of(emulator, user, key_message) and (user, key_message) in emulator.messages

        db = sqlite3.connect(tmp_path / "indexbot.sqlite3")
        with db:  # the bot stays down past the key's minute
            db.execute("UPDATE pending_deletions SET due_at = due_at - 61")
        db.close()

        since = emulator.mark()
        proc = run()
        try:
            await emulator.wait_for("deleteMessage", lambda c: int(c.params["message_id"]) == key_message,
                                    since=since, timeout=90)
            assert (user, key_message) not in emulator.messages  # the emulator shows it deleted
            await emulator.wait_for("getUpdates", since=since, timeout=60)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        db = sqlite3.connect(tmp_path / "indexbot.sqlite3")
        try:
            assert db.execute("SELECT COUNT(*) FROM pending_deletions").fetchone() == (0,)
        finally:
            db.close()


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_discord_reply_to_delete_later_is_deleted_after_a_crash_and_a_restart(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """`!wallet export` in a DM is a plain channel message: its deletion is stored, and a restart carries it out."""
    import discord
    import yarl
    from discord.gateway import DiscordWebSocket

    async def shown_briefly(caller: Any) -> Reply:
        return Reply.of(Msg("help.title"), delete_after=60)

    app.router.command("testbrief", shown_briefly)
    server = await FakeDiscord().start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL("ws://127.0.0.1:9/"))  # no gateway needed
    front = DiscordFrontend(app, "test-token")
    try:
        await front.start()
        payload = message_dict("!testbrief", user_dict(5303), CHANNEL_ID)
        await dispatched(lambda: front.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
        [sent] = [c for c in server.sent() if c.path == f"/channels/{CHANNEL_ID}/messages"]
        [pending] = await app.services.deletions.of("discord")
        assert pending.chat_id == str(CHANNEL_ID) and pending.due_at > time.time() + 50
        for _, timer in front.bot.expiry._timers.values():  # the process dies: its timers with it
            timer.cancel()
        front.bot.expiry._timers.clear()
        await front.stop()
        assert server.where("DELETE", "/messages/") == []

        async with app.db.transaction() as tx:  # the bot stays down past the minute
            await tx.execute("UPDATE pending_deletions SET due_at = due_at - 61")
        front = DiscordFrontend(app, "test-token")
        await front.start()
        [delete] = server.where("DELETE", f"/channels/{CHANNEL_ID}/messages/{pending.message_id}")
        assert await app.services.deletions.of("discord") == []
    finally:
        await front.stop()
        await server.stop()
