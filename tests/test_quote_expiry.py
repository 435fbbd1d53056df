"""A quote left alone is edited at its expiry to say so, with only a Refresh (bot.delivery.quotes): through the real
Telegram front end on the Bot API emulator, on SQLite, across a restart, and with two workers on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.trading.ports import TradeSettings
from conftest import JOURNEY_LIMITS, make_config
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator, Call
from auxil.telegram import ask, labels_of, press_and_wait_edit
from auxil.discord import slash
from discord_fake import APP_ID, FakeDiscord

EXPIRED = "That quote expired"


def short(ttl: int) -> TradeSettings:
    """Quotes that expire after `ttl` seconds, swept every second."""
    return TradeSettings(inline_wait_seconds=15.0, quote_ttl_seconds=ttl, expired_sweep_seconds=1)


@asynccontextmanager
async def bot(chain: Devnet, home: Path, emulator: BotApiEmulator | None, ttl: int = 2, *, schedule: bool = True,
              telegram: bool = True, **overrides: Any) -> AsyncIterator[App]:
    """A bot with the Telegram front end on the emulator and its timed jobs running, as `indexbot run` starts it."""
    app = await App.start(make_config(chain, home, trading=short(ttl), **overrides))
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS) if telegram and emulator else None
    try:
        if front is not None:
            await front.start()
            app.notices.attach(front)
        if schedule:
            await app.start_schedule()
        yield app
    finally:
        if front is not None:
            await app.notices.detach(front)
            await front.stop()
        await app.stop()


async def trader(emulator: BotApiEmulator, user: int) -> None:
    await ask(emulator, user, user, "/wallet new")
    await ask(emulator, user, user, "/pin 4821")
    await ask(emulator, user, user, "/faucet")


def on(message: Call) -> Any:
    return lambda c: int(c.params["message_id"]) == message.result["message_id"]


def expired_edit(message: Call) -> Any:
    return lambda c: on(message)(c) and c.params["text"].startswith(EXPIRED)


async def test_a_quote_left_alone_says_it_expired_and_refresh_quotes_again(chain: Devnet, tmp_path: Path,
                                                                           emulator: BotApiEmulator) -> None:
    async with bot(chain, tmp_path, emulator):
        await trader(emulator, 8801)
        quote = await ask(emulator, 8801, 8801, "/buy MAG7.ssi 25")
        assert labels_of(quote) == ["Confirm", "Cancel", "Limit…"]  # Limit…: the same buy as an order (order_buttons)
        since = emulator.mark()
        edited = await emulator.wait_for("editMessageText", on(quote), since=since, timeout=15)
        assert edited.params["text"].startswith(EXPIRED) and labels_of(edited) == ["Refresh"]
        assert emulator.calls_to("sendMessage", since) == []  # an edit, nothing new
        fresh = await press_and_wait_edit(emulator, 8801, edited, "Refresh")
        assert "Confirm within" in fresh.params["text"] and "25 USDC" in fresh.params["text"]
        assert labels_of(fresh) == ["Confirm", "Cancel", "Limit…"]
        again = await emulator.wait_for("editMessageText", expired_edit(quote), since=emulator.mark(), timeout=15)
        assert labels_of(again) == ["Refresh"]  # the fresh quote, left alone too, expires the same way


async def test_a_staking_offer_left_alone_expires_and_refresh_offers_it_again(chain: Devnet, tmp_path: Path,
                                                                            emulator: BotApiEmulator) -> None:
    async with bot(chain, tmp_path, emulator, ttl=6):
        await trader(emulator, 8806)
        await press_and_wait_edit(emulator, 8806, await ask(emulator, 8806, 8806, "/buy MAG7.ssi 100"), "Confirm")
        offer = await ask(emulator, 8806, 8806, "/stake MAG7 0.2")
        assert labels_of(offer) == ["Confirm", "Cancel"]
        edited = await emulator.wait_for("editMessageText", expired_edit(offer), since=emulator.mark(), timeout=20)
        assert labels_of(edited) == ["Refresh"]
        fresh = await press_and_wait_edit(emulator, 8806, edited, "Refresh")
        assert labels_of(fresh) == ["Confirm", "Cancel"] and "0.2 MAG7.ssi" in fresh.params["text"]


async def test_a_confirmed_quote_is_never_edited_to_expired(chain: Devnet, tmp_path: Path, emulator: BotApiEmulator) -> None:
    async with bot(chain, tmp_path, emulator, ttl=6) as app:
        await trader(emulator, 8802)
        quote = await ask(emulator, 8802, 8802, "/buy MAG7.ssi 25")
        done = await press_and_wait_edit(emulator, 8802, quote, "Confirm")
        assert done.params["text"].startswith("Confirmed in block")
        since = emulator.mark()
        await asyncio.sleep(9)  # past its expiry and a few sweeps
        assert [c for c in emulator.calls_to("editMessageText", since) if expired_edit(quote)(c)] == []
        assert await app.services.quotes.rows.due(2**40) == []  # nothing left to sweep either


async def test_a_cancelled_or_deleted_quote_is_dropped_quietly(chain: Devnet, tmp_path: Path, emulator: BotApiEmulator) -> None:
    async with bot(chain, tmp_path, emulator) as app:
        await trader(emulator, 8803)
        cancelled = await ask(emulator, 8803, 8803, "/buy MAG7.ssi 25")
        await press_and_wait_edit(emulator, 8803, cancelled, "Cancel")
        deleted = await ask(emulator, 8803, 8803, "/buy MAG7.ssi 30")
        del emulator.messages[(8803, deleted.result["message_id"])]  # the user deleted it
        since = emulator.mark()
        tried = await emulator.wait_for("editMessageText", on(deleted), since=since, timeout=15)
        assert tried.params["text"].startswith(EXPIRED)
        await asyncio.sleep(3)
        assert emulator.calls_to("sendMessage", since) == []  # not sent anew
        assert [c for c in emulator.calls_to("editMessageText", since) if on(deleted)(c)] == [tried]  # not retried
        assert [c for c in emulator.calls_to("editMessageText", since) if on(cancelled)(c)] == []
        user = await app.services.users.seen("telegram", "8803")
        assert (await app.outbox.rows.recipient(user.id, "trade")).blocked is False  # the chat is not rested
        assert "Confirm within" in (await ask(emulator, 8803, 8803, "/buy MAG7.ssi 25")).params["text"]


async def test_a_restart_before_the_expiry_still_edits_the_quote(chain: Devnet, tmp_path: Path, emulator: BotApiEmulator) -> None:
    async with bot(chain, tmp_path, emulator, ttl=3, schedule=False):
        await trader(emulator, 8804)
        quote = await ask(emulator, 8804, 8804, "/buy MAG7.ssi 25")
    since = emulator.mark()
    await asyncio.sleep(4)  # it expires while no bot runs
    async with bot(chain, tmp_path, emulator, ttl=3):
        edited = await emulator.wait_for("editMessageText", on(quote), since=since, timeout=15)
        assert edited.params["text"].startswith(EXPIRED) and labels_of(edited) == ["Refresh"]


async def test_two_workers_on_postgresql_edit_an_expired_quote_once(chain: Devnet, tmp_path: Path, emulator: BotApiEmulator,
                                                                   pg_url: str) -> None:
    async with bot(chain, tmp_path / "a", emulator, ttl=3, database_url=pg_url) as first, \
            bot(chain, tmp_path / "b", emulator, ttl=3, telegram=False, database_url=pg_url) as second:
        await trader(emulator, 8805)
        quote = await ask(emulator, 8805, 8805, "/buy MAG7.ssi 25")
        since = emulator.mark()
        while not await first.services.quotes.rows.due(int(first.services.quotes.clock())):
            await asyncio.sleep(0.05)
        swept = await asyncio.gather(first.services.quotes.sweep(), second.services.quotes.sweep(),
                                     first.services.quotes.sweep(), second.services.quotes.sweep())  # beside both workers' job
        assert sum(swept) <= 1
        await emulator.wait_for("editMessageText", expired_edit(quote), since=since, timeout=45)
        await asyncio.sleep(3)  # a few more sweeps, of both workers
        assert len([c for c in emulator.calls_to("editMessageText", since) if expired_edit(quote)(c)]) == 1
        assert await second.services.quotes.rows.due(2**40) == []


def discord_labels(call: Any) -> list[str]:
    body = call.body.get("data", call.body)
    return [b["label"] for row in body.get("components") or [] for b in row["components"] if b.get("type") == 2]


@pytest.mark.parametrize("guild", [True, False], ids=["server", "dm"])
async def test_on_discord_a_quote_left_alone_says_it_expired(chain: Devnet, tmp_path: Path, rest: FakeDiscord, guild: bool) -> None:
    """In a server the quote is ephemeral: edited through its interaction's webhook (its token lasts 15 minutes)."""
    async with bot(chain, tmp_path, None, telegram=False) as app:
        front = DiscordFrontend(app, "test-token")
        await front.bot.login("test-token")
        app.notices.attach(front)
        try:
            await slash(front, "wallet", guild=guild, action="new")
            await slash(front, "pin", guild=guild, pin="4821")
            await slash(front, "faucet", guild=guild)
            since = len(rest.calls)
            await slash(front, "buy", guild=guild, index="MAG7.ssi", amount="25")
            [quote] = [c for c in rest.calls[since:] if "Confirm within" in c.content]
            assert discord_labels(quote) == ["Confirm", "Cancel", "Limit…"]
            edited = await rest.wait_for(lambda c: c.method == "PATCH" and c.content.startswith(EXPIRED), timeout=15)
            assert discord_labels(edited) == ["Refresh"]
            if guild:  # only Alice sees it: edited through its interaction's webhook, by the interaction's token
                assert edited.path.startswith(f"/webhooks/{APP_ID}/")
            assert not [c for c in rest.calls[since:] if c.method == "POST" and "/channels/" in c.path]  # nothing new
        finally:
            await app.notices.detach(front)
            await front.bot.close()
