"""Issue 15, "one user cannot slow everyone; every outcome is told", through real python-telegram-bot against
the local Bot API emulator: one chat's updates in order while chats run concurrently, a press answered before
its work, an outcome never lost to a failed edit, presses fetched before a kill handled after the restart.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from bot.adapters.telegram import TelegramFrontend
from bot.app import App
from bot.core.request import Request
from bot.core.router import Markup, Outcome
from telegram_emulator import BotApiEmulator, Call

CJK = re.compile(r"[\u4e00-\u9fff]")


def to_chat(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.chat_id == chat_id


async def test_one_chats_updates_are_handled_in_order(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Issue 15: `/lang zh_CN` followed at once by `/quote` answered the quote in English for 10 of 10 users."""
    users = list(range(7001, 7011))
    since = emulator.mark()
    for user in users:
        emulator.send_text(user, user, "/lang zh_CN")
        emulator.send_text(user, user, "/quote MAG7.ssi 100")
    sent = await emulator.wait_count("sendMessage", 2 * len(users), timeout=60, since=since)
    for user in users:
        switched, quote = [c.params["text"] for c in sent if c.chat_id == user]
        assert CJK.search(switched), switched
        assert "MAG7" in quote and CJK.search(quote), quote


async def test_a_slow_chat_does_not_delay_another(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    slow, quick = 7101, 7102
    handle = telegram.router.handle

    async def slowly(request: Request, markup: Markup) -> Outcome:
        if request.chat_id == str(slow) and request.command == "help":
            await asyncio.sleep(1.5)
        return await handle(request, markup)

    monkeypatch.setattr(telegram.router, "handle", slowly)
    since = emulator.mark()
    emulator.send_text(slow, slow, "/help")
    emulator.send_text(slow, slow, "/lang")
    emulator.send_text(quick, quick, "/help")
    quick_reply = await emulator.wait_for("sendMessage", to_chat(quick), since=since)
    sent = await emulator.wait_count("sendMessage", 3, since=since, timeout=10)
    first, second = [c for c in sent if c.chat_id == slow]
    assert quick_reply.at < first.at - 1.0  # the quick chat did not wait for the slow one
    help_title = app.services.catalogs.text("help.title", "en")
    assert help_title in first.params["text"] and help_title not in second.params["text"]  # the slow chat's order kept
