"""The one small interface each chat platform implements.

A front end receives platform updates, turns each into a `bot.core.request.Request`, hands it to the app's
router with its `Markup`, and sends back what the router rendered. Adding a platform is one new module here
and no change to any handler.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.messages import Rendered


class Frontend(Protocol):
    name: str

    async def start(self) -> None:
        """Connect and begin receiving updates (returns once running)."""

    async def stop(self) -> None:
        """Stop receiving and disconnect."""

    async def notify(self, chat_id: str, rendered: Rendered) -> None:
        """Send a message nobody asked for (alerts, announcements) to one chat."""


class PlainMarkup:
    """No markup: the console, and anything else that shows plain text."""

    @staticmethod
    def escape(text: str) -> str:
        return text

    @staticmethod
    def style(kind: str, text: str) -> str:
        return text
