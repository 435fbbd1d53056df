"""Talking to the bot through the Telegram Bot API emulator as a user would: send a line and read the answer,
press a button and read the edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram_emulator import BotApiEmulator, Call


def to_chat(chat_id: int, containing: str = "") -> Callable[[Call], bool]:
    """Matches the bot's calls to `chat_id` (whose text contains `containing`, when given)."""
    return lambda c: c.chat_id == chat_id and containing in str(c.params.get("text", ""))


async def ask(emulator: BotApiEmulator, user: int, chat: int, line: str, **kw: Any) -> Call:
    """Send `line` as `user` in `chat` and return the bot's sendMessage to that chat."""
    since = emulator.mark()
    emulator.send_text(user, chat, line, **kw)
    return await emulator.wait_for("sendMessage", to_chat(chat), since=since)


async def press_and_wait_edit(emulator: BotApiEmulator, user: int, message: Call, label: str) -> Call:
    """Press the button labelled `label` on `message`; the bot's edit of that message."""
    rows = message.params["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
    since = emulator.mark()
    emulator.press(user, user, message.result["message_id"], data)
    return await emulator.wait_for("editMessageText", lambda c: int(c.params["message_id"]) == message.result["message_id"], since=since, timeout=30)


async def force_reply(emulator: BotApiEmulator, user: int, since: int) -> Call:
    """The bot's question to `user` (a ForceReply) sent after `since`."""
    return await emulator.wait_for("sendMessage", lambda c: c.chat_id == user and "force_reply" in (c.params.get("reply_markup") or {}),
                                   since=since, timeout=30)
