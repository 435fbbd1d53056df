"""A button press through the Telegram path on the devnet: how long until the callback is answered and the message
edited, as the emulator sees the bot's calls.

    .venv/bin/python bench/buttons.py [--presses 40] [--gap 1.05]

The real bot (App on a fresh devnet and SQLite, the TelegramFrontend over python-telegram-bot, long polling the
local Bot API emulator). One user with a funded custodial wallet opens /start, then presses Settings and Home in
turn on the same message: each press is a button token looked up, an action run (Home reads the wallet's value,
kept per block), and an editMessageText. Time is taken from the moment the emulator hands the update out (the press
is injected while a getUpdates waits) to the bot's answerCallbackQuery and editMessageText arriving: the bot's time
plus two loopback HTTP requests. Presses are `--gap` seconds apart: the rate limiter keeps Telegram's one message a
second per chat, so presses closer together measure that pacing, not the bot. Prints p50 / p95 / max of both and the eth_calls the presses cost (aim: p95 of the
edit under 50 ms, and no eth_call while the block stays the same).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from bot.frontends.adapters.telegram import TelegramFrontend  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from quote import machine  # noqa: E402
from telegram_emulator import BotApiEmulator, Call  # noqa: E402

USER = 4242
PIN = "739146"


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def said(emulator: BotApiEmulator, line: str) -> Call:
    since = emulator.mark()
    emulator.send_text(USER, USER, line)
    return await emulator.wait_for("sendMessage", lambda c: c.chat_id == USER, since=since, timeout=60)


def data_of(shown: dict[str, object], label: str) -> str:
    rows = shown["reply_markup"]["inline_keyboard"]  # type: ignore[index]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)  # type: ignore[union-attr]


async def measure(app: App, emulator: BotApiEmulator, presses: int, gap: float) -> tuple[list[float], list[float], int]:
    for line in ("/wallet new", f"/pin {PIN}", "/faucet"):
        await said(emulator, line)
    home = await said(emulator, "/start")
    message_id = home.result["message_id"]
    catalogs = app.services.catalogs
    labels = [catalogs.text("home.button.settings", "en"), catalogs.text("button.home", "en")]
    shown = emulator.messages[(USER, message_id)]
    answered, edited = [], []
    calls_before = sum(p.by_method["eth_call"] for p in app.chain.providers)
    for i in range(presses):
        await asyncio.sleep(gap)
        since = emulator.mark()
        started = time.perf_counter()
        emulator.press(USER, USER, message_id, data_of(shown, labels[i % 2]))
        answer = await emulator.wait_for("answerCallbackQuery", since=since, timeout=30)
        answered.append(time.perf_counter() - started)
        await emulator.wait_for("editMessageText", lambda c: int(c.params["message_id"]) == message_id, since=since, timeout=30)
        edited.append(time.perf_counter() - started)
        assert answer is not None
        shown = emulator.messages[(USER, message_id)]
    calls = sum(p.by_method["eth_call"] for p in app.chain.providers) - calls_before
    return answered, edited, calls


async def run(presses: int, gap: float) -> None:
    with tempfile.TemporaryDirectory(prefix="indexbot-bench-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        app = await App.start(Config(home=home, chain=str(devnet.profile_path), database=home / "bench.sqlite3", web=WebSettings(port=0)))
        try:
            async with BotApiEmulator() as emulator:
                frontend = TelegramFrontend(app, emulator.token, emulator.url)
                await frontend.start()
                try:
                    answered, edited, calls = await measure(app, emulator, presses, gap)
                finally:
                    await frontend.stop()
        finally:
            await app.stop()
            await devnet.stop()
    ms = lambda v: f"{v * 1000:6.1f} ms"  # noqa: E731
    print(f"machine: {machine()}, {os.cpu_count()} CPUs")
    print(f"{presses} presses {gap:g} s apart (Settings / Home in turn, one message edited in place)")
    for name, values in (("callback answered", answered), ("message edited", edited)):
        print(f"  {name:18}: p50 {ms(statistics.median(values))}  p95 {ms(pct(values, 0.95))}  max {ms(max(values))}")
    print(f"  eth_calls during the presses: {calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--gap", type=float, default=1.05)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.presses, args.gap))


if __name__ == "__main__":
    main()
