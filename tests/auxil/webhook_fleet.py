"""Real `indexbot run --role …` processes behind the Bot API emulator: a fleet taking Telegram's updates by webhook."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from telegram_emulator import BotApiEmulator, Call
from auxil.cli import free_ports

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WebhookFleet:
    """The processes (process n is `procs[n]`, its web address `urls[n]`, its Bot API calls recorded with
    `via` = f"p{n}") and those the test killed on purpose (their exit code is not checked)."""

    urls: list[str]
    procs: list[subprocess.Popen[str]]
    killed: set[int]

    def kill(self, n: int) -> None:
        self.killed.add(n)
        self.procs[n].send_signal(signal.SIGKILL)


@asynccontextmanager
async def webhook_fleet(emulator: BotApiEmulator, envs: list[dict[str, str]],
                        roles: list[str]) -> AsyncIterator[WebhookFleet]:
    """One `indexbot run --role <roles[n]>` process per role on `envs[n]`, on ports of their own. Stopped with SIGTERM
    at the end: each one not killed must exit 0, and no log may hold the token or the webhook secret."""
    ports = free_ports(len(roles))
    procs = []
    for n, (env, port, role) in enumerate(zip(envs, ports, roles)):
        env.update(TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url_via(f"p{n}"),
                   INDEXBOT_WEB_PORT=str(port))
        Path(env["INDEXBOT_HOME"]).mkdir(parents=True)
        with open(Path(env["INDEXBOT_HOME"]) / "stderr.log", "w") as log:
            procs.append(subprocess.Popen([INDEXBOT, "run", "--role", role], env=env, cwd=ROOT,
                                          stdout=subprocess.DEVNULL, stderr=log, text=True))
    crew = WebhookFleet([f"http://127.0.0.1:{port}" for port in ports], procs, set())
    try:
        yield crew
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(proc.wait, 30) for proc in procs]
    logs = [(Path(env["INDEXBOT_HOME"]) / "stderr.log").read_text() for env in envs[:len(roles)]]
    assert [code for n, code in enumerate(codes) if n not in crew.killed] == [0] * (len(roles) - len(crew.killed)), logs
    assert not any(emulator.token in text for text in logs)  # never in a log line
    secrets = {env["TELEGRAM_WEBHOOK_SECRET"] for env in envs if "TELEGRAM_WEBHOOK_SECRET" in env}
    assert not any(secret in text for secret in secrets for text in logs)


def replies(emulator: BotApiEmulator, chat: int) -> list[Call]:
    """The messages sent to `chat`, in the order they reached the emulator."""
    return [c for c in emulator.calls_to("sendMessage") if c.chat_id == chat]
