"""Telegram by webhook (issue 17): the settings refused with a line that says what is valid, the route that stores an
update once and acknowledges it only once stored (both engines), and the whole journey on the embedded default
(SQLite, one process): updates posted by the Bot API emulator, as Telegram does, into the real front end.

The fleet (three processes on PostgreSQL, every update posted twice) is tests/test_telegram_webhook_fleet.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.roles import telegram_updates as _telegram_updates
from bot.config import ConfigError, Secret, load_config
from bot.core.request import Request
from bot.core.router import Markup, Outcome
from bot.delivery.housekeeping import DAY, Housekeeping, Retention
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.frontends.web.server import WebServer, bind
from bot.frontends.web.telegram_webhook import MAX_UPDATE_BYTES, SECRET_HEADER, WebhookIngress
from bot.roles import ALL
from bot.jobs.engine import cancelled
from bot.storage.db import Database, Tx
from bot.storage.purge import PurgeRows
from bot.storage.repositories import ButtonRows
from bot.storage.schema import telegram_updates
from bot.storage.telegram_updates import Stored, TelegramUpdateRows
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator
from auxil.telegram import to_chat
from conftest import JOURNEY_LIMITS, make_config

SECRET = "s3cret_Webhook-token"
URL = "https://bot.example.com/telegram"

# -- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "says"), [
    ({"TELEGRAM_WEBHOOK_SECRET": SECRET}, "without TELEGRAM_WEBHOOK_URL"),
    ({"TELEGRAM_WEBHOOK_URL": URL}, "needs TELEGRAM_WEBHOOK_SECRET"),
    ({"TELEGRAM_WEBHOOK_URL": URL, "TELEGRAM_WEBHOOK_SECRET": "has space"}, "1-256 characters of A-Z, a-z, 0-9, _ and -"),
    ({"TELEGRAM_WEBHOOK_URL": URL, "TELEGRAM_WEBHOOK_SECRET": "x" * 257}, "1-256 characters of A-Z, a-z, 0-9, _ and -"),
    ({"TELEGRAM_WEBHOOK_URL": URL, "TELEGRAM_WEBHOOK_SECRET": "sécret"}, "1-256 characters of A-Z, a-z, 0-9, _ and -"),
    ({"TELEGRAM_WEBHOOK_URL": "http://bot.example.com/telegram", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "must be https"),
    ({"TELEGRAM_WEBHOOK_URL": "ftp://bot.example.com/telegram", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "must be https"),
    ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "must name a path"),
    ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/t?k=1", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "without query"),
    ({"TELEGRAM_WEBHOOK_URL": "https://u:pw@bot.example.com/t", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "credentials"),
    ({"TELEGRAM_WEBHOOK_URL": "bot.example.com/telegram", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "https URL with a path"),
    ({"TELEGRAM_WEBHOOK_URL": URL, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_WEBHOOK_MAX_CONNECTIONS": "0"}, "from 1 to 100"),
    ({"TELEGRAM_WEBHOOK_URL": URL, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_WEBHOOK_MAX_CONNECTIONS": "101"}, "from 1 to 100"),
    ({"TELEGRAM_WEBHOOK_URL": URL, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_WEBHOOK_MAX_CONNECTIONS": "many"}, "from 1 to 100"),
])
def test_bad_webhook_settings_are_refused_saying_what_is_valid(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(env)
    assert says in str(refused.value)
    assert "has space" not in str(refused.value) and "sécret" not in str(refused.value)  # never the secret itself


def test_webhook_settings_and_their_secret_never_shown(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = load_config({"TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:8443/tg", "TELEGRAM_WEBHOOK_SECRET_FILE":
                          str(tmp_path / "secret"), "TELEGRAM_WEBHOOK_MAX_CONNECTIONS": "7"})
    assert config.telegram_webhook_secret is not None and config.telegram_webhook_secret.reveal() == SECRET
    assert (config.telegram_webhook_url, config.telegram_webhook_connections) == ("http://127.0.0.1:8443/tg", 7)
    assert SECRET in config.secrets  # the log filter hides it
    assert SECRET not in json.dumps(config.redacted(), default=str) and SECRET not in repr(config)
    assert load_config({}).telegram_webhook_url is None  # long polling stays the default
    toml = tmp_path / "c.toml"
    toml.write_text(f'telegram_webhook_secret = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="secrets do not belong"):
        load_config({"INDEXBOT_CONFIG": str(toml)})


# -- the route, on both engines ---------------------------------------------------------------------------------


class Sink:
    """The front end's part as the route sees it; records what it was handed and whether another connection
    (`other`: another process) saw the row committed at that moment."""

    def __init__(self, other: Database) -> None:
        self.other = other
        self.handed: list[tuple[int, str | None, Stored, bool]] = []

    def key_of(self, body: dict[str, Any]) -> str | None:
        return f"{body['message']['chat']['id']}:{body['message']['from']['id']}" if "message" in body else None

    def storing(self, update_id: int, key: str | None) -> None:
        return None

    async def stored(self, update_id: int, key: str | None, body: dict[str, Any], found: Stored) -> None:
        seen = await self.other.scalar(select(func.count()).select_from(telegram_updates)
                                       .where(telegram_updates.c.update_id == update_id))
        self.handed.append((update_id, key, found, seen == 1))


class FailingOnce(TelegramUpdateRows):
    async def store(self, update_id: int, chat_key: str | None, body: str,
                    within: Callable[[Tx], Awaitable[None]] | None = None) -> Stored:
        if not getattr(self, "failed", False):
            self.failed = True
            raise OperationalError("INSERT", {}, ConnectionError("the database went away"))
        return await super().store(update_id, chat_key, body, within)


def update(update_id: int, chat: int = 5, text: str = "/quote MAG7 1") -> dict[str, Any]:
    """A private chat's command as Telegram posts it."""
    command = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1, "text": text, "entities": [command],
                                                "chat": {"id": chat, "type": "private"},
                                                "from": {"id": chat, "is_bot": False, "first_name": "A",
                                                         "language_code": "en"}}}


