"""One user cannot slow everyone: 50 users' replies with and without one user flooding, at Telegram's limits.

Starts its own devnet, the bot and the local Bot API emulator (tests/telegram_emulator.py) enforcing Telegram's
flood limits as Telegram does (30 messages/s overall, 1/s per private chat with a burst of 3, 20/min per group;
429 "retry after N" when one is broken), and the real Telegram front end (python-telegram-bot, the rate
limiter, ChatOrderedUpdates) polling it. Each round, timed from the first injected update:

    quiet    50 users (a private chat each) send one `/quote MAG7.ssi 100` at once;
    flooded  one user sends 20 `/quote MAG7.ssi 100` at once, then 50 other users send one each.

Prints the 50 users' last reply in both, their ratio (bound: flooded within 1.2x of quiet), the flooding
user's last reply, the emulator's 429s (per chat, overall) and the pauses of every request the bot made
(bound: 0 caused by one chat; every 429 here is one chat's, so any pause of everything is one).

    .venv/bin/python bench/fairness.py [--users 50] [--flood 20] [--rounds 3]
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

from bot.frontends.adapters.telegram import TelegramFrontend  # noqa: E402
from bot.frontends.adapters.telegram_limits import TelegramRateLimiter  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from quote import machine  # noqa: E402
from telegram_emulator import BotApiEmulator, EmulatedLimits  # noqa: E402

LINE = "/quote MAG7.ssi 100"
RATIO_BOUND = 1.2


async def last_replies(emulator: BotApiEmulator, chats: set[int], per_chat: dict[int, int], since: int,
                       started: float, timeout: float = 120.0) -> dict[int, float]:
    """Seconds from `started` to each chat's last expected reply (sendMessage accepted by the emulator)."""
    async def done() -> dict[int, float]:
        while True:
            got: dict[int, list[float]] = {}
            for call in emulator.calls_to("sendMessage", since):
                if call.chat_id in chats and isinstance(call.result, dict) and "message_id" in call.result:
                    got.setdefault(call.chat_id, []).append(call.at)
            if all(len(got.get(chat, ())) >= per_chat[chat] for chat in chats):
                return {chat: max(times) - started for chat, times in got.items()}
            emulator._recorded.clear()  # noqa: SLF001 - the emulator's own "a call was recorded" event
            await emulator._recorded.wait()  # noqa: SLF001

    return await asyncio.wait_for(done(), timeout)


async def one_round(emulator: BotApiEmulator, limiter: TelegramRateLimiter, users: list[int], flooder: int | None,
                    flood: int) -> dict[str, float]:
    """Inject one round; the 50 users' last reply, the flooder's, and the 429s and pauses it caused."""
    since, pauses, chat_pauses = emulator.mark(), limiter.pauses, getattr(limiter, "chat_pauses", 0)
    too_many_chats, too_many_overall = sum(emulator.too_many_chats.values()), emulator.too_many_overall
    started = time.perf_counter()
    if flooder is not None:
        for _ in range(flood):
            emulator.send_text(flooder, flooder, LINE)
    for user in users:
        emulator.send_text(user, user, LINE)
    watched = set(users) | ({flooder} if flooder is not None else set())
    expected = {chat: flood if chat == flooder else 1 for chat in watched}
    at = await last_replies(emulator, watched, expected, since, started)
    return {
        "users_last": max(at[user] for user in users),
        "flooder_last": at[flooder] if flooder is not None else 0.0,
        "chat_429": sum(emulator.too_many_chats.values()) - too_many_chats,
        "overall_429": emulator.too_many_overall - too_many_overall,
        "global_pauses": limiter.pauses - pauses,
        "chat_pauses": getattr(limiter, "chat_pauses", 0) - chat_pauses,
    }


async def run(n_users: int, flood: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="indexbot-bench-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        app = await App.start(Config(home=home, chain=str(devnet.profile_path), database=home / "bench.sqlite3",
                                     web=WebSettings(port=0)))
        quiet: list[dict[str, float]] = []
        flooded: list[dict[str, float]] = []
        try:
            async with BotApiEmulator(limits=EmulatedLimits()) as emulator:
                front = TelegramFrontend(app, emulator.token, emulator.url)
                await front.start()
                limiter = front.bot.rate_limiter
                assert isinstance(limiter, TelegramRateLimiter)
                try:
                    await one_round(emulator, limiter, [900_000], None, 0)  # warm-up: the first quote is cold
                    chat = 1_000_000
                    for _ in range(rounds):  # fresh chats each round: no chat's window carries over
                        users = list(range(chat, chat + n_users))
                        quiet.append(await one_round(emulator, limiter, users, None, flood))
                        chat += n_users
                        await asyncio.sleep(2.0)  # the overall window empties
                        users = list(range(chat + 1, chat + 1 + n_users))
                        flooded.append(await one_round(emulator, limiter, users, chat, flood))
                        chat += n_users + 1
                        await asyncio.sleep(2.0)
                finally:
                    await front.stop()
        finally:
            await app.stop()
            await devnet.stop()
    report(n_users, flood, quiet, flooded)


def report(n_users: int, flood: int, quiet: list[dict[str, float]], flooded: list[dict[str, float]]) -> None:
    print(f"machine: {machine()}, {os.cpu_count()} CPUs")
    print(f"limits: Telegram's (emulator: 30/s overall, 1/s per private chat with a burst of 3; bot: the same)")
    print(f"{n_users} users x {LINE!r}; flooded: one more user sends {flood} at once, first")
    for i, (q, f) in enumerate(zip(quiet, flooded), 1):
        print(f"round {i}: {n_users} users' last reply {q['users_last']:.2f} s quiet, {f['users_last']:.2f} s flooded "
              f"(x{f['users_last'] / q['users_last']:.2f}); the flooder's last {f['flooder_last']:.2f} s; "
              f"429s {f['chat_429']:.0f} per chat / {f['overall_429']:.0f} overall (quiet: {q['chat_429'] + q['overall_429']:.0f}); "
              f"pauses of everything {f['global_pauses']:.0f}, of one chat {f['chat_pauses']:.0f}")
    ratio = statistics.median(f["users_last"] for f in flooded) / statistics.median(q["users_last"] for q in quiet)
    pauses = sum(f["global_pauses"] + q["global_pauses"] for q, f in zip(quiet, flooded))
    print(f"median: {statistics.median(q['users_last'] for q in quiet):.2f} s quiet, "
          f"{statistics.median(f['users_last'] for f in flooded):.2f} s flooded: ratio {ratio:.2f} "
          f"(bound <= {RATIO_BOUND}) {'OK' if ratio <= RATIO_BOUND else 'OVER'}")
    print(f"pauses of every request caused by one chat: {pauses:.0f} (bound 0) {'OK' if pauses == 0 else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="users sending one /quote each (default 50)")
    parser.add_argument("--flood", type=int, default=20, help="commands the flooding user sends at once (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="quiet + flooded rounds (default 3)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.users, args.flood, args.rounds))


if __name__ == "__main__":
    main()
