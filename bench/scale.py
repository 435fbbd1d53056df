"""Updates per second of `/quote` through the Telegram path, as a fleet runs it: real `indexbot run` processes.

    embedded     one process, SQLite, long polling (the default `make run` starts)
    webhook xN   N processes `--role web,worker` on one PostgreSQL database, behind webhooks: the Bot API emulator
                 posts each update to the processes in turn (a load balancer), each stores it and defers its job,
                 any process's worker answers it

Starts its own devnet and the emulator (tests/telegram_emulator.py, no flood limits; the bot's own rate limiter is
scaled out of the way with INDEXBOT_TELEGRAM_RATE_SCALE), warms each setup up, then injects N updates from many
private chats at once and times first injection -> last answer. Prints updates/s per setup, PostgreSQL's cost per
update against SQLite's, the scaling from one worker to two and four, and the machine.

    .venv/bin/python bench/scale.py [--n 400] [--chats 100] [--workers 1,2,4] [--distinct]

PostgreSQL: INDEXBOT_TEST_DATABASE_URL, else the local server (postgresql://postgres@127.0.0.1:5432); a database of
its own is created and dropped for each setup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from devnet.harness import Devnet  # noqa: E402
from quote import machine  # noqa: E402
from telegram_emulator import BotApiEmulator  # noqa: E402
from auxil.cli import free_ports  # noqa: E402
from updates import LINE, burst  # noqa: E402

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
SECRET = "bench-webhook-secret"
WARMUP = 20
READY_SECONDS = 180.0


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    server = make_url(os.environ.get("INDEXBOT_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432")
    name = f"indexbot_scale_{secrets.token_hex(4)}"
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(drivername="postgresql", database=name).render_as_string(False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def processes(emulator: BotApiEmulator, home: Path, devnet: Devnet, count: int, database_url: str | None,
                    roles: str) -> AsyncIterator[list[str]]:
    """`count` `indexbot run --role <roles>` processes; their web addresses. Stopped with SIGTERM."""
    ports = free_ports(count)
    procs = []
    for n, port in enumerate(ports):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
        env.update(INDEXBOT_HOME=str(home / f"p{n}"), INDEXBOT_CHAIN=str(devnet.profile_path), INDEXBOT_WEB_PORT=str(port),
                   TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url, INDEXBOT_TELEGRAM_RATE_SCALE="1000",
                   INDEXBOT_LOG_LEVEL="WARNING", LANG="C.UTF-8")
        if database_url is not None:
            # the fleet within the server's max_connections (100 here, 10 left for the bench and psql), as
            # docs/deploy.md asks of an operator
            env.update(INDEXBOT_DATABASE_URL=database_url, TELEGRAM_WEBHOOK_URL="http://localhost/telegram",
                       TELEGRAM_WEBHOOK_SECRET=SECRET, INDEXBOT_DATABASE_CONNECTIONS=str(min(30, 90 // count)))
        (home / f"p{n}").mkdir(parents=True, exist_ok=True)
        with open(home / f"p{n}" / "stderr.log", "w") as log:
            procs.append(subprocess.Popen([INDEXBOT, "run", "--role", roles], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=log))
    try:
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait, 60)


async def measure(devnet: Devnet, home: Path, workers: int, n: int, chats: int, distinct: bool) -> tuple[float, int]:
    """One setup: 0 workers is the embedded default (SQLite, polling), else that many webhook processes on PostgreSQL."""
    async with BotApiEmulator() as emulator:
        if workers == 0:
            async with processes(emulator, home / "embedded", devnet, 1, None, "all"):
                await emulator.wait_for("getUpdates", timeout=READY_SECONDS)
                await burst(emulator, WARMUP, WARMUP, 900_000, False)
                rate, answered, _ = await burst(emulator, n, chats, 100_000, distinct)
                return rate, answered
        async with postgres_database() as url:
            async with processes(emulator, home / f"fleet{workers}", devnet, workers, url, "web,worker") as backends:
                emulator.balance(backends)
                await emulator.wait_count("setWebhook", workers, timeout=READY_SECONDS)
                await burst(emulator, WARMUP, WARMUP, 900_000, False)
                rate, answered, _ = await burst(emulator, n, chats, 100_000, distinct)
                return rate, answered


async def run(n: int, chats: int, workers: list[int], distinct: bool) -> None:
    results: dict[int, tuple[float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="indexbot-scale-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        try:
            for count in [0, *workers]:
                results[count] = await measure(devnet, home, count, n, chats, distinct)
                name = "embedded (SQLite, polling)" if count == 0 else f"webhook x{count} (PostgreSQL)"
                rate, answered = results[count]
                print(f"  {name:<30} {rate:8.1f} updates/s ({answered}/{n} answered)", flush=True)
        finally:
            await devnet.stop()
    print(f"machine: {machine()}, {os.cpu_count()} CPUs; {n} x {LINE.format(amount='<usdc>')!r} from {chats} chats, "
          f"{'a distinct amount each (cold quotes)' if distinct else 'the same amount (per-block cache)'}")
    sqlite = results[0][0]
    for count in workers:
        rate = results[count][0]
        print(f"  webhook x{count}: {rate:.1f} updates/s; cost per update against SQLite {sqlite / rate:.2f}x" if rate else
              f"  webhook x{count}: nothing answered")
    if 1 in results and results[1][0]:
        for count in workers:
            if count != 1:
                print(f"  scaling 1 -> {count} workers: {results[count][0] / results[1][0]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="updates per run (default 400)")
    parser.add_argument("--chats", type=int, default=100, help="distinct private chats (default 100)")
    parser.add_argument("--workers", default="1,2,4", help="webhook fleet sizes to measure (default 1,2,4)")
    parser.add_argument("--distinct", action="store_true", help="a different amount per update: every quote is cold")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.chats, [int(w) for w in args.workers.split(",")], args.distinct))


if __name__ == "__main__":
    main()