@pytest.fixture
async def route(db: Database) -> AsyncIterator[tuple[WebhookIngress, str]]:
    ingress = WebhookIngress("/telegram", SECRET, TelegramUpdateRows(db))
    server = WebServer(bind("127.0.0.1", 0), "", ingress.routes())
    await server.start()
    try:
        yield ingress, f"http://127.0.0.1:{server.sock.getsockname()[1]}/telegram"
    finally:
        await server.stop()


async def post(url: str, body: object, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as response:
        return response.status


async def stored_count(db: Database) -> int:
    return int(await db.scalar(select(func.count()).select_from(telegram_updates)))


async def test_a_wrong_or_missing_secret_is_401_and_stores_nothing(db: Database, other: Database,
                                                                   route: tuple[WebhookIngress, str]) -> None:
    ingress, url = route
    sink = Sink(other)
    ingress.attach(sink)
    for secret in (None, "", SECRET[:-1], SECRET + "x", SECRET.upper(), "s" * 256):
        assert await post(url, update(1), secret) == 401
    assert await stored_count(db) == 0 and sink.handed == []
    assert await post(url, update(1)) == 200
    assert await stored_count(db) == 1


async def test_an_update_is_acknowledged_only_once_stored_and_stored_once(db: Database, other: Database,
                                                                          route: tuple[WebhookIngress, str]) -> None:
    ingress, url = route
    assert await post(url, update(10)) == 503  # no front end attached (not the web role, or stopping): posted again later
    sink = Sink(other)
    ingress.attach(sink)
    assert await post(url, update(10)) == 200
    assert await post(url, update(10)) == 200  # the same update again (a retry, another process's copy)
    assert await TelegramUpdateRows(db).handled(10)
    assert await post(url, update(10)) == 200
    # handed on each time only once committed (another connection saw the row), a second copy found waiting
    assert sink.handed == [(10, "5:5", "new", True), (10, "5:5", "waiting", True), (10, "5:5", "handled", True)]
    assert await stored_count(db) == 1
    assert await post(url, update(11, text="/start " + "é" * 12_000)) == 200  # past the web pages' 16 KiB bound
    assert await post(url, b"x" * (MAX_UPDATE_BYTES + 1)) == 413
    assert await post(url, b"{not json") == 400
    assert await post(url, {"update_id": -1}) == 400
    assert await post(url, [1, 2]) == 400
    assert await stored_count(db) == 2


async def test_a_database_error_is_a_5xx_and_the_retry_stores_it(db: Database, other: Database) -> None:
    ingress = WebhookIngress("/telegram", SECRET, FailingOnce(db))
    sink = Sink(other)
    ingress.attach(sink)
    server = WebServer(bind("127.0.0.1", 0), "", ingress.routes())
    await server.start()
    try:
        async with BotApiEmulator() as emulator:  # posts like Telegram: again until a 2xx
            emulator.balance([f"http://127.0.0.1:{server.sock.getsockname()[1]}"])
            await emulator._api_setWebhook({"url": "http://localhost/telegram", "secret_token": SECRET})
            update_id = emulator.send_text(7, 7, "/start")
            posts = await emulator.wait_delivered(update_id)
    finally:
        await server.stop()
    assert [p.status for p in posts] == [503, 200]
    assert [(h[0], h[2], h[3]) for h in sink.handed] == [(update_id, "new", True)]


async def test_a_chat_turn_takes_its_waiting_updates_in_update_id_order(db: Database) -> None:
    """What a worker's job holding a chat's turn handles: the chat's waiting updates oldest first (one stored late by
    another process included), none of another chat, nothing once its own update was handled by an earlier turn."""
    rows = TelegramUpdateRows(db)
    for update_id, key in ((12, "5:5"), (20, "6:6"), (11, "5:5"), (30, None)):
        await rows.store(update_id, key, json.dumps(update(update_id)))
    assert [w.update_id for w in await rows.waiting_in_chat(12)] == [11, 12]
    assert [w.update_id for w in await rows.waiting_in_chat(30)] == [30]  # no chat: itself only
    assert await rows.handled(11) and await rows.handled(12) and not await rows.handled(12)
    await rows.store(13, "5:5", json.dumps(update(13)))  # stored while the turn ran
    assert await rows.waiting_in_chat(12) == []  # the job of 12, run after that turn: nothing to do
    assert [w.update_id for w in await rows.waiting_in_chat(12, unless_handled=False)] == [13]  # the turn goes on


async def test_handled_updates_are_purged_after_a_day_waiting_ones_never(db: Database) -> None:
    now = 1_800_000_000.0
    rows = TelegramUpdateRows(db, clock=lambda: now - DAY - 1)
    for update_id in (1, 2):
        await rows.store(update_id, "5:5", json.dumps(update(update_id)))
    await rows.handled(1)
    await TelegramUpdateRows(db, clock=lambda: now).store(3, "5:5", json.dumps(update(3)))
    await TelegramUpdateRows(db, clock=lambda: now).handled(3)
    gone = await Housekeeping(ButtonRows(db), PurgeRows(db), Retention(), clock=lambda: now).purge()
    assert gone["telegram updates"] == 1  # 1: handled a day ago; 2 waits (never purged); 3 handled just now
    assert [w.update_id for w in await rows.unhandled()] == [2]
    assert await stored_count(db) == 2


# -- the journey on the embedded default ----------------------------------------------------------------------


@pytest.fixture
async def hooked(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """A started bot (SQLite) configured for a webhook at a loopback URL (a local Bot API server may post over http)."""
    bot = await App.start(make_config(chain, tmp_path, telegram_webhook_url="http://localhost/telegram",
                                      telegram_webhook_secret=Secret(SECRET)))
    try:
        yield bot
    finally:
        await bot.stop()


@asynccontextmanager
async def front_end(app: App, emulator: BotApiEmulator) -> AsyncIterator[TelegramFrontend]:
    """The front end as `indexbot run` builds it with every role (bot.cli), and on PostgreSQL
    (INDEXBOT_TEST_ENGINE=postgresql) the worker of the update jobs."""
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS, **_telegram_updates(app, ALL))
    await front.start()
    app.notices.attach(front)
    worker = asyncio.create_task(app.jobs.work()) if app.jobs is not None else None  # the worker role's engine
    try:
        yield front
    finally:
        if worker is not None:
            await cancelled(worker)
        await app.notices.detach(front)
        await front.stop()


async def unhandled(app: App) -> int:
    return len(await TelegramUpdateRows(app.db).unhandled())


async def test_the_webhook_journey_on_sqlite(hooked: App, emulator: BotApiEmulator) -> None:
    app = hooked
    assert app.web is not None
    emulator.balance([app.web.url, app.web.url], copies=2)  # every update posted twice at once
    async with front_end(app, emulator):
        [hook] = emulator.calls_to("setWebhook")
        assert hook.params["url"] == "http://localhost/telegram" and hook.params["secret_token"] == SECRET
        assert hook.params["allowed_updates"] == ["message", "callback_query", "inline_query"] and hook.params["max_connections"] == "40"
        started = emulator.send_text(31, 31, "/start")
        hello = await emulator.wait_for("sendMessage", to_chat(31))
        quoted = emulator.send_text(31, 31, "/quote MAG7.ssi 100")
        quote = await emulator.wait_for("sendMessage", to_chat(31, "Buy quote: MAG7.ssi"))
        [data] = [b["callback_data"] for row in quote.params["reply_markup"]["inline_keyboard"] for b in row]
        since = emulator.mark()
        pressed = emulator.press(31, 31, quote.result["message_id"], data)
        again = await emulator.wait_for("editMessageText", to_chat(31, "Buy quote: MAG7.ssi"), since=since)  # Refresh: in place
        await emulator.wait_for("answerCallbackQuery", since=since)
        for update_id in (started, quoted, pressed):
            assert [p.status for p in await emulator.wait_delivered(update_id)] == [200, 200]
        await asyncio.sleep(0.3)  # a second answer to a doubly posted update would be here by now
        await wait_until(lambda: unhandled(app), 0)
    assert [c.chat_id for c in emulator.calls_to("sendMessage")] == [31, 31]  # one answer per update (the press: an edit)
    assert len(emulator.calls_to("editMessageText")) == 1
    assert hello.at < quote.at < again.at
    assert emulator.calls_to("getUpdates") == []  # never polled
    assert await stored_count(app.db) == 3


async def test_updates_stored_before_a_restart_are_handled_at_start(hooked: App, emulator: BotApiEmulator) -> None:
    app = hooked
    assert app.web is not None
    emulator.balance([app.web.url])
    rows = TelegramUpdateRows(app.db)
    for update_id, text in ((900, "/lang zh_CN"), (901, "/quote MAG7.ssi 100")):  # a killed run stored them, handled none
        assert await rows.store(update_id, "32:32", json.dumps(update(update_id, 32, text))) == "new"
    async with front_end(app, emulator):
        quote = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 32 and "MAG7.ssi" in c.params["text"])
        await wait_until(lambda: unhandled(app), 0)
    assert "Buy quote" not in quote.params["text"]  # in order: the language changed first, the quote is in Chinese
    assert len(emulator.calls_to("sendMessage")) == 2


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_one_chats_updates_by_webhook_are_handled_in_order(engine: str, chain: Devnet, tmp_path: Path,
                                                                 request: pytest.FixtureRequest, emulator: BotApiEmulator,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 by webhook: `/lang zh_CN` followed at once by `/quote`, for 10 users, each update posted twice: every
    quote in Chinese, each update answered once, the chats side by side. /lang is made slow, so each quote is stored
    and its job deferred while the chat's /lang still runs: on PostgreSQL the jobs of one chat share procrastinate's
    lock (the worker runs 32 jobs at once); on SQLite the in-process queue keeps each chat's order."""
    url = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    app = await App.start(make_config(chain, tmp_path, database_url=url, telegram_webhook_url="http://localhost/telegram",
                                      telegram_webhook_secret=Secret(SECRET)))
    try:
        assert app.web is not None and (app.jobs is not None) == (engine == "postgresql")
        handle = app.router.handle

        async def slowly(asked: Request, markup: Markup) -> Outcome:
            if asked.command == "lang":
                await asyncio.sleep(0.5)
            return await handle(asked, markup)

        monkeypatch.setattr(app.router, "handle", slowly)
        emulator.balance([app.web.url, app.web.url], copies=2)
        users = list(range(7201, 7211))
        async with front_end(app, emulator):
            for user in users:
                emulator.send_text(user, user, "/lang zh_CN")
                emulator.send_text(user, user, "/quote MAG7.ssi 100")
            await emulator.wait_count("sendMessage", 2 * len(users), timeout=60)
            await wait_until(lambda: unhandled(app), 0, timeout=30)
            await asyncio.sleep(0.3)  # a second answer to a doubly posted update would be here by now
    finally:
        await app.stop()
    switched_at = []
    for user in users:
        switched, quote = [c for c in emulator.calls_to("sendMessage") if c.chat_id == user]
        assert "Buy quote" not in quote.params["text"] and "MAG7.ssi" in quote.params["text"]  # /lang ran first
        switched_at.append(switched.at)
    assert max(switched_at) - min(switched_at) < len(users) * 0.5 / 2  # the chats' slow /lang ran side by side


async def wait_until(value: Any, expected: object, timeout: float = 10.0) -> None:
    async def reached() -> None:
        while await value() != expected:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reached(), timeout)


async def test_back_to_long_polling_the_webhook_is_deleted(app: App, emulator: BotApiEmulator) -> None:
    await emulator._api_setWebhook({"url": "http://127.0.0.1:9/telegram", "secret_token": SECRET})  # a previous run's
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS, **_telegram_updates(app, ALL))
    await front.start()
    try:
        emulator.send_text(33, 33, "/start")
        await emulator.wait_for("sendMessage", to_chat(33))
    finally:
        await front.stop()
    assert emulator.webhook is None and emulator.calls_to("deleteWebhook")
    assert emulator.deliveries == []  # nothing was posted to the old URL once polling took over
