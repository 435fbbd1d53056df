"""Talking to the bot through the Telegram Bot API emulator as a user would: send a line and read the answer,
press a button and read the edit."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, Union

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


Label = Union[str, Callable[[str], bool]]


def keyboard(call: Call) -> list[dict[str, str]]:
    """The inline buttons under a sent or edited message, row after row."""
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


def labels_of(call: Call) -> list[str]:
    """The labels of the inline buttons under a sent or edited message, row after row."""
    return [button["text"] for button in keyboard(call)]


async def tap(emulator: BotApiEmulator, user: int, shown: Call, label: Label, *, until: Label = "",
              language_code: str | None = None) -> Call:
    """Press the button of `shown` whose label is (or satisfies) `label`; the bot's edit of that message (the one
    whose text holds `until`, or satisfies it, when given). The press must be answered, and the message edited, not
    sent anew (a question's ForceReply, which can only be a new message, aside)."""
    matches = (lambda text: text == label) if isinstance(label, str) else label
    done = (lambda text: until in text) if isinstance(until, str) else until
    found = [b["callback_data"] for b in keyboard(shown) if matches(b["text"])]
    assert found, f"no button {label!r} in {[b['text'] for b in keyboard(shown)]}"
    message_id = shown.result["message_id"]
    since = emulator.mark()
    emulator.press(user, user, message_id, found[0], language_code=language_code)
    edit = await emulator.wait_for("editMessageText", lambda c: int(c.params["message_id"]) == message_id
                                   and done(c.params["text"]), since=since, timeout=30)
    assert emulator.calls_to("answerCallbackQuery", since), "the press was not answered"
    sent = [c for c in emulator.calls_to("sendMessage", since) if c.chat_id == user
            and "force_reply" not in (c.params.get("reply_markup") or {})]
    assert not sent, f"a new message instead of an edit: {sent[0].params['text']!r}"
    edit.result = {"message_id": message_id}  # the same message, pressed again next
    return edit


def text_of(call: object) -> str:
    """What a Telegram user reads in the bot's message (its HTML entities unescaped)."""
    return html.unescape(call.params["text"])  # type: ignore[attr-defined]
