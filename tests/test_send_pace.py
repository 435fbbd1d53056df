"""Telegram's limits kept by a fleet, not per process (bot.storage.send_pace): two processes' rate limiters, each on
its own pool of one PostgreSQL database, send through python-telegram-bot to one Bot API emulator that enforces the
limits (time-scaled). Without the shared pace each process keeps the limits alone and together they break them: the
control cases show the emulator refusing, so the measure can fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from telegram.ext import ExtBot

from bot.app import App
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.frontends.adapters.telegram_limits import TelegramLimits, TelegramRateLimiter
from bot.storage.db import Database
from bot.storage.send_pace import Pace, SendPace
from conftest import make_config
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator, EmulatedLimits

pytestmark = pytest.mark.platform

Process = Callable[[bool], Awaitable[ExtBot[None]]]


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(limits=EmulatedLimits(scale=SCALE)) as emu:
        yield emu


SCALE = 1.0  # Telegram's own: 30 messages a second overall, 1 a second per private chat


@pytest.fixture
async def process(pg_url: str, emulator: BotApiEmulator) -> AsyncIterator[Process]:
    """`process(shared)`: one more process's bot (its own database pool and rate limiter), with the fleet's shared
    pace or without it."""
    opened: list[tuple[ExtBot[None], Database]] = []

    async def start(shared: bool) -> ExtBot[None]:
        db = await Database.open(pg_url)
        limiter = TelegramRateLimiter(TelegramLimits(scale=SCALE), fleet=SendPace(db) if shared else None)
        bot: ExtBot[None] = ExtBot(emulator.token, base_url=f"{emulator.url}/bot", rate_limiter=limiter)
        opened.append((bot, db))
        await bot.initialize()
        return bot

    yield start
    for bot, db in opened:
        await bot.shutdown()
        await db.close()


async def send_all(bots: list[ExtBot[None]], chats: list[list[int]]) -> None:
    await asyncio.gather(*(bot.send_message(chat, "hi") for bot, mine in zip(bots, chats) for chat in mine))


@pytest.mark.parametrize("shared", [True, False], ids=["shared pace", "control: each process alone"])
async def test_two_processes_together_keep_the_overall_limit(process: Process, emulator: BotApiEmulator,
                                                             shared: bool) -> None:
    bots = [await process(shared), await process(shared)]
    n = 45  # per process: a second and a half of the overall limit each
    await send_all(bots, [list(range(1_000, 1_000 + n)), list(range(2_000, 2_000 + n))])
    sent = sorted(c.at for c in emulator.calls_to("sendMessage") if c.result and "message_id" in c.result)
    assert len(sent) == 2 * n  # each refused message was tried again
    busiest = max(sum(1 for t in sent if start <= t < start + 1 / SCALE) for start in sent)
    if shared:
        assert emulator.too_many_overall == 0
        assert busiest <= 30 * SCALE
    else:  # each alone at nearly the limit: twice it together
        assert emulator.too_many_overall > 0


@pytest.mark.parametrize("shared", [True, False], ids=["shared pace", "control: each process alone"])
async def test_a_chat_answered_by_two_processes_keeps_its_own_pace(process: Process, emulator: BotApiEmulator,
                                                                   shared: bool) -> None:
    bots = [await process(shared), await process(shared)]
    chat = 4242
    await send_all(bots, [[chat] * 3, [chat] * 3])
    assert len([c for c in emulator.calls_to("sendMessage") if c.result and "message_id" in c.result]) == 6
    if shared:
        assert emulator.too_many_chats[chat] == 0
    else:  # a burst of three from each process: the chat's bucket of three refuses
        assert emulator.too_many_chats[chat] > 0


async def test_a_429_for_a_chat_holds_it_in_every_process(process: Process, emulator: BotApiEmulator) -> None:
    first, second = await process(True), await process(True)
    chat = 777
    emulator.fail_next("sendMessage", 429, retry_after=2)
    await first.send_message(chat, "refused once, then sent")
    refused = next(c for c in emulator.calls_to("sendMessage") if not (c.result and "message_id" in c.result))
    await second.send_message(chat, "held by the first process's 429")
    last = emulator.calls_to("sendMessage")[-1]
    assert last.at - refused.at >= 2.0 - 0.05  # the other process waited out the pause too
    other = 778
    started = asyncio.get_running_loop().time()
    await second.send_message(other, "another chat is not held")
    assert asyncio.get_running_loop().time() - started < 0.5


async def test_a_pace_the_database_cannot_give_leaves_the_local_limits_and_says_so(
        process: Process, emulator: BotApiEmulator, pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    bot = await process(True)
    limiter = bot.rate_limiter
    assert isinstance(limiter, TelegramRateLimiter) and limiter.fleet is not None
    db = await Database.open(pg_url)
    limiter.fleet = SendPace(db)
    await db.close()  # every reservation now fails
    with caplog.at_level(logging.WARNING):
        await bot.send_message(5, "sent anyway")
        await bot.send_message(5, "and again")
    assert len(emulator.calls_to("sendMessage")) == 2
    failed = [r for r in caplog.records if "shared pace failed" in r.getMessage()]
    assert len(failed) == 1  # once, not per message


async def test_reservations_follow_the_rate_and_burst_they_name(pg_url: str) -> None:
    db = await Database.open(pg_url)
    try:
        pace = SendPace(db)
        waits = [await pace.reserve([Pace("k", 10.0, 3)]) for _ in range(5)]
    finally:
        await db.close()
    assert waits[:3] == [0.0, 0.0, 0.0]  # the burst
    assert 9.0 < waits[3] <= 10.0 and 19.0 < waits[4] <= 20.0  # then one every 10 s, reserved ahead


@pytest.mark.chain
async def test_a_front_end_on_postgresql_paces_with_the_fleet_and_one_on_sqlite_alone(
        chain: Devnet, tmp_path: Path, pg_url: str, emulator: BotApiEmulator) -> None:
    for where, shared in ((pg_url, True), (None, False)):
        app = await App.start(make_config(chain, tmp_path / str(shared), database_url=where), track_head=False)
        try:
            front = TelegramFrontend(app, emulator.token, emulator.url)
            limiter = front.application.bot.rate_limiter
            assert isinstance(limiter, TelegramRateLimiter)
            assert (limiter.fleet is not None) is shared
        finally:
            await app.stop()


async def test_a_message_cancelled_while_it_waits_for_the_fleet_gives_its_slot_back(
        process: Process, emulator: BotApiEmulator) -> None:
    bot = await process(True)
    limiter = bot.rate_limiter
    assert isinstance(limiter, TelegramRateLimiter) and limiter.fleet is not None
    chat = 31
    await bot.send_message(chat, "takes the chat's row")
    await limiter.fleet.hold(f"telegram:{chat}", 30.0)  # as another process's 429 would
    waiting = asyncio.create_task(bot.send_message(chat, "waits 30 s for the fleet"))
    await asyncio.sleep(0.5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter._overall.in_flight == 0  # without the slot back, every later message would count it forever
    assert len(emulator.calls_to("sendMessage")) == 1
