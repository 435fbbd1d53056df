"""What one `/quote` update costs a webhook worker on PostgreSQL, counted rather than timed (the numbers hold on a
busy machine): round trips and statements on the wire, transactions, and the bot process's CPU time.

One real `indexbot run --role web,worker` process (bench/scale.py's) on a PostgreSQL database of its own, reached
through a small TCP relay here that reads the frontend/backend protocol the bot's connections speak (SQLAlchemy's and
procrastinate's alike): a round trip is a simple Query ('Q') or a Sync ('S') closing an extended-protocol exchange; a
statement is a Query or an Execute ('E'); each is named by its SQL (Parse 'P' gives a prepared statement's text,
Bind 'B' says which one runs). Transactions are PostgreSQL's own count (pg_stat_database.xact_commit).

After a warm-up, updates are posted one at a time (each answered before the next: a worker's idle polling between
them is the only noise, and shows as fractions) and then all at once (CPU per update under load); the embedded
default (SQLite, polling) is measured the same way for its CPU per update.

    .venv/bin/python bench/pg_cost.py [--n 100] [--top 25] [--no-sqlite]

PGCOST_TRACE=1 first prints every statement of one update, connection by connection, in the order sent.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import struct
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from devnet.harness import Devnet  # noqa: E402
from scale import READY_SECONDS, cpu_seconds, postgres_database, processes  # noqa: E402
from telegram_emulator import BotApiEmulator  # noqa: E402
from updates import LINE, burst  # noqa: E402

NEGOTIATIONS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: untyped, answered with one byte


@dataclass
class Wire:
    """What the bot's connections sent, counted by the relay."""

    round_trips: int = 0
    statements: collections.Counter[str] = field(default_factory=collections.Counter)

    def snapshot(self) -> tuple[int, collections.Counter[str]]:
        return self.round_trips, collections.Counter(self.statements)


def _label(sql: str) -> str:
    return " ".join(sql.split())[:90]


class Relay:
    """A TCP relay to PostgreSQL that counts what clients send."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.wire = Wire()
        self.port = 0
        self.trace: list[tuple[int, str]] | None = None  # (connection, what) while tracing
        self._connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        down = asyncio.create_task(_pipe(up_reader, writer))
        try:
            await self._upstream(reader, up_writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            await asyncio.wait([down], timeout=5)
            writer.close()

    async def _upstream(self, reader: asyncio.StreamReader, out: asyncio.StreamWriter) -> None:
        while True:  # untyped start-up messages
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            out.write(head + await reader.readexactly(length - 8))
            await out.drain()
            if code not in NEGOTIATIONS:
                break
        prepared: dict[bytes, str] = {}
        bound = ""
        self._connections += 1
        me = self._connections
        while True:
            kind = await reader.readexactly(1)
            size = await reader.readexactly(4)
            body = await reader.readexactly(struct.unpack("!i", size)[0] - 4)
            if self.trace is not None and kind in (b"Q", b"E", b"S"):
                self.trace.append((me, kind.decode() + " " + (_label(body.rstrip(b"\0").decode()) if kind == b"Q" else bound)))
            if kind == b"Q":
                self.wire.round_trips += 1
                self.wire.statements[_label(body.rstrip(b"\0").decode())] += 1
            elif kind == b"P":
                name, _, rest = body.partition(b"\0")
                prepared[name] = _label(rest.partition(b"\0")[0].decode())
            elif kind == b"B":
                statement = body.split(b"\0", 2)[1]
                bound = prepared.get(statement, "?")
            elif kind == b"E":
                self.wire.statements[bound] += 1
            elif kind == b"S":
                self.wire.round_trips += 1
            out.write(kind + size + body)
            if kind in (b"Q", b"S", b"H", b"X", b"F", b"c"):
                await out.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def cpu_of(pid: int) -> float:
    """CPU seconds of one process (bench/scale.py's reading of /proc)."""
    return cpu_seconds(lambda found, _: found == pid)


async def commits(admin_url: str, name: str) -> int:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await asyncio.sleep(1.1)  # a backend reports its counts to pg_stat_database at most once a second
        row = await (await conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                                        (name,))).fetchone()
        return int(row[0]) if row else 0


CHATS = 20  # the chats of the warm-up (known users), which every measure reuses
FIRST_CHAT = 900_000  # bench/scale.py's warm-up chats


async def one_by_one(emulator: BotApiEmulator, n: int) -> None:
    """n updates from the warmed-up chats in turn, each answered before the next is posted."""
    for i in range(n):
        since = emulator.mark()
        emulator.send_text(FIRST_CHAT + i % CHATS, FIRST_CHAT + i % CHATS, LINE.format(amount="100"))
        await emulator.wait_count("sendMessage", 1, timeout=30, since=since)


