"""/announce through the real front ends: python-telegram-bot against the local Bot API emulator and discord.py
against the loopback REST fake, both attached to the outbox as `indexbot run` attaches them."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_render import DiscordMarkup
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.delivery.announce.config import AnnounceConfig
from bot.delivery.announce.service import Reach
from handlers.announce import reached
from bot.app import App
from bot.core.messages import Count, Msg
from conftest import make_config
from devnet.harness import Devnet
from discord_fake import DM_CHANNEL_ID, GUILD_ID, GUILD_NAME, MANAGERS_ROLE_ID, FakeDiscord, user_dict
from discord_fake import Call as DiscordCall
from telegram_emulator import BotApiEmulator, Call
from auxil.catalog import html_text as text  # as the Telegram adapter renders it
from auxil.telegram import ask, to_chat
from auxil.discord import ALICE_ACTS

slash = ALICE_ACTS.slash  # every call names its user (BOB) and whether it is in the server (guild=...)

MOD = 7001  # a configured Telegram moderator
GROUP = -100555
CONFIGURED_GROUP = -100777
CONFIGURED_CHANNEL = 920000000000000077
BOB = user_dict(940000000000000002, "bob")
CONFIG = AnnounceConfig(telegram_moderators=frozenset({str(MOD)}), telegram_chats=(str(CONFIGURED_GROUP),),
                        discord_channels=(str(CONFIGURED_CHANNEL),))


@pytest.fixture
async def app(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """The app with moderators configured (the conftest `telegram` fixture runs its front end on this one)."""
    bot = await App.start(make_config(chain, tmp_path, announce=CONFIG))
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def disc(app: App, rest: FakeDiscord) -> AsyncIterator[DiscordFrontend]:
    """The Discord front end logged in to the fake (no gateway) and attached to the outbox."""
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    await front.bot.login("test-token")
    app.notices.attach(front)
    try:
        yield front
    finally:
        await app.notices.detach(front)
        await front.bot.close()


async def press_first(emulator: BotApiEmulator, user: int, chat: int, preview: Call) -> Call:
    """Press the preview's first button (Send now); the bot's edit of the preview."""
    data = preview.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    since = emulator.mark()
    emulator.press(user, chat, preview.result["message_id"], data)
    return await emulator.wait_for("editMessageText", lambda c: c.chat_id == chat, since=since)


async def until(check: Callable[[], Any], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def scalar(app: App, sql: str) -> Any:
    return await app.db.scalar(sql)


async def test_a_moderators_announcement_reaches_everyone_on_both_platforms_in_their_language(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, disc: DiscordFrontend, rest: FakeDiscord,
) -> None:
    await ask(emulator, MOD, MOD, "/help")
    await ask(emulator, 7002, 7002, "/help", language_code="zh-hans")
    rest.open_dm(DM_CHANNEL_ID, BOB)
    await slash(disc, "help", BOB, guild=False)  # Bob talks to the bot in a DM: that is where his alerts go

    await ask(emulator, MOD, MOD, "/announce Hello <everyone> & welcome")
    preview = await ask(emulator, MOD, MOD, "/announce zh_CN 大家好")
    shown = html.unescape(preview.params["text"])
    assert "Hello <everyone> & welcome" in shown and "大家好" in shown
    assert "&lt;everyone&gt; &amp; welcome" in preview.params["text"]  # escaped for Telegram's HTML
    assert html.unescape(text(app, "announce.preview.reach", **reached(Reach(3, 2)))) in shown

    since = emulator.mark()
    edited = await press_first(emulator, MOD, MOD, preview)
    assert html.unescape(edited.params["text"]) == html.unescape(text(app, "announce.sending", id=1, **reached(Reach(3, 2))))
    chinese = await emulator.wait_for("sendMessage", to_chat(7002), since=since)
    assert chinese.params["text"] == f"<b>{text(app, 'announce.header', 'zh_CN')}</b>\n大家好"
    english = f"<b>{text(app, 'announce.header')}</b>\nHello &lt;everyone&gt; &amp; welcome"
    own = await emulator.wait_for("sendMessage", to_chat(MOD), since=since)
    assert own.params["text"] == english
    group = await emulator.wait_for("sendMessage", to_chat(CONFIGURED_GROUP), since=since)
    assert group.params["text"] == english

    async def discord_got() -> bool:
        return bool(rest.where("POST", f"/channels/{DM_CHANNEL_ID}/messages")) and bool(
            rest.where("POST", f"/channels/{CONFIGURED_CHANNEL}/messages"))

    await until(discord_got)
    dm = rest.where("POST", f"/channels/{DM_CHANNEL_ID}/messages")
    assert len(dm) == 1 and "welcome" in dm[0].content and "大家好" not in dm[0].content
    assert dm[0].content.startswith(f"**{text(app, 'announce.header')}**")
    assert not [c for c in emulator.calls_to("sendMessage") if c.chat_id == 7002 and "welcome" in c.params["text"]]

    async def all_sent() -> bool:
        return await scalar(app, "SELECT COUNT(*) FROM outbox WHERE announcement_id = 1 AND state = 'sent'") == 5

    await until(all_sent)
    status = await ask(emulator, MOD, MOD, "/announce status")
    assert html.unescape(status.params["text"]) == app.services.catalogs.render_msg(Msg("announce.status", {
        "id": 1, "state": Msg("announce.state.done"), "sent": 5, "pending": 0, "blocked": 0, "failed": 0, "unknown": 0,
        "cancelled": 0}), "en", str)


async def test_telegram_group_members_are_refused_and_its_admins_announce_to_it(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend,
) -> None:
    await ask(emulator, 7003, 7003, "/help")
    await ask(emulator, 7004, 7004, "/help")  # subscribed, but never seen in the group
    await ask(emulator, 7003, GROUP, "/help", chat_type="supergroup")

    refused = await ask(emulator, 7009, GROUP, "/announce Free tokens for all", chat_type="supergroup")
    assert refused.params["text"] == text(app, "announce.refused")
    assert [c.params["user_id"] for c in emulator.calls_to("getChatMember")] == ["7009"]
    assert await scalar(app, "SELECT COUNT(*) FROM announcements") == 0
    detail = await scalar(app, "SELECT detail FROM audit_log WHERE action = 'announce.refused'")
    assert '"user": "7009"' in detail and f'"chat": "{GROUP}"' in detail and "Free tokens for all" in detail

    emulator.set_admin(GROUP, 7010)
    preview = await ask(emulator, 7010, GROUP, "/announce Meetup tonight", chat_type="supergroup")
    assert text(app, "announce.preview.reach", **reached(Reach(1, 3))) in preview.params["text"]  # 7003; 2 configured + the group
    await press_first(emulator, 7010, GROUP, preview)
    assert len(emulator.calls_to("getChatMember")) == 3  # asked again for the draft and for the press
    await emulator.wait_for("sendMessage", to_chat(7003, "Meetup tonight"))
    await emulator.wait_for("sendMessage", to_chat(GROUP, "Meetup tonight"))
    await emulator.wait_for("sendMessage", to_chat(CONFIGURED_GROUP, "Meetup tonight"))
    await asyncio.sleep(0.3)
    assert not [c for c in emulator.calls_to("sendMessage") if c.chat_id == 7004 and "Meetup" in c.params["text"]]

    emulator.set_admin(GROUP, 7010, admin=False)  # demoted: refused from then on
    again = await ask(emulator, 7010, GROUP, "/announce status", chat_type="supergroup")
    assert again.params["text"] == text(app, "announce.refused")


async def test_discord_members_without_rights_are_refused_and_managers_may_announce(
    app: App, disc: DiscordFrontend, rest: FakeDiscord,
) -> None:
    await slash(disc, "announce", BOB, guild=True, permissions="0", text="Free tokens")
    callback = rest.where("POST", "/callback")[-1]
    assert callback.content == app.services.catalogs.render_msg(Msg("announce.refused"), "en", DiscordMarkup.escape)
    assert await scalar(app, "SELECT COUNT(*) FROM announcements") == 0
    detail = await scalar(app, "SELECT detail FROM audit_log WHERE action = 'announce.refused'")
    assert f'"user": "{BOB["id"]}"' in detail and f'"community": "{GUILD_ID}"' in detail

    manage_server = str(discord.Permissions(manage_guild=True).value)
    await slash(disc, "announce", BOB, guild=True, permissions=manage_server, text="Server news")
    assert await scalar(app, "SELECT scope FROM announcements") == f"discord:{GUILD_ID}"
    assert "Server news" in rest.where("POST", "/callback")[-1].content


async def test_a_user_who_blocked_the_bot_is_marked_and_skipped_next_time(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend,
) -> None:
    await ask(emulator, MOD, MOD, "/help")
    await ask(emulator, 7002, 7002, "/help")
    emulator.block(7002)
    draft = await ask(emulator, MOD, MOD, "/announce First")
    first = emulator.mark()  # after the draft, which says "First" too: what follows is the announcement itself
    await press_first(emulator, MOD, MOD, draft)
    await emulator.wait_for("sendMessage", to_chat(7002, "First"), since=first)
    await emulator.wait_for("sendMessage", to_chat(MOD, "First"), since=first)  # before the next command's reply

    async def marked() -> bool:
        return await scalar(app, "SELECT blocked_at IS NOT NULL FROM users WHERE platform_user_id = '7002'") == 1

    await until(marked)
    since = emulator.mark()
    await press_first(emulator, MOD, MOD, await ask(emulator, MOD, MOD, "/announce Second"))
    await emulator.wait_for("sendMessage", to_chat(MOD, "Second"), since=since)
    await asyncio.sleep(0.3)
    assert [c for c in emulator.calls[since:] if c.chat_id == 7002] == []
    assert await scalar(app, "SELECT COUNT(*) FROM outbox WHERE announcement_id = 2 AND user_id IS NOT NULL") == 1
    status = await ask(emulator, MOD, MOD, "/announce status 1")
    assert ", 1 blocked," in status.params["text"]

    cancel_draft = await ask(emulator, MOD, MOD, "/announce Third")
    assert cancel_draft.params["reply_markup"]
    cancelled = await ask(emulator, MOD, MOD, "/announce cancel")
    assert cancelled.params["text"] == text(app, "announce.cancelled", id=3, count=Count(0))
    assert await scalar(app, "SELECT state FROM announcements WHERE id = 3") == "cancelled"


CAROL = user_dict(940000000000000003, "carol")


@pytest.mark.parametrize(("roles", "sent"), [([str(MANAGERS_ROLE_ID)], True), ([], False)],
                         ids=["still-a-manager", "demoted"])
async def test_a_discord_server_announcement_names_its_server_and_is_rechecked_with_discord_when_due(
    app: App, disc: DiscordFrontend, rest: FakeDiscord, roles: list[str], sent: bool,
) -> None:
    app.front_ends.attach("discord", standing_of=disc.bot.standing_of)  # as `start` does once logged in
    manage_server = str(discord.Permissions(manage_guild=True).value)
    await slash(disc, "help", CAROL, guild=True)  # a member of the server: a reader of its announcements
    await slash(disc, "announce", BOB, guild=True, permissions=manage_server, text="Server news")
    named = app.services.catalogs.render_msg(Msg("announce.header.community", {"community": GUILD_NAME}), "en",
                                             DiscordMarkup.escape)
    assert f"\n{named}\nServer news" in rest.where("POST", "/callback")[-1].content  # the preview, as readers see it
    await slash(disc, "announce", BOB, guild=True, permissions=manage_server, text="at 2099-01-01 08:00")
    assert await scalar(app, "SELECT state FROM announcements WHERE id = 1") == "scheduled"

    rest.members[BOB["id"]] = roles  # what Discord says of Bob when it falls due
    announcements = app.services.announcements
    await announcements.send_due(1)  # the job
    assert rest.where("GET", f"/guilds/{GUILD_ID}/members/{BOB['id']}")  # asked of Discord then
    assert await scalar(app, "SELECT state FROM announcements WHERE id = 1") == ("done" if sent else "cancelled")

    def dm_to(user: dict[str, Any], words: str) -> list[DiscordCall]:
        return [c for c in rest.where("POST", "/messages") if words in c.content
                and rest.dms.get(c.path.split("/")[2], {}).get("id") == user["id"]]

    async def told() -> bool:
        return bool(dm_to(CAROL, "Server news") if sent else dm_to(BOB, "#1"))

    await until(told)
    if sent:
        assert dm_to(CAROL, "Server news")[0].content.startswith(f"**{named}**")
    else:
        assert dm_to(BOB, "#1")[0].content == app.services.catalogs.render_msg(Msg("announce.due.lost", {"id": 1}), "en",
                                                                               DiscordMarkup.escape)
        await asyncio.sleep(0.3)
        assert not dm_to(CAROL, "Server news")
