"""Fault test (issue 17): the active outbox sender killed with SIGKILL during a 5,000-message broadcast.

Real parts: PostgreSQL, two `indexbot run --role sender` OS processes on one database (a fleet's two sender
processes: one active, one standing by), the Telegram Bot API emulator over HTTP with Telegram's limits enforced
(`EmulatedLimits`: a request over a limit is answered 429), the shared anvil devnet the bots start on.

The broadcast is 5,000 outbox rows to distinct private chats, written as an announcement writes them
(`OutboxRows.add_many` on the test database, after both processes are up: its NOTIFY is what wakes the active one).
Telegram's 30 messages/s would make that ~170 s; both the emulator and the bots run time-scaled x`SCALE` (the bots
through `INDEXBOT_TELEGRAM_RATE_SCALE`, an operator setting: [telegram] rate_scale), i.e. 150 messages/s overall.

Once `KILL_AFTER` messages were accepted the active process is SIGKILLed (found through the seat's connection in
pg_stat_activity, whose application_name names its pid). Then:
- the standby holds the seat within 10 s, and the emulator accepts its first message within 10 s of the kill;
- the emulator answered no 429 at all (one sender for the fleet: the limit is never exceeded across the handover);
- no chat got two messages: the rows that were on the wire at the kill are 'unknown' (never sent again) and
  counted; the emulator's record of them (delivered, but not recorded 'sent') is compared with the 'unknown' rows;
- every other message was sent exactly once, and is 'sent'.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psycopg
import pytest

from auxil.cli import environment, free_ports
from bot.core.messages import Msg, Reply
from bot.delivery.outbox import codec
from bot.storage.db import Database
from bot.storage.db import libpq_url
from bot.storage.leader import APPLICATION
from bot.storage.outbox import NewMessage, OutboxRows
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator, EmulatedLimits

pytestmark = pytest.mark.platform  # the bot as processes, and the Bot API emulator

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:FLEET-token"
SCALE = 5  # Telegram's rates x5: 150 messages/s overall, for the emulator and the bots alike
MESSAGES = 5000
KILL_AFTER = 1200  # messages accepted before the active sender is killed
FIRST_CHAT = 5_000_000
TAKEOVER_LIMIT = 10.0  # seconds
SLOW = 300.0  # seconds: the most a step may take on a machine busy with other work (about 35 s on an idle one)
SENDS_AT_ONCE = 8  # the Telegram front end's requests in flight (bot/frontends/adapters/telegram.py): most on the wire
SEAT = f"""SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
             AND a.application_name LIKE '{APPLICATION}telegram pid %'"""  # the seat's connection takes no other lock
CONTENDERS = f"""SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name LIKE '{APPLICATION}telegram pid %'"""
CONTENDING = f"""SELECT application_name, state, wait_event, backend_start FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name LIKE '{APPLICATION}telegram pid %'"""


async def until(check: object, what: str, timeout: float, every: float = 0.05) -> float:
    """Poll `check` (an async callable returning a truthy value when done) until it holds; the seconds it took."""
    started = time.monotonic()
    while True:
        if await check():  # type: ignore[operator]
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(every)


async def seat_holder(admin: psycopg.AsyncConnection[tuple[object, ...]]) -> int | None:
    """The pid of the process holding the telegram sender's seat, if any."""
    cursor = await admin.execute(SEAT)
    row = await cursor.fetchone()
    return int(str(row[0]).rsplit(" ", 1)[1]) if row else None


async def queue_broadcast(db: Database) -> None:
    """One user with a private chat per recipient, and one announcement row each, in one fan-out."""
    async with db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at, dm_chat) "
            "VALUES (:id, 'telegram', :chat, 0, 0, :chat)",
            [{"id": i + 1, "chat": str(FIRST_CHAT + i)} for i in range(MESSAGES)])
    payload = codec.dumps(Reply.of(Msg("announce.header", style="title"),
                                   Msg("announce.body", {"text": "Index rebalance on Friday: nothing to do."})))
    stored = await OutboxRows(db).add_many([
        NewMessage("telegram", str(FIRST_CHAT + i), i + 1, "announcement", 2, payload, dedupe=f"announcement:1:{i + 1}")
        for i in range(MESSAGES)])
    assert stored == MESSAGES


