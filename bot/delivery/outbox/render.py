"""A stored `Reply` made ready for one reader on one platform: their language, their time zone, buttons
issued server-side now (so a button's lifetime starts when the message is shown)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.messages import Rendered, Reply, pressed, reads_a_time
from bot.core.router import BUTTON_TTL_SECONDS, Markup, ZoneOf
from bot.i18n import DEFAULT_LOCALE, Catalogs
from bot.storage.repositories import ButtonRows, UserRows

BATCH_SEPARATOR = "\n\n"


class Renderer:
    def __init__(self, users: UserRows, buttons: ButtonRows, catalogs: Catalogs, zones: ZoneOf | None = None) -> None:
        self._users = users
        self._buttons = buttons
        self.catalogs = catalogs
        self._zones = zones

    async def locale_of(self, user_id: int | None) -> str:
        if user_id is None:
            return DEFAULT_LOCALE
        user = await self._users.by_id(user_id)
        return (user.locale if user else None) or self.catalogs.negotiate(user.platform_locale if user else None)

    async def render(self, user_id: int | None, reply: Reply, markup: Markup, locale: str | None = None) -> Rendered:
        """`reply` for `user_id` (None: a channel or group, rendered in the default language, no buttons)."""
        locale = locale or await self.locale_of(user_id)
        specs = pressed(reply)
        tokens = await self._buttons.issue(user_id, specs, BUTTON_TTL_SECONDS) if specs and user_id is not None else []
        if user_id is None:
            reply = Reply(lines=reply.lines, image=reply.image)
        zone = "UTC"
        if user_id is not None and self._zones is not None and reads_a_time(reply.lines):
            zone = await self._zones(user_id)
        return self.catalogs.render(reply, locale, markup.escape, markup.style, tokens, zone)


def merge(parts: Sequence[Rendered]) -> Rendered:
    """Several messages for one reader due at once, as one: texts one after the other, every button kept."""
    if len(parts) == 1:
        return parts[0]
    buttons = tuple(row for part in parts for row in part.buttons)
    return Rendered(BATCH_SEPARATOR.join(p.text for p in parts), buttons)
