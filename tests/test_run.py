"""`indexbot run` as an operator starts it, and both front ends serving from one event loop."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import discord
import pytest

from bot.adapters.discord import DiscordFrontend
from bot.adapters.telegram import TelegramFrontend
from bot.app import App
from devnet.harness import Devnet
from discord_fake import CHANNEL_ID, GUILD_ID, dispatched, fake_discord, slash_payload, user_dict
from telegram_emulator import BotApiEmulator

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
ROOT = Path(__file__).resolve().parents[1]


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    env.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", **extra)
    return env


def test_run_without_a_token_says_what_to_set(tmp_path: Path) -> None:
    out = subprocess.run([INDEXBOT, "run"], capture_output=True, text=True, timeout=60, env=environment(tmp_path), cwd=ROOT)
    assert out.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in out.stderr and "DISCORD_BOT_TOKEN" in out.stderr


async def test_run_serves_telegram_and_stops_cleanly_on_sigterm(devnet: Devnet, tmp_path: Path) -> None:
    async with BotApiEmulator() as emulator:
        env = environment(
            tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path), TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url
        )
        proc = subprocess.Popen([INDEXBOT, "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            await emulator.wait_for("getUpdates", timeout=60)  # polling: the bot is up
            assert {c.params.get("language_code") for c in emulator.calls_to("setMyCommands")} == {None, "zh"}
            emulator.send_text(4242, 4242, "/quote MAG7.ssi 100")
            sent = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 4242, timeout=30)
            assert "Buy quote: MAG7.ssi" in sent.params["text"] and "Computed at block" in sent.params["text"]
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 30)
        finally:
            if proc.poll() is None:
                proc.kill()
        _, stderr = proc.communicate()
        assert code == 0, stderr
        assert "TEST-token" not in stderr  # the token is never logged


async def test_both_front_ends_in_one_event_loop(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    async with BotApiEmulator() as emulator, fake_discord() as rest:
        monkeypatch.setattr(discord.http.Route, "BASE", rest.api)
        telegram = TelegramFrontend(app, emulator.token, emulator.url)
        discord_front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
        await telegram.start()
        await discord_front.bot.login("test-token")  # REST and command sync; the gateway is not needed here
        try:
            emulator.send_text(7, 7, "/quote USSI 50")
            payload = slash_payload("quote", {"index": "USSI", "amount": "50"}, user_dict(940000000000000003, "carol"), channel_id=CHANNEL_ID)
            await dispatched(lambda: discord_front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
            on_telegram = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 7, timeout=30)
            on_discord = [c.content for c in rest.sent()]
        finally:
            await telegram.stop()
            await discord_front.bot.close()
        assert "Buy quote: USSI" in on_telegram.params["text"]
        assert any("Buy quote: USSI" in text for text in on_discord)


def test_a_busy_web_port_is_a_clear_refusal_not_a_hang(devnet: Devnet, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {**environment(tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path)), "INDEXBOT_WEB_PORT": str(port)}
        out = subprocess.run([INDEXBOT, "chat"], input="/start\n", capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert out.returncode == 2  # and it returned at all: the database thread and head tracker were closed
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
