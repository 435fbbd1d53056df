"""Requests to the core router as an adapter hands them over, and what their answers offer.

`request` builds any request (a typed command, or with `token` a button press). `ask`, `press`, `say` and `click` are
a console user's, in their own private chat: the copies the test files had. A file whose users write from other
chats (a chat id of its own naming, groups that are communities, another default user) makes a `Console` with
those choices and takes its methods under the same names, so each caller gets the very request its copy built:

    CONSOLE = Console(chat=lambda user, chat_type: f"chat-{user}-{chat_type}", message_ref=None)
    ask, say = CONSOLE.ask, CONSOLE.say
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.request import Request, split_command
from bot.core.router import Outcome, Router


def request(text: str = "", user: str = "u1", *, platform: str = "console", chat: str | None = None,
            chat_type: str = "private", locale: str = "en", token: str | None = None, message_ref: str | None = None,
            community: str | None = None, display_name: str = "", standing: Any = None) -> Request:
    """A request as an adapter makes it: the typed `text` (or, with `token`, a press of that button) from `user` in
    `chat` (the user's own chat unless given)."""
    command, args = split_command(text) if token is None else (None, ())
    return Request(platform, user, user if chat is None else chat, chat_type, locale,  # type: ignore[arg-type]
                   command=command, args=args, text_length=len(text), button_token=token, message_ref=message_ref,
                   community=community, display_name=display_name, standing=standing)


def labels(outcome: Outcome) -> list[str]:
    """The labels of an answer's buttons, row by row."""
    return [b.label for row in outcome.rendered.buttons for b in row]


def button_token(outcome: Outcome, label: str) -> str:
    """The token of the answer's button labelled `label`."""
    return next(b.token for row in outcome.rendered.buttons for b in row if b.label == label)


def router_of(app: App | Router) -> Router:
    return app.router if isinstance(app, App) else app


_UNSET: Any = object()


@dataclass(frozen=True)
class Console:
    """How one test file's console users write: who writes when a call names nobody (`user`), in which chat a user
    writes in a chat of a type (`chat`; their own by default), whether a group chat is also the request's community
    (`group_is_community`, as the Telegram adapter sets it) and which message a press is on (`message_ref`)."""

    user: str = "u1"
    chat: Callable[[str, str], str] | None = None
    group_is_community: bool = False
    message_ref: str | None = "msg-1"

    def ask(self, text: str, user: str | None = None, chat_type: str = "private", locale: str = "en",
            **kw: Any) -> Request:
        """A typed command."""
        user = self.user if user is None else user
        chat = self.chat(user, chat_type) if self.chat is not None else user
        if self.group_is_community and chat_type != "private":
            kw.setdefault("community", chat)
        return request(text, user, chat=chat, chat_type=chat_type, locale=locale, **kw)

    def press(self, token: str, user: str | None = None, message_ref: str | None = _UNSET) -> Request:
        """A press of the button whose token is `token`, in the user's private chat."""
        user = self.user if user is None else user
        chat = self.chat(user, "private") if self.chat is not None else user
        return request(user=user, chat=chat, token=token,
                       message_ref=self.message_ref if message_ref is _UNSET else message_ref)

    async def say(self, app: App | Router, text: str, user: str | None = None, chat_type: str = "private",
                  locale: str = "en", **kw: Any) -> Outcome:
        """The router's answer to a typed command."""
        return await router_of(app).handle(self.ask(text, user, chat_type, locale, **kw), PlainMarkup())

    async def reply_text(self, app: App | Router, text: str, user: str | None = None, chat_type: str = "private",
                   locale: str = "en", **kw: Any) -> str:
        """The text of the router's answer to a typed command."""
        return (await self.say(app, text, user, chat_type, locale, **kw)).rendered.text

    async def click(self, app: App | Router, outcome: Outcome, label: str, user: str | None = None,
                    message_ref: str | None = _UNSET) -> Outcome:
        """The router's answer to a press of the button labelled `label` on `outcome`."""
        return await router_of(app).handle(self.press(button_token(outcome, label), user, message_ref), PlainMarkup())


CONSOLE = Console()
# Users who each write from a chat named for them and its type, pressing on no message in particular
# (test_wallet_commands.py, test_positions.py).
CHAT_PER_TYPE = Console(chat=lambda user, chat_type: f"chat-{user}-{chat_type}", message_ref=None)
ask, press, say, reply_text, click = CONSOLE.ask, CONSOLE.press, CONSOLE.say, CONSOLE.reply_text, CONSOLE.click
