"""Privacy in Telegram groups, through real python-telegram-bot against the Bot API emulator.

- A personal command typed in a group (wallet, positions, points, a trade's quote and its progress) is answered in
  the user's private chat; the group reads only that it was, with a link to that chat, as a reply to the command.
- A user who never started the bot (Telegram refuses to let a bot write first) gets, in the group, the deep link
  `t.me/<bot>?start=private`; once they pressed Start, the next personal command goes privately.
- A message carrying a secret is still refused in the group (a PIN typed there is spent), and what is not personal
  is answered in the group as ever.
- The command menu shows moderators' commands (/announce) only to group administrators and in the configured
  moderators' private chats (command scopes, resolved as Telegram does by the emulator's `menu`).

python-telegram-bot 22.8 speaks Bot API 10.0: member-only messages in groups (10.2) are not available, so nothing
personal is shown in a group at all.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.delivery.announce.config import AnnounceConfig
from conftest import make_config
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator, Call
from auxil.catalog import html_text, starts
from auxil.telegram import ask

GROUP = -100900
MOD = 7101  # a configured Telegram moderator
BOT_LINK = "https://t.me/indexbot_test_bot"
QUIET = 0.3  # how long to watch for a message that must not come


@pytest.fixture
async def app(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """The app with a Telegram moderator configured (the conftest `telegram` fixture runs its front end on it)."""
    bot = await App.start(make_config(chain, tmp_path, announce=AnnounceConfig(telegram_moderators=frozenset({str(MOD)}))))
    try:
        yield bot
    finally:
        await bot.stop()


def name(user: int) -> str:
    return f"User{user}"  # the emulator's first_name


async def in_group(emulator: BotApiEmulator, user: int, line: str) -> tuple[Call, list[Call]]:
    """`line` typed by `user` in the group: what the group was sent, and what went to the user's private chat."""
    since = emulator.mark()
    told = await ask(emulator, user, GROUP, line, chat_type="supergroup")
    await asyncio.sleep(QUIET)
    return told, [c for c in emulator.calls[since:] if c.method in ("sendMessage", "sendPhoto") and c.chat_id == user]


async def test_personal_answers_go_privately_and_the_group_is_told_where(app: App, emulator: BotApiEmulator, telegram: object) -> None:
    user = 8101
    await ask(emulator, user, user, "/start")  # she started the bot: it may write to her
    told, private = await in_group(emulator, user, "/wallet new")
    [created] = private
    assert "Your new wallet" in created.params["text"]
    address = (await app.services.desks.home.sender((await app.services.users.seen("telegram", str(user))).id)).address
    assert address in created.params["text"]
    assert told.params["text"] == html_text(app, "private.sent", name=name(user), link=BOT_LINK)
    assert address not in told.params["text"]
    assert told.params["reply_parameters"]["message_id"] == emulator.injected[max(emulator.injected)]["message"]["message_id"]

    for line, opening in (("/points", starts("points.none")), ("/positions", starts("positions.title"))):
        told, [answer] = await in_group(emulator, user, line)
        assert told.params["text"] == html_text(app, "private.sent", name=name(user), link=BOT_LINK)
        assert html.unescape(answer.params["text"]).removeprefix("<b>").startswith(opening), answer.params["text"]


async def test_a_trade_asked_for_in_a_group_is_quoted_confirmed_and_followed_privately(app: App, emulator: BotApiEmulator,
                                                                                     telegram: object) -> None:
    user = 8102
    await ask(emulator, user, user, "/start")
    await in_group(emulator, user, "/wallet new")
    await ask(emulator, user, user, "/pin 4821")
    await in_group(emulator, user, "/faucet")
    since = emulator.mark()
    told, [quote] = await in_group(emulator, user, "/buy MAG7.ssi 100")
    assert "Buy quote: MAG7.ssi" in quote.params["text"] and "Buy quote" not in told.params["text"]
    rows = quote.params["reply_markup"]["inline_keyboard"]
    confirm = next(b["callback_data"] for row in rows for b in row if b["text"] == "Confirm")
    emulator.press(user, user, quote.result["message_id"], confirm)  # in her private chat, where the quote is
    done = await emulator.wait_for("editMessageText", lambda c: c.chat_id == user and "Confirmed in block" in c.params["text"],
                                   since=since, timeout=60)
    assert "for 100 USDC" in html.unescape(done.params["text"])
    await asyncio.sleep(QUIET)
    group = [c for c in emulator.calls[since:] if c.chat_id == GROUP and c.method in ("sendMessage", "editMessageText")]
    assert [c.params["text"] for c in group] == [html_text(app, "private.sent", name=name(user), link=BOT_LINK)]


async def test_a_user_who_never_started_the_bot_gets_the_link_that_starts_it(app: App, emulator: BotApiEmulator,
                                                                             telegram: object) -> None:
    user = 8103
    emulator.never_started(user)
    told, refused = await in_group(emulator, user, "/points")
    assert told.params["text"] == html_text(app, "private.start", name=name(user), link=f"{BOT_LINK}?start=private")
    assert [c.result["error_code"] for c in refused] == [403]  # Telegram said no: nothing of hers reached the group
    assert starts("points.none") not in told.params["text"]

    started = await ask(emulator, user, user, "/start private")  # the deep link's Start
    assert started.params["text"] == html_text(app, "private.started")
    told, [answer] = await in_group(emulator, user, "/points")
    assert told.params["text"] == html_text(app, "private.sent", name=name(user), link=BOT_LINK)
    assert html.unescape(answer.params["text"]).startswith(starts("points.none"))


async def test_a_secret_typed_in_a_group_is_still_refused_there_and_the_rest_is_answered_there(app: App, emulator: BotApiEmulator,
                                                                                               telegram: object) -> None:
    user = 8104
    await ask(emulator, user, user, "/start")
    told, private = await in_group(emulator, user, "/wallet export 4821")
    assert private == [] and starts("error.private_only") in html.unescape(told.params["text"])
    told, private = await in_group(emulator, user, "/help")  # nothing personal: for the group
    assert private == [] and html_text(app, "help.title") in told.params["text"]


def names(menu: list[dict[str, str]]) -> list[str]:
    return [c["command"] for c in menu]


async def test_moderators_commands_are_in_moderators_menus_only(app: App, emulator: BotApiEmulator, telegram: object) -> None:
    member, admin = 8105, 8106
    emulator.set_admin(GROUP, admin)
    everyone = [n for n, cmd in app.router.commands.items() if not cmd.moderator]
    assert "announce" in app.router.commands and "announce" not in everyone
    assert names(emulator.menu(member, GROUP)) == everyone
    assert names(emulator.menu(member, member)) == everyone
    assert names(emulator.menu(admin, GROUP)) == list(app.router.commands)
    assert names(emulator.menu(admin, admin)) == everyone  # an administrator of a group, not a moderator of the bot
    assert names(emulator.menu(MOD, MOD)) == list(app.router.commands)
    chinese = {c["command"]: c["description"] for c in emulator.menu(admin, GROUP, "zh")}
    assert chinese["announce"] == app.services.catalogs.text("cmd.announce", "zh_CN")
