"""Shared fixtures: one real anvil with the deployed protocol per test session, reverted after each test.

Offline by construction: pytest-socket (see addopts in pyproject.toml) refuses every connection that is not
to loopback, so a test that reaches the internet fails loudly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest

from bot.adapters.telegram import TelegramFrontend
from bot.app import App
from bot.config import Config, TelegramLimits, WebSettings
from bot.trading.ports import TradeSettings
from devnet.harness import Devnet
from discord_fake import FakeDiscord, fake_discord
from telegram_emulator import BotApiEmulator  # tests/ is on sys.path (rootdir conftest)


@pytest.fixture(scope="session")
async def devnet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Devnet]:
    net = await Devnet.start(tmp_path_factory.mktemp("devnet"))
    try:
        yield net
    finally:
        await net.stop()


@pytest.fixture
async def chain(devnet: Devnet) -> AsyncIterator[Devnet]:
    """The devnet, with whatever the test does to it reverted afterwards."""
    snap = await devnet.snapshot()
    try:
        yield devnet
    finally:
        await devnet.revert(snap)


def make_config(devnet: Devnet, home: Path, **overrides: object) -> Config:
    overrides.setdefault("web", WebSettings(port=0))  # web pages on a free port: tests never collide
    # Confirm waits up to 15 s for the receipt (the bot's default is 2 s): a devnet mines at once, but three test
    # processes on two cores can keep a receipt past 2 s, and the answer would be "submitted" instead of the outcome a
    # test reads. Tests of the "submitted" path set their own short wait.
    overrides.setdefault("trading", TradeSettings(inline_wait_seconds=15.0))
    return Config(home=home, chain=str(devnet.profile_path), database=home / "bot.sqlite3", **overrides)  # type: ignore[arg-type]


@pytest.fixture
async def app(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """A started bot on the devnet with its own fresh database."""
    bot = await App.start(make_config(chain, tmp_path))
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    """A local Telegram Bot API over HTTP on loopback."""
    async with BotApiEmulator() as emu:
        yield emu


# Journeys keep Telegram's limits ten times faster: a journey is a dozen messages to one chat, and at one a second
# it would spend its time waiting. The limits themselves, at Telegram's real pace too, are tested in
# test_telegram_limits.py and test_telegram_fairness.py, and measured by bench/fairness.py.
JOURNEY_LIMITS = TelegramLimits(scale=10)


@pytest.fixture
async def telegram(app: App, emulator: BotApiEmulator) -> AsyncIterator[TelegramFrontend]:
    """The real Telegram front end polling the emulator, attached for notices like `indexbot run` does."""
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    app.notices.attach(front)
    try:
        yield front
    finally:
        await app.notices.detach(front)
        await front.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser for the bot's web pages: keeps their cookies (a signing link belongs to the first browser)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def rest(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A stand-in for Discord's HTTP API on loopback, where discord.py's every request goes."""
    async with fake_discord() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api)
        yield server
