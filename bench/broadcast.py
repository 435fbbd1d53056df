"""A broadcast to many recipients through the outbox, against a Bot API emulator that enforces Telegram's flood
limits, with the sender killed (SIGKILL) halfway and restarted on the same database.

    .venv/bin/python bench/broadcast.py [--recipients 100000] [--scale 5] [--kill-at 0.5]

Three processes on loopback: the emulator (tests/telegram_emulator.py with `EmulatedLimits`, answering 429 when
a limit is broken), and the sender, twice: the bot's own App on a devnet with the real Telegram front end
attached to its outbox (Outbox -> Dispatcher -> TelegramFrontend.post -> python-telegram-bot -> the rate
limiter -> HTTP). The fan-out is written first, as an announcement would write it: one users row per recipient
(with their private chat) and one outbox row each (kind "announcement", priority 2, a dedupe key per user) in
one `OutboxRows.add_many`. Limits are time-scaled: `--scale 5` (the default) means 150 messages/s overall (the
ratios stay Telegram's). Prints the sustained rate (and its share of the scaled limit), the 429s, recipients seen twice,
recipients never seen, and the messages the crash left 'unknown' (sent at most once: never retried).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import aiohttp  # noqa: E402

from bot.config import TelegramLimits  # noqa: E402
from quote import machine  # noqa: E402

TOKEN = "123456:BENCH-token"
FIRST_CHAT = 1_000_000
TEXT = "Index rebalance this Friday: MAG7.ssi adds two constituents. Nothing to do on your side."


# -- the emulator process -------------------------------------------------------------------------------------


async def serve_emulator(scale: float) -> None:
    from telegram_emulator import BotApiEmulator, EmulatedLimits

    class Emulator(BotApiEmulator):
        """Keeps only what the report needs: 100,000 recorded calls would be most of the memory."""

        def __init__(self) -> None:
            super().__init__(TOKEN, limits=EmulatedLimits(scale=scale))
            self.arrivals: list[float] = []

        async def _api_sendMessage(self, p: dict[str, Any]) -> Any:
            self.arrivals.append(time.monotonic())
            self.calls.clear()  # nothing waits on them here
            message = await super()._api_sendMessage(p)
            self.messages.clear()
            return message

        async def _api_benchStats(self, p: dict[str, Any]) -> Any:
            stats: dict[str, Any] = {"accepted": sum(self.sent_to.values()), "too_many": self.too_many}
            if p.get("full"):
                stats.update(arrivals=self.arrivals, sent_to={str(k): v for k, v in self.sent_to.items()})
            return stats

    emulator = await Emulator().start()
    print(emulator.port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await emulator.stop()


# -- the sender process ---------------------------------------------------------------------------------------


async def send(home: Path, profile: str, url: str, scale: float) -> None:
    from bot.frontends.adapters.telegram import TelegramFrontend
    from bot.app import App
    from bot.config import Config, WebSettings

    config = Config(home=home, chain=profile, database=home / "broadcast.sqlite3", web=WebSettings(port=0),
                    telegram=TelegramLimits(scale=scale))
    app = await App.start(config)
    front = TelegramFrontend(app, TOKEN, url, limits=config.telegram)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await front.start()
        app.notices.attach(front)
        await stop.wait()
    finally:
        await app.notices.detach(front)
        await front.stop()
        await app.stop()


# -- the conductor --------------------------------------------------------------------------------------------


async def fan_out(db_path: Path, recipients: int) -> float:
    """One users row and one outbox row per recipient, as an announcement writes them; seconds taken."""
    from bot.core.messages import Msg, Reply
    from bot.delivery.outbox import codec
    from bot.storage.db import Database
    from bot.storage.outbox import NewMessage, OutboxRows

    db = await Database.open(db_path)
    try:
        async with db.transaction() as tx:
            await tx.execute_many(
                "INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at, dm_chat) VALUES (:id, 'telegram', :chat, 0, 0, :chat)",
                [{"id": i + 1, "chat": str(FIRST_CHAT + i)} for i in range(recipients)],
            )
        payload = codec.dumps(Reply.of(Msg("announce.header", style="title"), Msg("announce.body", {"text": TEXT})))
        started = time.perf_counter()
        stored = await OutboxRows(db).add_many([
            NewMessage("telegram", str(FIRST_CHAT + i), i + 1, "announcement", 2, payload, dedupe=f"announcement:1:{i + 1}")
            for i in range(recipients)
        ])
        assert stored == recipients, stored
        return time.perf_counter() - started
    finally:
        await db.close()


def states(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path, timeout=10) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())


async def stats(session: aiohttp.ClientSession, url: str, full: bool = False) -> dict[str, Any]:
    async with session.post(f"{url}/bot{TOKEN}/benchStats", data={"full": "1"} if full else {}) as response:
        body = await response.json()
    result: dict[str, Any] = body["result"]
    return result


def start(role: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--role", role, *extra], stdout=subprocess.PIPE, text=True)


async def conduct(recipients: int, scale: float, kill_at: float) -> None:
    from devnet.harness import Devnet

    with tempfile.TemporaryDirectory(prefix="indexbot-broadcast-") as tmp:
        home = Path(tmp)
        db_path = home / "broadcast.sqlite3"
        devnet = await Devnet.start(home / "devnet")
        emulator = start("emulator", "--scale", str(scale))
        senders: list[subprocess.Popen[str]] = []
        try:
            assert emulator.stdout is not None
            url = f"http://127.0.0.1:{emulator.stdout.readline().strip()}"
            fan_out_seconds = await fan_out(db_path, recipients)
            sender_args = ("--home", str(home), "--profile", str(devnet.profile_path), "--url", url, "--scale", str(scale))
            async with aiohttp.ClientSession() as session:
                senders.append(start("sender", *sender_args))
                while (await stats(session, url))["accepted"] < kill_at * recipients:
                    await asyncio.sleep(0.1)
                senders[0].send_signal(signal.SIGKILL)
                senders[0].wait()
                at_kill = states(db_path)
                senders.append(start("sender", *sender_args))
                while True:  # the emulator is asked often, the database (a scan) only near the end
                    await asyncio.sleep(0.25)
                    if (await stats(session, url))["accepted"] < recipients - at_kill.get("sending", 0):
                        continue
                    if (left := states(db_path)).get("pending", 0) + left.get("sending", 0) == 0:
                        break
                senders[1].send_signal(signal.SIGTERM)
                senders[1].wait(timeout=30)
                final = await stats(session, url, full=True)
        finally:
            for process in (*senders, emulator):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=30)
            await devnet.stop()
        report(recipients, scale, kill_at, fan_out_seconds, final, at_kill, states(db_path))


def segments(arrivals: list[float]) -> list[list[float]]:
    """The arrival times split at the restart (the one long silence)."""
    gaps = [(b - a, i) for i, (a, b) in enumerate(zip(arrivals, arrivals[1:]))]
    if not gaps:
        return [arrivals]
    _, cut = max(gaps)
    return [arrivals[: cut + 1], arrivals[cut + 1 :]]


def report(recipients: int, scale: float, kill_at: float, fan_out_seconds: float, final: dict[str, Any],
           at_kill: dict[str, int], after: dict[str, int]) -> None:
    limit = TelegramLimits().per_second * scale
    arrivals = sorted(final["arrivals"])
    sent_to = {int(k): v for k, v in final["sent_to"].items()}
    duplicates = sum(1 for v in sent_to.values() if v > 1)
    missed = sum(1 for i in range(recipients) if FIRST_CHAT + i not in sent_to)
    parts = segments(arrivals)
    spans = [p[-1] - p[0] for p in parts if len(p) > 1]
    sustained = (len(arrivals) - len(parts)) / sum(spans)
    print(f"machine: {machine()}")
    print(f"recipients: {recipients:,}; limits time-scaled x{scale:g}: {limit:g} messages/s overall "
          f"(Telegram's 30), {scale:g}/s per private chat; sender SIGKILLed at {kill_at:.0%} and restarted")
    print(f"fan-out (users rows aside): {recipients:,} outbox rows in one add_many: {fan_out_seconds:.2f} s")
    for n, (part, span) in enumerate(zip(parts, spans), 1):
        print(f"  run {n}: {len(part):,} messages in {span:.1f} s = {(len(part) - 1) / span:.1f}/s")
    print(f"sustained: {sustained:.1f} messages/s = {sustained / limit:.1%} of the scaled limit")
    print(f"429s: {final['too_many']}")
    print(f"duplicates (recipients seen twice): {duplicates}")
    print(f"missed (recipients never seen): {missed}")
    print(f"left 'unknown' by the crash: {after.get('unknown', 0)} (in flight at the kill: {at_kill.get('sending', 0)})")
    print(f"outbox states at the end: {json.dumps(after, sort_keys=True)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000, help="how many users get the announcement (default 100,000)")
    parser.add_argument("--scale", type=float, default=5.0, help="multiplies every Telegram rate (default 5: 150 messages/s)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="SIGKILL the sender after this share was accepted (default 0.5)")
    parser.add_argument("--role", choices=["conductor", "emulator", "sender"], default="conductor", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "emulator":
        asyncio.run(serve_emulator(args.scale))
    elif args.role == "sender":
        import logging

        logging.basicConfig(level=logging.WARNING)
        if os.environ.get("BROADCAST_PROFILE"):  # cProfile the sender: where its time goes
            import cProfile

            cProfile.runctx("asyncio.run(send(args.home, args.profile, args.url, args.scale))", globals(), locals(),
                            f"{os.environ['BROADCAST_PROFILE']}.{os.getpid()}")
        else:
            asyncio.run(send(args.home, args.profile, args.url, args.scale))
    else:
        asyncio.run(conduct(args.recipients, args.scale, args.kill_at))


if __name__ == "__main__":
    main()