async def test_the_standby_takes_over_a_broadcast_when_the_active_sender_is_killed(
        chain: Devnet, pg_url: str, tmp_path: Path) -> None:
    emulator = await BotApiEmulator(TOKEN, limits=EmulatedLimits(scale=SCALE)).start()
    db = await Database.open(pg_url)  # migrated once here: the processes find it at head
    admin = await psycopg.AsyncConnection.connect(libpq_url(pg_url), autocommit=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports = free_ports(2)
        for n in range(2):
            home = tmp_path / f"sender{n}"
            home.mkdir()
            env = environment(home, INDEXBOT_CHAIN=str(chain.profile_path), INDEXBOT_DATABASE_URL=pg_url,
                              TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator.url,
                              INDEXBOT_TELEGRAM_RATE_SCALE=str(SCALE), INDEXBOT_METRICS_PORT=str(ports[n]))
            with open(home / "out.log", "wb") as log:
                procs.append(subprocess.Popen([INDEXBOT, "run", "--role", "sender"], env=env, cwd=ROOT,
                                              stdout=log, stderr=subprocess.STDOUT))
        by_pid = {p.pid: p for p in procs}
        port_of = {p.pid: port for p, port in zip(procs, ports)}

        seen: list[object] = []  # what pg_stat_activity last showed of the seat's connections: said if it never holds

        async def both_up() -> bool:
            for p in procs:
                assert p.poll() is None, (tmp_path / f"sender{procs.index(p)}" / "out.log").read_text()
            cursor = await admin.execute(CONTENDERS)
            row = await cursor.fetchone()
            seen[:] = await (await admin.execute(CONTENDING)).fetchall()
            return row is not None and int(str(row[0])) == 2 and await seat_holder(admin) is not None

        try:
            await until(both_up, "both sender processes up, one holding the seat", 90, every=0.2)
        except AssertionError as err:
            logs = [(tmp_path / f"sender{n}" / "out.log").read_text()[-1500:] for n in range(2)]
            raise AssertionError(f"{err}; the seat's connections: {seen}; pids {[p.pid for p in procs]}; logs {logs}") from None
        assert not emulator.calls_to("getUpdates")  # no gateway role: nobody polls
        first = await seat_holder(admin)
        assert first in by_pid
        standby = next(pid for pid in by_pid if pid != first)
        assert [await sender_active(port_of[first]), await sender_active(port_of[standby])] == [1, 0]
        assert [await readyz(port_of[first]), await readyz(port_of[standby])] == [
            (200, "ready\nsender telegram: active\n"), (200, "ready\nsender telegram: standby (another process holds "
                                                          "the seat)\n")]  # /readyz says the same, per process

        await queue_broadcast(db)
        await emulator.wait_count("sendMessage", KILL_AFTER, timeout=SLOW)
        os.kill(first, signal.SIGKILL)
        killed_at, killed_clock = time.monotonic(), time.perf_counter()
        by_pid[first].wait(10)
        at_kill = len(emulator.calls_to("sendMessage"))

        async def taken_over() -> bool:
            holder = await seat_holder(admin)
            return holder is not None and holder != first

        took_over = await until(taken_over, "the standby holding the seat", TAKEOVER_LIMIT + 5)
        second = await seat_holder(admin)
        seat_at = killed_at + took_over

        async def resumed() -> bool:
            return any(c.at - killed_clock > took_over and c.chat_id is not None
                       for c in emulator.calls_to("sendMessage", since=at_kill))

        await until(resumed, "a message sent by the new active sender", TAKEOVER_LIMIT + 5)
        first_after = min(c.at for c in emulator.calls_to("sendMessage", since=at_kill)
                          if c.at - killed_clock > took_over) - killed_clock

        async def all_settled() -> bool:
            n = await db.scalar("SELECT count(*) FROM outbox WHERE state IN ('sent', 'unknown')")
            return int(n) == MESSAGES

        await until(all_settled, "every message sent or settled", SLOW, every=0.25)
        finished = time.monotonic()
        assert await sender_active(port_of[standby]) == 1
        assert await readyz(port_of[standby]) == (200, "ready\nsender telegram: active\n")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                await asyncio.to_thread(p.wait, 30)
            except subprocess.TimeoutExpired:
                p.kill()
        await admin.close()
        await emulator.stop()

    states = {str(r[0]): str(r[1]) for r in await db.fetch_all("SELECT chat_id, state FROM outbox")}
    await db.close()
    delivered = Counter(str(c.chat_id) for c in emulator.calls_to("sendMessage")
                        if isinstance(c.result, dict) and "message_id" in c.result)
    unknown = {chat for chat, state in states.items() if state == "unknown"}
    sent = {chat for chat, state in states.items() if state == "sent"}
    arrived_unknown = unknown & set(delivered)  # on the wire at the kill, and the emulator took it
    print(f"\nsenders: pid {first} killed after {at_kill} messages; pid {second} held the seat {took_over:.2f} s after "
          f"the kill and sent {first_after:.2f} s after it; broadcast done {finished - seat_at:.1f} s after the "
          f"takeover; 429s: {emulator.too_many}; on the wire at the kill: {len(unknown)} rows left 'unknown', "
          f"{len(arrived_unknown)} of them delivered (emulator), {len(unknown - arrived_unknown)} never arrived")

    assert second == standby
    assert took_over <= TAKEOVER_LIMIT and first_after <= TAKEOVER_LIMIT
    assert emulator.too_many == 0  # one sender at a time: Telegram's overall limit held across the handover
    assert max(delivered.values()) == 1  # no chat got its message twice
    assert len(states) == MESSAGES and sent | unknown == set(states)  # every message sent or settled
    assert sent <= set(delivered)  # every 'sent' message arrived, exactly once (above)
    # The emulator's record against the rows: what it took beyond the 'sent' rows is exactly the 'unknown' rows that
    # reached it, the messages on the wire at the kill (none of them sent again); the rest of the 'unknown' rows were
    # marked 'sending' but killed before their request left, at most one sender's requests in flight in all.
    assert set(delivered) - sent == arrived_unknown
    assert sum(delivered.values()) == len(sent) + len(arrived_unknown)
    assert len(unknown) <= SENDS_AT_ONCE


async def readyz(port: int) -> tuple[int, str]:
    """GET /readyz of the process whose ops server is on `port`."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as response:
        return response.status, await response.text()


async def sender_active(port: int) -> int:
    """indexbot_outbox_sender_active{platform="telegram"} of the process whose ops server is on `port`."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        body = await response.text()
    found = re.search(r'^indexbot_outbox_sender_active\{platform="telegram"\} (\S+)$', body, re.M)
    assert found, body[:2000]
    return int(float(found.group(1)))