@asynccontextmanager
async def bot(emulator: BotApiEmulator, home: Path, devnet: Devnet, database_url: str | None) -> AsyncIterator[int]:
    """One bot process (web,worker on PostgreSQL; all on SQLite), ready and warmed up; its pid."""
    roles = "all" if database_url is None else "web,worker"
    pids: list[int] = []
    async with processes(emulator, home, devnet, 1, database_url, roles, pids) as backends:
        if database_url is None:
            await emulator.wait_for("getUpdates", timeout=READY_SECONDS)
        else:
            emulator.balance(backends)
            await emulator.wait_count("setWebhook", 1, timeout=READY_SECONDS)
        try:
            await burst(emulator, CHATS, CHATS, FIRST_CHAT, False)
            await one_by_one(emulator, 2 * CHATS)
            yield pids[0]
        except BaseException:
            print((home / "p0" / "stderr.log").read_text()[-4000:], file=sys.stderr)
            raise


async def sqlite_cpu(devnet: Devnet, home: Path, n: int) -> tuple[float, float]:
    async with BotApiEmulator() as emulator:
        async with bot(emulator, home / "embedded", devnet, None) as pid:
            before = cpu_of(pid)
            await one_by_one(emulator, n)
            serial = (cpu_of(pid) - before) / n
            before = cpu_of(pid)
            await burst(emulator, n, CHATS, FIRST_CHAT, False)
            return serial, (cpu_of(pid) - before) / n


async def postgres_cost(devnet: Devnet, home: Path, n: int, top: int) -> tuple[float, float]:
    server = make_url(os.environ.get("INDEXBOT_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432")
    relay = Relay(server.host or "127.0.0.1", server.port or 5432)
    await relay.start()
    try:
        async with postgres_database() as url, BotApiEmulator() as emulator:
            name = make_url(url).database or ""
            admin = make_url(url).set(database="postgres").render_as_string(False)
            relayed = make_url(url).set(host="127.0.0.1", port=relay.port,
                                        query={"sslmode": "disable", "gssencmode": "disable"}).render_as_string(False)
            async with bot(emulator, home / "webhook", devnet, relayed) as pid:
                if os.environ.get("PGCOST_TRACE"):
                    relay.trace = []
                    await one_by_one(emulator, 1)
                    await asyncio.sleep(1)
                    for conn, what in relay.trace:
                        print(f"  [{conn}] {what}")
                    relay.trace = None
                xacts = await commits(admin, name)
                trips, statements = relay.wire.snapshot()
                before = cpu_of(pid)
                await one_by_one(emulator, n)
                serial_cpu = (cpu_of(pid) - before) / n
                trips_after, statements_after = relay.wire.snapshot()
                xacts_after = await commits(admin, name) - 1  # commits() itself is one
                before = cpu_of(pid)
                await burst(emulator, n, CHATS, FIRST_CHAT, False)
                burst_cpu = (cpu_of(pid) - before) / n
            counted = statements_after - statements
            print(f"PostgreSQL webhook worker, {n} updates one at a time, per update:")
            begun = sum(count for label, count in counted.items() if label.startswith("BEGIN"))
            print(f"  round trips {(trips_after - trips) / n:6.2f}   statements {sum(counted.values()) / n:6.2f}   "
                  f"BEGIN ... COMMIT {begun / n:5.2f}   server transactions {(xacts_after - xacts) / n:6.2f} "
                  f"(autocommit statements included)")
            for label, count in counted.most_common(top):
                print(f"    {count / n:5.2f}  {label}")
            return serial_cpu, burst_cpu
    finally:
        await relay.stop()


async def run(n: int, top: int, with_sqlite: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="indexbot-pgcost-") as tmp:
        home = Path(tmp)
        devnet = await Devnet.start(home / "devnet")
        try:
            pg_serial, pg_burst = await postgres_cost(devnet, home, n, top)
            print(f"  CPU of the bot process per update: {pg_serial * 1000:.2f} ms one at a time, "
                  f"{pg_burst * 1000:.2f} ms in a burst of {n}")
            if with_sqlite:
                lite_serial, lite_burst = await sqlite_cpu(devnet, home, n)
                print(f"embedded SQLite: CPU per update {lite_serial * 1000:.2f} ms one at a time, "
                      f"{lite_burst * 1000:.2f} ms in a burst of {n}")
                print(f"PostgreSQL / SQLite CPU per update: {pg_serial / lite_serial:.2f}x one at a time, "
                      f"{pg_burst / lite_burst:.2f}x in a burst")
        finally:
            await devnet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="updates per measure (default 100)")
    parser.add_argument("--top", type=int, default=25, help="statements listed (default 25)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the embedded default's CPU per update")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.top, not args.no_sqlite))


if __name__ == "__main__":
    main()
