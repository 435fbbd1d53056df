"""Updates per second through the real Telegram front end, against a bare python-telegram-bot echo bot.

Starts its own devnet, the local Bot API emulator (tests/telegram_emulator.py) and the bot; injects N
`/quote MAG7.ssi 100` updates from many chats at once and times first injection -> last sendMessage. Then, on the
same emulator, a bare PTB app whose one CommandHandler replies with the text. Both are compared twice, each
time under the same limits:

    telegram   the emulator enforces Telegram's flood limits (30/s overall, 1/s per private chat with a burst of
               3) and both bots keep them with the same rate limiter (bot/frontends/adapters/telegram_limits.py): the
               ratio says whether the bot loses anything to the echo app where Telegram sets the pace;
    unlimited  the limits scaled by --unlimited-scale (1000: 30,000/s) on both sides, out of the way: the ratio
               is the bot's own cost per update (router, storage, the quote) against PTB's.

Prints both rates, their ratios and the machine.

    .venv/bin/python bench/updates.py [--n 500] [--chats 100] [--distinct] [--profile] [--unlimited-scale 1000]

By default every update asks the same quote, so after the first all are served from the per-block quote cache
(as repeated quotes in one block are in production). `--distinct` gives every update its own amount, so
every one is a cold quote with its own Multicall3 round trip to anvil. `--profile` profiles the unlimited run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from telegram import Update  # noqa: E402
from telegram.ext import Application, CommandHandler, ContextTypes  # noqa: E402

from bot.frontends.adapters.telegram import CONCURRENT_UPDATES, TelegramFrontend  # noqa: E402
from bot.frontends.adapters.telegram_limits import TelegramRateLimiter  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, TelegramLimits, WebSettings  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from quote import machine  # noqa: E402
from telegram_emulator import BotApiEmulator, Call, EmulatedLimits  # noqa: E402

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
    return (len(sent) / (sent[-1].at - started) if sent else 0.0), len(sent), quotes


async def measure(
    emulator: BotApiEmulator, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
    n: int, chats: int, distinct: bool, first_chat: int, profile: cProfile.Profile | None = None,
) -> tuple[float, int, int]:
    """Start a bot, warm it up, time one burst of n updates from chats of its own, stop it."""
    await start()
    try:
        await burst(emulator, WARMUP, WARMUP, first_chat + 900_000, distinct=False)
        if profile is not None:
            profile.enable()
        try:
            return await burst(emulator, n, chats, first_chat, distinct)
        finally:
            if profile is not None:
                profile.disable()
    finally:
        await stop()


def echo_app(emulator: BotApiEmulator, concurrency: int, scale: float) -> Application:  # type: ignore[type-arg]
    """The baseline: PTB with one CommandHandler that replies with the message text, held to the same limits by
    the same rate limiter as the bot."""

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    application = (
        Application.builder().token(emulator.token)
        .base_url(f"{emulator.url}/bot").base_file_url(f"{emulator.url}/file/bot")
        .concurrent_updates(concurrency)  # the same setting as TelegramFrontend, for a fair comparison
        .rate_limiter(TelegramRateLimiter(TelegramLimits(scale=scale)))
        .job_queue(None).build()
    )
    application.add_handler(CommandHandler("quote", echo))
    return application


Run = tuple[float, int, int, int]  # updates/s, answered, quotes, eth_calls


async def compare(app: App, n: int, chats: int, concurrency: int, distinct: bool, scale: float,
                  profile: cProfile.Profile | None) -> tuple[Run, Run]:
    """The bot, then the echo app, on one emulator enforcing the limits times `scale`, both keeping them."""
    async with BotApiEmulator(limits=EmulatedLimits(scale=scale)) as emulator:
        frontend = TelegramFrontend(app, emulator.token, emulator.url, concurrent_updates=concurrency,
                                    limits=TelegramLimits(scale=scale))
        calls_before = app.chain.method_counts()["eth_call"]
        full, answered, quotes = await measure(emulator, frontend.start, frontend.stop, n, chats, distinct, 100_000,
                                               profile)
        chain_calls = app.chain.method_counts()["eth_call"] - calls_before
        echo = echo_app(emulator, concurrency, scale)

        async def start_echo() -> None:
            await echo.initialize()
            await echo.start()
            await echo.updater.start_polling(poll_interval=0.0, timeout=10)  # type: ignore[union-attr]

        async def stop_echo() -> None:
            await echo.updater.stop()  # type: ignore[union-attr]
            await echo.stop()
            await echo.shutdown()

        bare, bare_answered, _ = await measure(emulator, start_echo, stop_echo, n, chats, distinct, 2_000_000)
        too_many = emulator.too_many
    if too_many:
        print(f"  the emulator answered 429 {too_many} times at scale {scale:g}", file=sys.stderr)
    return (full, answered, quotes, chain_calls), (bare, bare_answered, 0, 0)


async def run(n: int, chats: int, concurrency: int, distinct: bool, unlimited: float, profile_to: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="indexbot-bench-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        app = await App.start(Config(home=home, chain=str(devnet.profile_path), database=home / "bench.sqlite3", web=WebSettings(port=0)))
        profile = cProfile.Profile() if profile_to else None
        try:
            limited = await compare(app, n, chats, concurrency, distinct, 1.0, None)
            free = await compare(app, n, chats, concurrency, distinct, unlimited, profile)
        finally:
            await app.stop()
            await devnet.stop()
    report(n, chats, concurrency, distinct, [("telegram's limits", limited), (f"limits x{unlimited:g}", free)])
    if profile is not None and profile_to is not None:
        profile.dump_stats(profile_to)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


def report(n: int, chats: int, concurrency: int, distinct: bool, runs: list[tuple[str, tuple[Run, Run]]]) -> None:
    print(f"machine: {machine()}, {os.cpu_count()} CPUs")
    amounts = "a distinct amount each (cold quotes)" if distinct else "the same amount (per-block cache)"
    print(f"updates: {n} x {LINE.format(amount='<usdc>')!r}, {amounts}, from {chats} chats, concurrent_updates={concurrency}")
    for name, ((full, answered, quotes, chain_calls), (bare, bare_answered, _, _)) in runs:
        print(f"{name}, both bots held to them by the same rate limiter:")
        print(f"  full bot (TelegramFrontend + router + chain quote): {full:8.1f} updates/s ({answered}/{n} answered, {quotes} quotes, {chain_calls} eth_calls)")
        print(f"  bare PTB echo (CommandHandler -> reply_text):         {bare:8.1f} updates/s ({bare_answered}/{n} answered)")
        print(f"  ratio full / bare: {full / bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="updates per run (default 500)")
    parser.add_argument("--chats", type=int, default=100, help="distinct private chats (default 100)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENT_UPDATES,
                        help=f"PTB concurrent_updates for both bots (default {CONCURRENT_UPDATES}, the adapter's)")
    parser.add_argument("--distinct", action="store_true", help="a different amount per update: every quote is cold")
    parser.add_argument("--profile", type=Path, nargs="?", const=Path("bench-updates.prof"), default=None,
                        help="cProfile the unlimited full-bot burst and write stats here (default bench-updates.prof)")
    parser.add_argument("--unlimited-scale", type=float, default=1000.0,
                        help="how far the limits are scaled out of the way in the second comparison (default 1000)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.n, args.chats, args.concurrency, args.distinct, args.unlimited_scale, args.profile))


if __name__ == "__main__":
    main()
