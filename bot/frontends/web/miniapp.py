"""The connect and signing pages as a Telegram Mini App: the requests of a page opened from Telegram's web_app button
carry Telegram's signed `initData`, checked before anything is done.

Telegram's button opens the link with `?tg=1` (MINIAPP_QUERY, added by the Telegram adapter); the page then says in
each request that it runs as a Mini App and sends `initData` (from `window.Telegram.WebApp`, or from the
`#tgWebAppData=` fragment Telegram appends). `MiniAppGate.admit` accepts a request when:

- it carries no initData and does not claim to come from the Mini App: a plain browser (Discord, a wallet's in-app
  browser, a Telegram link opened outside the Mini App), exactly as before;
- or its initData is genuine (this bot's token), fresh (`initdata.MAX_AGE`), for the Telegram account the link was
  made for, and not used on another page before (bot.storage.miniapp).

Anything else is refused with the reason (error.miniapp.*) and changes nothing: a leaked Mini App link opened by
someone else's Telegram is refused, and so is sign-in data copied onto another link.

Telegram Web shows a Mini App in a frame of web.telegram.org: such a page may be framed by it (FRAME_HEADERS), and as
the browser keeps no cookie for a framed site, the signing page's owner is then its initData (`session_of`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import UserError
from bot.frontends.web.initdata import MAX_AGE, InitData, check
from bot.storage.miniapp import MiniAppInitDataRows
from bot.storage.repositories import UserRows

MINIAPP_QUERY = "tg"  # `?tg=1` on a link opened from Telegram's web_app button
PLATFORM = "telegram"  # the users.platform of a Telegram account


@dataclass
class MiniAppGate:
    bot_token: str | None  # None: no Telegram bot, so no initData can be genuine
    used: MiniAppInitDataRows
    users: UserRows
    clock: Callable[[], float] = field(default=time.time)
    max_age: int = MAX_AGE

    async def admit(self, body: Mapping[str, Any], link_token: str, user_id: int | None) -> InitData | None:
        """Whether a page's request (its JSON `body`) may act on the link `link_token` made for `user_id`: the checked
        initData of a Mini App, None for a plain browser, UserError otherwise."""
        raw = body.get("initData")
        if raw is None or raw == "":
            if body.get("miniapp") is True:
                raise UserError("error.miniapp.missing")
            return None
        if not isinstance(raw, str) or self.bot_token is None:
            raise UserError("error.miniapp.signature")
        data = check(raw, self.bot_token, self.clock(), self.max_age)
        user = None if user_id is None else await self.users.by_id(user_id)
        if user is None or user.platform != PLATFORM or user.platform_user_id != str(data.user_id):
            raise UserError("error.miniapp.user")
        if not await self.used.spend(data.hash, link_token, data.auth_date + self.max_age):
            raise UserError("error.miniapp.replayed")
        return data

    def language_of(self, body: Mapping[str, Any]) -> str | None:
        """The language Telegram says a request's user speaks, when its initData is genuine and fresh (nothing spent,
        nobody bound): a refusal's language when no link names the user (a question gone)."""
        raw = body.get("initData")
        if not isinstance(raw, str) or not raw or self.bot_token is None:
            return None
        try:
            return check(raw, self.bot_token, self.clock(), self.max_age).language
        except UserError:
            return None

    async def require(self, body: Mapping[str, Any], link_token: str, user_id: int | None, outside: str) -> InitData:
        """As `admit`, for a page that only a Mini App may use (the PIN pad): a plain browser is refused too, with the
        page's own reason (`outside`, a catalog key)."""
        data = await self.admit(body, link_token, user_id)
        if data is None:
            raise UserError(outside)
        return data


def session_of(data: InitData) -> str:
    """The signing page's owner in a Mini App that keeps no cookie (Telegram Web frames it on another site): its
    checked initData, which only that opening of the Mini App has."""
    return "tg:" + data.hash


# What a page opened as a Mini App gets instead of the strict "no frames" (bot.frontends.web.server): Telegram Web may
# frame it, nobody else.
TELEGRAM_WEB = "https://web.telegram.org"


def miniapp_url(url: str) -> str:
    """A page's link as Telegram's web_app button opens it."""
    return f"{url}{'&' if '?' in url else '?'}{MINIAPP_QUERY}=1"


def opened_in_miniapp(query: Mapping[str, str]) -> bool:
    return query.get(MINIAPP_QUERY) == "1"
