"""The PIN pad: a question for a PIN (withdraw's, /wallet export's, /pin's steps, a DCA plan's) answered on a page
inside Telegram, a Mini App opened by the Enter PIN button under the question: digits tapped, nothing typed in the chat.

    GET  /pin/{token}        the pad, in the asker's language (a localized refusal once the question is gone)
    POST /pin/{token}/open   {initData} -> what the question said (a withdrawal's summary, /pin's step)
    POST /pin/{token}        {pin, initData} -> the PIN answers the question as the message typed in the chat would

Both POSTs need Telegram's initData, checked by bot.frontends.web.miniapp (this bot's token, fresh, the asker's
Telegram account, used on no other page): a plain browser, another account, another bot's, a forged, old or replayed
one is refused and changes nothing, and so is a question answered, ended, replaced or timed out. The answer goes to
the Telegram front end (`FrontEnds.pages`), which hands the router the message the user would have typed in their
private chat: the same prompt, the same PIN check, attempts and lockout, the same replies in the chat. The PIN travels
in a POST body only: never in a URL, a log line or the chat.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.core.errors import UserError
from bot.core.frontends import FrontEnds
from bot.core.messages import Count, Msg
from bot.core.request import Caller, Request
from bot.core.router import Router
from bot.core.secrets import PIN_DIGITS, is_pin
from bot.frontends.web.connect import read_json
from bot.frontends.web.initdata import InitData
from bot.frontends.web.miniapp import PLATFORM, MiniAppGate, opened_in_miniapp
from bot.frontends.web.pages import PageKit, paragraph
from bot.storage.prompts import PromptRow

log = logging.getLogger(__name__)

TOKEN = "{token:[A-Za-z0-9_-]{20,100}}"
OUTSIDE = "error.pin_pad.outside"  # the pad opened in a plain browser
Step = Callable[[str, PromptRow, InitData, dict[str, Any], str], Awaitable[dict[str, Any]]]


def pin_pad_url(public_url: str) -> Callable[[str], str]:
    """The pad's address for a question's link token (what bot.core.router's Enter PIN button opens)."""
    return lambda token: f"{public_url}/pin/{token}"


def _keys(kit: PageKit, locale: str) -> str:
    digits = [f'<button type="button" class="key" data-digit="{d}">{d}</button>' for d in "1234567890"]
    delete = f'<button type="button" class="key" id="delete">{kit.text(Msg("web.pin.delete"), locale)}</button>'
    submit = f'<button type="button" class="key" id="submit">{kit.text(Msg("web.pin.submit"), locale)}</button>'
    return f'<div class="pad">{"".join(digits[:9])}{delete}{digits[9]}{submit}</div>'


def routes(kit: PageKit, router: Router, front_ends: FrontEnds, gate: MiniAppGate) -> list[web.RouteDef]:
    low, high = PIN_DIGITS

    async def asked_on(request: web.Request) -> tuple[str, PromptRow | None, str]:
        token = request.match_info["token"]
        asked = await router.on_page(token)
        return token, asked, await kit.locale_for(None if asked is None else asked.user_id, request)

    async def page(request: web.Request) -> web.Response:
        token, asked, locale = await asked_on(request)
        try:
            router.still_open(asked)
        except UserError as err:
            return kit.refusal(err, locale, "web.title.pin")
        texts = {
            "outside": kit.plain(Msg(OUTSIDE), locale),
            "working": kit.plain(Msg("web.working"), locale),
            "failed": kit.plain(Msg("error.internal"), locale),
        }
        body = (
            '<div class="summary" id="summary"></div>'
            + paragraph(kit.text(Msg("web.pin.intro", {"min": low, "count": Count(high)}), locale))
            + '<p class="dots" id="dots"></p>' + _keys(kit, locale) + paragraph("", "status", "status")
        )
        data = {"openUrl": f"/pin/{token}/open", "submitUrl": f"/pin/{token}", "min": low, "max": high, "text": texts, "miniapp": opened_in_miniapp(request.query)}
        return kit.page(locale, Msg("web.title.pin"), body, script="pin.js", data=data)

    async def json_step(request: web.Request, step: Step) -> web.Response:
        """A call of the pad: the question still open, then Telegram's initData for its asker, then `step`."""
        token, asked, locale = await asked_on(request)
        body: dict[str, Any] = {}
        try:
            body = await read_json(request)
            if asked is None and (spoken := gate.language_of(body)) is not None:  # no question to name its asker
                locale = kit.catalogs.negotiate(spoken)
            asked = router.still_open(asked)
            signed_in = await gate.require(body, token, asked.user_id, OUTSIDE)
            if asked.secret != "pin" or asked.chat_id != str(signed_in.user_id):  # a PIN asked in their private chat only
                raise UserError("prompt.closed")
            answer = await step(token, asked, signed_in, body, locale)
        except UserError as err:
            return kit.json_refusal(err, locale)
        return web.json_response({"ok": True, **answer})

    async def typed(token: str, asked: PromptRow, signed_in: InitData, pin: str) -> Request:
        """The message the user would have typed in their private chat (in Telegram's private chat, its id is theirs)."""
        user = await kit.users.by_id(asked.user_id)
        spoken = (user.platform_locale if user is not None else None) or ""
        return Request("telegram", str(signed_in.user_id), asked.chat_id, "private", spoken, args=(pin,) if pin else (),
                       text=pin, text_length=len(pin), dm_chat=asked.chat_id, pin_pad=True, page=token)

    async def summary(token: str, asked: PromptRow, signed_in: InitData, body: dict[str, Any], locale: str) -> dict[str, Any]:
        caller = Caller(await typed(token, asked, signed_in, ""), asked.user_id, locale)
        said = await router.restate(caller, asked)
        return {"summary": [kit.plain(line, locale) for line in said.lines]}

    async def answer(token: str, asked: PromptRow, signed_in: InitData, body: dict[str, Any], locale: str) -> dict[str, Any]:
        pin = body.get("pin")
        if not isinstance(pin, str) or not is_pin(pin):  # the pad sends digits only: refused before the question is taken
            raise UserError("error.pin.length", min=low, count=Count(high))
        told = front_ends.pages.get(PLATFORM)
        if told is None:  # this process has no Telegram front end to answer in the chat (a web-only process)
            log.warning("pin pad: no Telegram front end in this process to take an answer")
            raise UserError("error.internal")
        outcome = await told(await typed(token, asked, signed_in, pin))
        if outcome.unasked:
            raise UserError("prompt.closed")
        return {"message": kit.plain(Msg("web.pin.sent"), locale)}

    async def opened(request: web.Request) -> web.Response:
        return await json_step(request, summary)

    async def submitted(request: web.Request) -> web.Response:
        return await json_step(request, answer)

    return [web.get(f"/pin/{TOKEN}", page), web.post(f"/pin/{TOKEN}/open", opened), web.post(f"/pin/{TOKEN}", submitted)]
