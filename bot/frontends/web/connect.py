"""The connect page: any EIP-1193 wallet signs a Sign-In with Ethereum message and the address is linked.

    GET  /connect/{token}           the page (refused, localized, when the link is unknown, used or expired)
    POST /connect/{token}/message   {address} -> the EIP-4361 message for that address to sign
    POST /connect/{token}           {message, signature} -> verified and linked; the user is told in chat

Opened from Telegram's web_app button (`?tg=1`), the page is a Mini App: each POST carries Telegram's initData,
checked by bot.frontends.web.miniapp before anything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.core.errors import UserError
from bot.core.messages import Msg
from bot.frontends.web.miniapp import MiniAppGate, opened_in_miniapp
from bot.frontends.web.pages import PageKit, paragraph
from wallets.connected import ConnectedWallets, short_address

TOKEN = "{token:[A-Za-z0-9_-]{20,100}}"


async def read_json(request: web.Request) -> dict[str, Any]:
    """A small JSON object body, or UserError: scripts post JSON, so a cross-site form cannot."""
    if request.content_type != "application/json":
        raise UserError("error.web.request")
    try:
        body = await request.json()
    except ValueError:
        raise UserError("error.web.request") from None
    if not isinstance(body, dict):
        raise UserError("error.web.request")
    return body


def routes(kit: PageKit, connected: ConnectedWallets, gate: MiniAppGate) -> list[web.RouteDef]:
    async def page(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        state, user_id = await connected.connect_state(token)
        locale = await kit.locale_for(user_id, request)
        if state != "ok":
            return kit.refusal(UserError(f"error.link.{state}"), locale, "web.title.connect")
        texts = {
            name: kit.plain(Msg(key), locale)
            for name, key in (("working", "web.working"), ("no_wallet", "web.no_wallet"), ("rejected", "web.rejected"),
                              ("failed", "error.internal"))
        }
        body = (
            paragraph(kit.text(Msg("web.connect.intro"), locale))
            + paragraph(kit.text(Msg("web.connect.chain", {"chain": kit.chain_label()}), locale))
            + f'<button id="go" type="button">{kit.text(Msg("web.connect.button"), locale)}</button>'
            + paragraph("", "status", "status")
        )
        data = {
            "messageUrl": f"/connect/{token}/message", "submitUrl": f"/connect/{token}", "text": texts,
            "miniapp": opened_in_miniapp(request.query),
        }
        return kit.page(locale, Msg("web.title.connect"), body, script="connect.js", data=data)

    async def json_step(request: web.Request, step: Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]) -> web.Response:
        """A JSON call of the connect page: the link's user and language, the body, and a refusal as JSON."""
        token = request.match_info["token"]
        _, user_id = await connected.connect_state(token)
        locale = await kit.locale_for(user_id, request)
        try:
            body = await read_json(request)
            await gate.admit(body, token, user_id)
            answer = await step(token, body, locale)
        except UserError as err:
            return kit.json_refusal(err, locale)
        return web.json_response({"ok": True, **answer})

    async def sign_in_message(token: str, body: dict[str, Any], locale: str) -> dict[str, Any]:
        return {"message": await connected.start_sign_in(token, str(body.get("address", ""))[:64])}

    async def signed(token: str, body: dict[str, Any], locale: str) -> dict[str, Any]:
        address = await connected.complete(token, str(body.get("message", ""))[:2000], str(body.get("signature", ""))[:200])
        done = kit.plain(Msg("web.connect.done", {"address": short_address(address)}), locale)
        return {"message": done, "address": address}

    async def message(request: web.Request) -> web.Response:
        return await json_step(request, sign_in_message)

    async def submit(request: web.Request) -> web.Response:
        return await json_step(request, signed)

    return [
        web.get(f"/connect/{TOKEN}", page),
        web.post(f"/connect/{TOKEN}/message", message),
        web.post(f"/connect/{TOKEN}", submit),
    ]
