"""`indexbot run` as an operator starts it, and both front ends serving from one event loop."""

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import discord
import pytest

from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from devnet.harness import Devnet
from discord_fake import CHANNEL_ID, GUILD_ID, dispatched, fake_discord, slash_payload, user_dict
from telegram_emulator import BotApiEmulator
from auxil.cli import environment, stderr_until

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
ROOT = Path(__file__).resolve().parents[1]


def test_run_without_a_token_says_what_to_set(tmp_path: Path) -> None:
    out = subprocess.run([INDEXBOT, "run"], capture_output=True, text=True, timeout=60, env=environment(tmp_path), cwd=ROOT)
    assert out.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in out.stderr and "DISCORD_BOT_TOKEN" in out.stderr


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_run_serves_telegram_and_stops_cleanly_on_sigterm(devnet: Devnet, tmp_path: Path) -> None:
    async with BotApiEmulator() as emulator:
        env = environment(
            tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path), TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url
        )
        proc = subprocess.Popen([INDEXBOT, "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            await emulator.wait_for("getUpdates", timeout=60)  # polling: the bot is up
            assert {c.params.get("language_code") for c in emulator.calls_to("setMyCommands")} == {None} | {
                d.name.split("_")[0] for d in (ROOT / "locales").iterdir() if d.name != "en"}  # a menu per language
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


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
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


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
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


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_a_rejected_token_is_one_line_and_never_printed(devnet: Devnet, tmp_path: Path) -> None:
    """Telegram answers 401 to getMe: `indexbot run` exits 1 with one line saying so, and no output holds the token
    (python-telegram-bot's InvalidToken repeats it: "The token `…` was rejected")."""
    token = "654321:REJECTED-secret-token"
    async with BotApiEmulator() as emulator:  # it knows another token: 401 Unauthorized
        env = environment(tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path), TELEGRAM_BOT_TOKEN=token,
                          TELEGRAM_API_URL=emulator.url, INDEXBOT_LOG_LEVEL="DEBUG")
        out = await asyncio.to_thread(subprocess.run, [INDEXBOT, "run"], capture_output=True, text=True, timeout=120,
                                      env=env, cwd=ROOT)
        assert [c.method for c in emulator.calls] == []  # refused at the door: the wrong token never reached a method
    assert out.returncode == 1, out.stderr
    assert "Telegram refused the bot token (401/404): check TELEGRAM_BOT_TOKEN" in out.stderr
    assert "Traceback (most recent call last)" in out.stderr  # at DEBUG, scrubbed like every record
    written = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", "")]
    for secret in ("REJECTED-secret-token", "REJECTED"):
        assert secret not in out.stdout and secret not in out.stderr
        assert not [text for text in written if secret in text]


RETRYING = "telegram: cannot connect (NetworkError); trying again"


def run_unreachable(devnet: Devnet, tmp_path: Path, token: str) -> tuple[subprocess.Popen[str], int]:
    """`indexbot run` with nothing listening at its TELEGRAM_API_URL (a free port, closed again), and that port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = environment(tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path), TELEGRAM_BOT_TOKEN=token,
                      TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    return subprocess.Popen([INDEXBOT, "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True), port


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_a_network_failure_at_first_connection_is_retried(devnet: Devnet, tmp_path: Path) -> None:
    """Nothing listens at TELEGRAM_API_URL when `indexbot run` starts: it says so, waits, tries again, and serves
    once the Bot API is there."""
    emulator = BotApiEmulator()
    proc, port = run_unreachable(devnet, tmp_path, emulator.token)  # refused until the emulator opens that port
    try:
        seen = await stderr_until(proc, RETRYING)
        await emulator.start(port)
        await emulator.wait_for("getUpdates", timeout=60)  # connected on a later try, and polling
        emulator.send_text(4343, 4343, "/help")
        await emulator.wait_for("sendMessage", lambda c: c.chat_id == 4343, timeout=30)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        await emulator.stop()
    _, rest = proc.communicate()
    assert code == 0, "".join(seen) + rest
    assert "TEST-token" not in "".join(seen) + rest


@pytest.mark.platform  # starts the bot as a process, its Bot API unreachable
async def test_sigterm_while_the_front_end_still_tries_to_connect_stops_in_order(devnet: Devnet, tmp_path: Path) -> None:
    """An operator stops a bot that cannot reach Telegram yet (or one still starting up): it stops at once and in
    order, exit 0. The signal used to be handled only once start-up was over: a SIGTERM before then killed the
    process outright (exit -15; a fleet test saw it when a web process was still reconciling as the test ended)."""
    proc, _ = run_unreachable(devnet, tmp_path, "123456:TEST-token")
    try:
        seen = await stderr_until(proc, RETRYING)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, rest = proc.communicate()
    assert code == 0, "".join(seen) + rest
    assert "Traceback" not in rest, rest


@pytest.mark.parametrize("command", ["run", "chat"])
def test_an_unreachable_chain_at_start_up_names_no_key(devnet: Devnet, tmp_path: Path, command: str) -> None:
    """No RPC endpoint answers at start-up: one line, exit 1, and the keyed URL (its key) is nowhere in the output
    or the log file (the chain's error text carries the URL)."""
    key = "k3yS3cr3tAbcdEf0123456789"
    env = environment(tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path), TELEGRAM_BOT_TOKEN="123456:TEST-token",
                      INDEXBOT_RPC_URLS=f"http://127.0.0.1:9/v2/{key}")
    out = subprocess.run([INDEXBOT, command], input="", capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 1, out.stderr
    assert "no RPC endpoint of the chain answered" in out.stderr and "Traceback" not in out.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log")) if command == "chat" else ""
    assert key not in out.stdout + out.stderr + logs


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_a_token_discord_refuses_ends_the_start_up_with_one_line(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discord answers 401 at login: `indexbot run`'s connection gives up at once (no retry) and its one line names
    the variable to check, never the token."""
    from bot import cli

    token = "MTk4NjIy.Gx-refused-Secret-Token"
    async with fake_discord() as rest:
        monkeypatch.setattr(discord.http.Route, "BASE", rest.api)
        rest.refuse("GET", "/users/@me", 401, 0, "401: Unauthorized")
        front = DiscordFrontend(app, token)
        try:
            with pytest.raises(discord.LoginFailure) as refused:
                await asyncio.wait_for(cli._connect(front), 30)
        finally:
            await front.bot.close()
        assert len(rest.where("GET", "/users/@me")) == 1  # refused: not tried again
    line = cli._refusal(refused.value)
    assert line == "Discord refused the bot token: check DISCORD_BOT_TOKEN"
    assert "refused-Secret" not in line + str(refused.value)


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_a_discord_login_that_fails_for_a_network_reason_is_retried(app: App, monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Nothing answers at Discord's API when the front end connects: `indexbot run` says so, waits and tries again,
    and logs in once Discord is there."""
    from bot import cli

    monkeypatch.setattr(cli, "CONNECT_BACKOFF", (0.1, 0.2))
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")  # connection refused
    async with fake_discord() as rest:
        front = DiscordFrontend(app, "test-token", gateway=False)
        connecting = asyncio.create_task(cli._connect(front))
        try:
            while not any("discord: cannot connect (ClientConnectorError); trying again" in r.getMessage()
                          for r in caplog.records):
                assert not connecting.done(), connecting  # it gave up instead of trying again
                await asyncio.sleep(0.05)
            monkeypatch.setattr(discord.http.Route, "BASE", rest.api)  # Discord is reachable again
            await asyncio.wait_for(connecting, 30)
            assert rest.where("GET", "/users/@me")  # logged in on a later try
        finally:
            connecting.cancel()
            await front.stop()
