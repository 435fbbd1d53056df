"""Updates per second through the real Telegram front end, against a bare python-telegram-bot echo bot.

Starts its own devnet, the local Bot API emulator (tests/telegram_emulator.py) and the bot; injects N
`/quote MAG7.ssi 100` updates from many chats at once and times first injection -> last sendMessage. Then, in the
same run and on the same emulator, a bare PTB app whose one CommandHandler replies with the text. Prints both
rates, their ratio and the machine.

    .venv/bin/python bench/updates.py [--n 500] [--chats 100] [--distinct] [--profile]

By default every update asks the same quote, so after the first all are served from the per-block quote cache
(as repeated quotes in one block are in production). `--distinct` gives every update its own amount, so
every one is a cold quote with its own Multicall3 round trip to anvil.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import platform
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from telegram import Update  # noqa: E402
from telegram.ext import Application, CommandHandler, ContextTypes  # noqa: E402

from bot.adapters.telegram import CONCURRENT_UPDATES, TelegramFrontend  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from telegram_emulator import BotApiEmulator, Call  # noqa: E402

LINE = "/quote MAG7.ssi {amount}"
WARMUP = 10
IDLE_SECONDS = 10.0


async def replies(emulator: BotApiEmulator, n: int, since: int) -> list[Call]:
    """The sendMessage calls from `since` on, once there are n or none came for IDLE_SECONDS."""
    while len(sent := emulator.calls_to("sendMessage", since)) < n:
        try:
            await emulator.wait_count("sendMessage", len(sent) + 1, timeout=IDLE_SECONDS, since=since)
        except TimeoutError:
            print(f"  only {len(sent)}/{n} updates were answered (see the log above)", file=sys.stderr)
            break
    return sent


async def burst(emulator: BotApiEmulator, n: int, chats: int, first_chat: int, distinct: bool) -> tuple[float, int, int]:
    """Inject n updates round-robin over `chats` private chats; (answered/s, answered, replies that are quotes)."""
    since = emulator.mark()
    started = time.perf_counter()
    for i in range(n):
        chat = first_chat + i % chats
        emulator.send_text(chat, chat, LINE.format(amount=f"{100 + i / 100:.2f}" if distinct else "100"))
    sent = await replies(emulator, n, since)
    quotes = sum("MAG7.ssi" in str(c.params.get("text")) for c in sent)
    return len(sent) / (sent[-1].at - started), len(sent), quotes


async def measure(
    emulator: BotApiEmulator, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
    n: int, chats: int, distinct: bool, profile: cProfile.Profile | None = None,
) -> tuple[float, int, int]:
    """Start a bot, warm it up, time one burst of n updates, stop it."""
    await start()
    try:
        await burst(emulator, WARMUP, WARMUP, 900_000, distinct=False)
        if profile is not None:
            profile.enable()
        try:
            return await burst(emulator, n, chats, 100_000, distinct)
        finally:
            if profile is not None:
                profile.disable()
    finally:
        await stop()


def echo_app(emulator: BotApiEmulator, concurrency: int) -> Application:  # type: ignore[type-arg]
    """The baseline: PTB with one CommandHandler that replies with the message text."""

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    application = (
        Application.builder().token(emulator.token)
        .base_url(f"{emulator.url}/bot").base_file_url(f"{emulator.url}/file/bot")
        .concurrent_updates(concurrency)  # the same setting as TelegramFrontend, for a fair comparison
        .job_queue(None).build()
    )
    application.add_handler(CommandHandler("quote", echo))
    return application


async def run(n: int, chats: int, concurrency: int, distinct: bool, profile_to: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="indexbot-bench-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        app = await App.start(Config(home=home, chain=str(devnet.profile_path), database=home / "bench.sqlite3", web=WebSettings(port=0)))
        try:
            async with BotApiEmulator() as emulator:
                profile = cProfile.Profile() if profile_to else None
                frontend = TelegramFrontend(app, emulator.token, emulator.url, concurrent_updates=concurrency)
                calls_before = app.chain.method_counts()["eth_call"]
                full, answered, quotes = await measure(emulator, frontend.start, frontend.stop, n, chats, distinct, profile)
                chain_calls = app.chain.method_counts()["eth_call"] - calls_before
                echo = echo_app(emulator, concurrency)

                async def start_echo() -> None:
                    await echo.initialize()
                    await echo.start()
                    await echo.updater.start_polling(poll_interval=0.0, timeout=10)  # type: ignore[union-attr]

                async def stop_echo() -> None:
                    await echo.updater.stop()  # type: ignore[union-attr]
                    await echo.stop()
                    await echo.shutdown()

                bare, bare_answered, _ = await measure(emulator, start_echo, stop_echo, n, chats, distinct)
        finally:
            await app.stop()
            await devnet.stop()
    report(n, chats, concurrency, distinct, (full, answered, quotes, chain_calls), (bare, bare_answered))
    if profile is not None and profile_to is not None:
        profile.dump_stats(profile_to)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


def report(n: int, chats: int, concurrency: int, distinct: bool, full_run: tuple[float, int, int, int], bare_run: tuple[float, int]) -> None:
    (full, answered, quotes, chain_calls), (bare, bare_answered) = full_run, bare_run
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    amounts = "a distinct amount each (cold quotes)" if distinct else "the same amount (per-block cache)"
    print(f"updates: {n} x {LINE.format(amount='<usdc>')!r}, {amounts}, from {chats} chats, concurrent_updates={concurrency}")
    print(f"full bot (TelegramFrontend + router + chain quote): {full:8.1f} updates/s ({answered}/{n} answered, {quotes} quotes, {chain_calls} eth_calls)")
    print(f"bare PTB echo (CommandHandler -> reply_text):         {bare:8.1f} updates/s ({bare_answered}/{n} answered)")
    print(f"ratio full / bare: {full / bare:.2f}  (target >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="updates per run (default 500)")
    parser.add_argument("--chats", type=int, default=100, help="distinct private chats (default 100)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENT_UPDATES,
                        help=f"PTB concurrent_updates for both bots (default {CONCURRENT_UPDATES}, the adapter's)")
    parser.add_argument("--distinct", action="store_true", help="a different amount per update: every quote is cold")
    parser.add_argument("--profile", type=Path, nargs="?", const=Path("bench-updates.prof"), default=None,
                        help="cProfile the full-bot burst and write stats here (default bench-updates.prof)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.n, args.chats, args.concurrency, args.distinct, args.profile))


if __name__ == "__main__":
    main()
