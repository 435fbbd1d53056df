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
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
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


def cpu_seconds(wanted: Callable[[int, str], bool]) -> float:
    """CPU time (user + system, from /proc) of every live process `wanted(pid, command name)` picks, with what their
    reaped children used (PostgreSQL's postmaster carries the backends that ended)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone while we looked
        comm = text[text.index("(") + 1:text.rindex(")")]
        if wanted(int(stat.parent.name), comm):
            fields = text[text.rindex(")") + 2:].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / tick


@asynccontextmanager
async def processes(emulator: BotApiEmulator, home: Path, devnet: Devnet, count: int, database_url: str | None,
                    roles: str, pids: list[int]) -> AsyncIterator[list[str]]:
    """`count` `indexbot run --role <roles>` processes; their web addresses (their pids into `pids`). Stopped with
    SIGTERM."""
    ports = free_ports(count)
    procs = []
    for n, port in enumerate(ports):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
        env.update(INDEXBOT_HOME=str(home / f"p{n}"), INDEXBOT_CHAIN=str(devnet.profile_path), INDEXBOT_WEB_PORT=str(port),
                   TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url, INDEXBOT_TELEGRAM_RATE_SCALE="1000",
                   INDEXBOT_LOG_LEVEL="WARNING", LANG="C.UTF-8")
        if database_url is not None and roles == "all":  # one process on PostgreSQL, long polling
            env.update(INDEXBOT_DATABASE_URL=database_url)
        elif database_url is not None:
            # the fleet within the server's max_connections (100 here, 10 left for the bench and psql), as
            # docs/deploy.md asks of an operator
            env.update(INDEXBOT_DATABASE_URL=database_url, TELEGRAM_WEBHOOK_URL="http://localhost/telegram",
                       TELEGRAM_WEBHOOK_SECRET=SECRET, INDEXBOT_DATABASE_CONNECTIONS=str(min(30, 90 // count)))
        (home / f"p{n}").mkdir(parents=True, exist_ok=True)
        with open(home / f"p{n}" / "stderr.log", "w") as log:
            procs.append(subprocess.Popen([INDEXBOT, "run", "--role", roles], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=log))
    pids.extend(proc.pid for proc in procs)
    try:
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait, 60)


@dataclass
class Result:
    rate: float  # updates answered per second, first injection to last answer
    answered: int
    bot_ms: float  # CPU milliseconds per update: the bot's processes
    postgres_ms: float  # ... the PostgreSQL server's processes (other users of the server count too: keep it idle)
    rest_ms: float  # ... anvil, and this process (the emulator and the load)


async def timed_burst(emulator: BotApiEmulator, n: int, chats: int, distinct: bool, pids: list[int]) -> Result:
    """One burst, with the CPU each side spent on it."""
    bot, postgres, anvil = (lambda pid, _: pid in pids), (lambda _, comm: comm == "postgres"), (lambda _, comm: comm == "anvil")
    before = [cpu_seconds(bot), cpu_seconds(postgres), cpu_seconds(anvil), time.process_time()]
    rate, answered, _ = await burst(emulator, n, chats, 100_000, distinct)
    after = [cpu_seconds(bot), cpu_seconds(postgres), cpu_seconds(anvil), time.process_time()]
    ms = [(b - a) * 1000 / max(answered, 1) for a, b in zip(before, after)]
    return Result(rate, answered, ms[0], ms[1], ms[2] + ms[3])


async def polled(devnet: Devnet, home: Path, n: int, chats: int, distinct: bool, database_url: str | None) -> Result:
    """One process by long polling (`--role all`): the embedded default on SQLite, or the same on PostgreSQL."""
    pids: list[int] = []
    async with BotApiEmulator() as emulator:
        async with processes(emulator, home, devnet, 1, database_url, "all", pids):
            await emulator.wait_for("getUpdates", timeout=READY_SECONDS)
            await burst(emulator, WARMUP, WARMUP, 900_000, False)
            return await timed_burst(emulator, n, chats, distinct, pids)


async def measure(devnet: Devnet, home: Path, workers: int, n: int, chats: int, distinct: bool) -> Result:
    """One setup: 0 workers is the embedded default (SQLite, polling), -1 the same process on PostgreSQL, else that
    many webhook processes on PostgreSQL."""
    if workers == 0:
        return await polled(devnet, home / "embedded", n, chats, distinct, None)
    if workers == -1:
        async with postgres_database() as url:
            return await polled(devnet, home / "polling-pg", n, chats, distinct, url)
    pids: list[int] = []
    async with BotApiEmulator() as emulator:
        async with postgres_database() as url:
            async with processes(emulator, home / f"fleet{workers}", devnet, workers, url, "web,worker", pids) as backends:
                emulator.balance(backends)
                await emulator.wait_count("setWebhook", workers, timeout=READY_SECONDS)
                await burst(emulator, WARMUP, WARMUP, 900_000, False)
                return await timed_burst(emulator, n, chats, distinct, pids)


async def run(n: int, chats: int, workers: list[int], distinct: bool) -> None:
    results: dict[int, Result] = {}
    with tempfile.TemporaryDirectory(prefix="indexbot-scale-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        try:
            for count in [0, -1, *workers]:
                results[count] = await measure(devnet, home, count, n, chats, distinct)
                name = {0: "embedded (SQLite, polling)", -1: "one process (PostgreSQL, polling)"}.get(
                    count, f"webhook x{count} (PostgreSQL)")
                got = results[count]
                print(f"  {name:<30} {got.rate:8.1f} updates/s ({got.answered}/{n} answered); CPU ms per update: "
                      f"bot {got.bot_ms:.2f}, PostgreSQL {got.postgres_ms:.2f}, anvil + emulator {got.rest_ms:.2f}", flush=True)
        finally:
            await devnet.stop()
    print(f"machine: {machine()}, {os.cpu_count()} CPUs; {n} x {LINE.format(amount='<usdc>')!r} from {chats} chats, "
          f"{'a distinct amount each (cold quotes)' if distinct else 'the same amount (per-block cache)'}")
    sqlite = results[0]
    for count in [-1, *workers]:
        got = results[count]
        name = "polling on PostgreSQL" if count == -1 else f"webhook x{count}"
        print(f"  {name}: {got.rate:.1f} updates/s; cost per update against SQLite: {sqlite.rate / got.rate:.2f}x "
              f"in time, {got.bot_ms / sqlite.bot_ms:.2f}x in the bot's CPU, "
              f"{(got.bot_ms + got.postgres_ms) / (sqlite.bot_ms + sqlite.postgres_ms):.2f}x with PostgreSQL's" if got.rate else
              f"  {name}: nothing answered")
    if 1 in results and results[1].rate:
        for count in workers:
            if count != 1:
                print(f"  scaling 1 -> {count} workers: {results[count].rate / results[1].rate:.2f}x")


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
