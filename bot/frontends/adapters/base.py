"""The one small interface each chat platform implements.

A front end receives platform updates, turns each into a `bot.core.request.Request`, hands it to the app's
router with its `Markup`, and sends back what the router rendered. Adding a platform is one new module here
and no change to any handler.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.messages import Rendered
from bot.core.router import Markup


class Frontend(Protocol):
    name: str

    @property
    def markup(self) -> Markup: ...

    async def start(self, *, receive: bool = True) -> None:
        """Connect and begin receiving updates (returns once running); `receive=False`: connect only, to send
        (a process without the gateway role: the outbox sender)."""

    async def stop(self) -> None:
        """Stop receiving and disconnect."""

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        """Send a message nobody asked for right now (progress, alerts, announcements) to one chat, or edit
        message `edit_ref` in place; returns the id of the message shown (None when it could not be sent)."""


class PlainMarkup:
    """No markup: the console, and anything else that shows plain text."""

    @staticmethod
    def escape(text: str) -> str:
        return text

    @staticmethod
    def style(kind: str, text: str) -> str:
        return text
