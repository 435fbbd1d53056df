"""Messages nobody asked for right now: a trade confirmed, a cooldown ended, an announcement.

The core says what (a `Reply` for a user) and where (platform and chat, optionally the message to edit);
`Notices` renders it in that user's language with the platform's markup, stores its buttons server-side like
the router does, and hands it to the front end serving that platform. Front ends register themselves when
they start. (The rate-limited, crash-safe outbox of a later issue will sit behind this same call.)
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.core.messages import Rendered, Reply, reads_a_time
from bot.core.router import BUTTON_TTL_SECONDS, Markup, ZoneOf
from bot.i18n import Catalogs
from bot.storage.repositories import Buttons, Users

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    """What a front end offers for unprompted messages."""

    name: str

    @property
    def markup(self) -> Markup: ...

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        """Send (or edit `edit_ref` in place); returns the platform's id of the message shown, or None."""


class Notices:
    def __init__(self, users: Users, buttons: Buttons, catalogs: Catalogs, zones: ZoneOf | None = None) -> None:
        self._users = users
        self._buttons = buttons
        self._catalogs = catalogs
        self._zones = zones
        self._fronts: dict[str, Deliverer] = {}

    def attach(self, front: Deliverer) -> None:
        self._fronts[front.name] = front

    def detach(self, front: Deliverer) -> None:
        if self._fronts.get(front.name) is front:
            del self._fronts[front.name]

    async def tell(self, user_id: int, platform: str, chat_id: str, reply: Reply, edit_ref: str | None = None) -> str | None:
        """Render `reply` for the user and deliver it; None when that platform is not running."""
        front = self._fronts.get(platform)
        if front is None:
            log.warning("notice for user %s not delivered: %s front end is not running", user_id, platform)
            return None
        user = await self._users.by_id(user_id)
        locale = (user.locale if user else None) or self._catalogs.negotiate(user.platform_locale if user else None)
        specs = [(b.action, b.args) for row in reply.buttons for b in row]
        tokens = await self._buttons.issue(user_id, specs, BUTTON_TTL_SECONDS) if specs else []
        zone = await self._zones(user_id) if self._zones is not None and reads_a_time(reply.lines) else "UTC"
        rendered = self._catalogs.render(reply, locale, front.markup.escape, front.markup.style, tokens, zone)
        return await front.deliver(chat_id, rendered, edit_ref)
