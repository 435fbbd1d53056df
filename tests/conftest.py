"""Shared fixtures: one real anvil with the deployed protocol per test session, reverted after each test.

Offline by construction: pytest-socket (see addopts in pyproject.toml) refuses every connection that is not
to loopback, so a test that reaches the internet fails loudly.

Three layers, marked here from the fixtures a test uses (`pytest -m pure`, `-m chain`, `-m platform`):
- `chain`: the test uses a devnet (anvil), through a fixture of CHAIN_FIXTURES;
- `platform`: a chat platform stands in (the Telegram Bot API emulator, the Discord stand-in, the console front end
  run as a process), through a fixture of PLATFORM_FIXTURES;
- `pure`: neither, so no anvil is started and `pytest -m pure` runs in seconds.
A test that starts a devnet or a platform in its own body (no fixture) carries `@pytest.mark.chain` /
`@pytest.mark.platform` itself; a test may be both chain and platform, never pure and either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import discord
import pytest
from web3 import AsyncWeb3

from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from bot.config import Config, TelegramLimits, WebSettings
from bot.storage.db import Database
from bot.trading.ports import TradeSettings
from devnet.harness import Devnet
from devnet.rpc import connect
from discord_fake import GUILD_ID, FakeDiscord, fake_discord
from telegram_emulator import BotApiEmulator  # tests/ is on sys.path (rootdir conftest)
from auxil.postgres import ENGINE, PROCESS_CONNECTIONS, TestDatabase, app_database, drop_app_databases, find_server

# Fixtures that start (or hand out) an anvil. A fixture built on one of them (`app`, `telegram`, a module's own
# `bot` on `chain` ...) is caught too: `item.fixturenames` holds every fixture a test reaches, not only its arguments.
CHAIN_FIXTURES = frozenset({
    "devnet", "chain", "app",  # this conftest: the session devnet, reverted per test, and a started bot on it
    "deployed",  # test_devnet.py: an anvil of its own with the protocol deployed
    "hours_app",  # auxil/issuance.py: a bot on copies of the devnet's profiles
    "bare_base",  # test_check.py: a bare anvil with Base's chain id
    "ethereum_node",  # test_connected_chains.py: a bare anvil with chain id 1
    "good_state",  # test_chainbind.py: a persisted devnet's saved state
    "two_chains",  # test_two_chains.py: a second devnet
})
# Fixtures that start a chat platform's stand-in.
PLATFORM_FIXTURES = frozenset({
    "emulator", "telegram",  # this conftest: the Telegram Bot API emulator, and the front end polling it
    "rest",  # this conftest: the Discord HTTP API stand-in
    "dpy",  # test_discord.py: the Discord front end on dpytest's backend
    "fast", "busy", "real",  # test_telegram_limits.py: emulators with Telegram's limits scaled
    "slow",  # test_telegram_fairness.py: an emulator and a front end over a slow RPC proxy
})
LAYERS = ("pure", "chain", "platform")


def pytest_sessionfinish() -> None:
    drop_app_databases()  # INDEXBOT_TEST_ENGINE=postgresql: the started bots' databases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test on the `db` fixture runs on SQLite and on PostgreSQL, unless it also starts a chain or a platform
    (those journeys run on SQLite, the embedded default; a few of them choose PostgreSQL themselves)."""
    if "db" in metafunc.fixturenames:
        heavy = set(metafunc.fixturenames) & (CHAIN_FIXTURES | PLATFORM_FIXTURES)
        metafunc.parametrize("db", ["sqlite"] if heavy else ["sqlite", "postgresql"], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test `chain` and/or `platform` from its fixtures (or keeps its own marks), else `pure`."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        marked = {mark.name for mark in item.iter_markers() if mark.name in LAYERS}
        if fixtures & CHAIN_FIXTURES and "chain" not in marked:
            item.add_marker(pytest.mark.chain)
            marked.add("chain")
        if fixtures & PLATFORM_FIXTURES and "platform" not in marked:
            item.add_marker(pytest.mark.platform)
            marked.add("platform")
        if "pure" in marked and marked != {"pure"}:
            raise pytest.UsageError(f"{item.nodeid} is marked pure but uses {sorted(marked - {'pure'})}")
        if not marked:
            item.add_marker(pytest.mark.pure)


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


@pytest.fixture
async def w3(chain: Devnet) -> AsyncIterator[AsyncWeb3]:
    """A web3 client of the devnet."""
    async with connect(chain.url) as client:
        yield client


def make_config(devnet: Devnet, home: Path, **overrides: object) -> Config:
    overrides.setdefault("web", WebSettings(port=0))  # web pages on a free port: tests never collide
    # Confirm waits up to 15 s for the receipt (the bot's default is 2 s): a devnet mines at once, but three test
    # processes on two cores can keep a receipt past 2 s, and the answer would be "submitted" instead of the outcome a
    # test reads. Tests of the "submitted" path set their own short wait.
    overrides.setdefault("trading", TradeSettings(inline_wait_seconds=15.0))
    overrides.setdefault("database_connections", PROCESS_CONNECTIONS)  # on PostgreSQL (auxil/postgres.py says why)
    if ENGINE == "postgresql":  # INDEXBOT_TEST_ENGINE=postgresql: every started bot on a PostgreSQL database of its own
        overrides.setdefault("database_url", app_database(str(home)))
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
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database of the test's own: SQLite, and PostgreSQL too for a test that needs no chain and
    no platform (`pytest_generate_tests` runs it on both: the repositories' queries are one set for both)."""
    engine = getattr(request, "param", "sqlite")
    where = tmp_path / "test.sqlite3" if engine == "sqlite" else request.getfixturevalue("pg_url")
    database = await Database.open(where)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server the tests use (INDEXBOT_TEST_DATABASE_URL, else the local one), as
    `postgresql://user@host:port`; without one, the test is skipped and says why (tests/auxil/postgres.py)."""
    server, how = find_server()
    if server is None:
        pytest.skip(how)
    return server


@pytest.fixture
async def other(db: Database) -> AsyncIterator[Database]:
    """Another process, as far as the database can tell: a second `Database` (its own connection pool) on the `db`
    fixture's database, for tests of two processes racing on the same rows."""
    second = await Database.open(db.engine.url.render_as_string(hide_password=False))
    try:
        yield second
    finally:
        await second.close()


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str) -> Iterator[TestDatabase]:
    """This test process's own database on that server (one per run and xdist worker), dropped when the session ends."""
    database = TestDatabase.create(pg_server_url)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def pg_url(pg_database: TestDatabase) -> Iterator[str]:
    """The URL (`postgresql://…/<database>`) of this test's PostgreSQL database, with nothing in it from the test
    before: empty for `Database.open` to migrate, or (once two tests in a row migrated it alike) that migrated schema
    with every table emptied and every sequence restarted, which `Database.open` finds up to date. A test that leaves
    a session open in it (a pool not closed, a process not stopped) fails at its teardown, which names them."""
    pg_database.prepare()
    yield pg_database.url
    if left := pg_database.left_open():
        pytest.fail(f"sessions left open in the test's database (ended now): {left}", pytrace=False)


@pytest.fixture
def pg_empty_url(pg_database: TestDatabase) -> str:
    """As `pg_url`, always empty: no schema but an empty `public` (a test of the migrations themselves)."""
    pg_database.reset()
    return pg_database.url


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


@pytest.fixture
async def frontend(app: App, rest: FakeDiscord) -> AsyncIterator[DiscordFrontend]:
    """A logged-in Discord adapter (setup_hook ran and synced its commands to the stand-in), without a gateway."""
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    try:
        await front.bot.login("test-token")
        rest.calls.clear()
        yield front
    finally:
        await front.bot.close()
