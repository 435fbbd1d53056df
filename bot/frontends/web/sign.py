"""Signing pages: a connected wallet sends a trade's transactions, described in plain words, in order.

    GET  /sign/{token}        the decoded transactions, as often as asked: it claims nothing (a chat's link
                              preview fetcher opens it before the user does)
    POST /sign/{token}/claim  {} -> the page's script, when the user starts signing: the first browser to
                              claim the link owns it (a cookie); the GET is then refused to any other browser
    POST /sign/{token}/tx     {step, hash} -> recorded and handed to the trade pipeline (`on_hash`)

The page names the link's chain (the label of the profile its transactions are for: Base, Ethereum) and its
script checks the wallet's account and chain (asking `wallet_switchEthereumChain` to the link's chain id when
needed, and saying so when the wallet does not have that chain), sends each transaction with
`eth_sendTransaction`, reports its hash, and waits for it to be mined before the next one (an exact approval
before the swap that spends it).

Opened from Telegram's web_app button (`?tg=1`), the page is a Mini App: the claim and each report carry Telegram's
initData, checked by bot.frontends.web.miniapp before anything else; without a cookie (Telegram Web frames the page,
and a framed site keeps none) the checked initData is the page's owner.
"""

from __future__ import annotations

from aiohttp import web

from bot.core.errors import UserError
from bot.core.messages import Count, Msg
from bot.frontends.web.connect import read_json
from bot.frontends.web.miniapp import MiniAppGate, opened_in_miniapp, session_of
from bot.frontends.web.pages import PageKit, paragraph
from wallets.connected import ConnectedWallets, SigningPage

TOKEN = "{token:[A-Za-z0-9_-]{20,100}}"
COOKIE = "indexbot_sign"


def chain_of(kit: PageKit, page: SigningPage) -> Msg:
    """The link's chain as users see it: its label and chain id."""
    if page.chain_label:
        return Msg("web.chain", {"name": page.chain_label, "chain_id": str(page.chain_id)})
    if page.chain_id == kit.chain_id:
        return kit.chain_label()
    return Msg("web.chain.unnamed", {"chain_id": str(page.chain_id)})


def _steps(kit: PageKit, page: SigningPage, locale: str) -> str:
    count = len(page.txs)
    chain = chain_of(kit, page)
    parts = []
    for i, tx in enumerate(page.txs):
        lines = [paragraph(kit.text(tx.what, locale), "what")]
        if tx.amount is not None:
            lines.append(paragraph(kit.text(Msg("web.sign.amount", {"amount": tx.amount}), locale)))
        if tx.minimum_out is not None:
            lines.append(paragraph(kit.text(Msg("web.sign.minimum", {"minimum": tx.minimum_out}), locale)))
        lines.append(paragraph(kit.text(Msg("web.sign.contract", {"name": tx.contract_name, "address": tx.to}), locale)))
        lines.append(paragraph(kit.text(Msg("web.sign.chain", {"chain": chain}), locale)))
        sent = page.done[i] if i < len(page.done) else ""
        state = kit.text(Msg("web.sign.sent", {"hash": sent}), locale) if sent else ""
        title = kit.text(Msg("web.sign.step", {"step": i + 1, "count": count}), locale)
        parts.append(
            f'<section class="tx" id="step-{i + 1}"><h2>{title}</h2>{"".join(lines)}'
            f'<p class="state" id="state-{i + 1}">{state}</p></section>'
        )
    return "".join(parts)


def routes(kit: PageKit, connected: ConnectedWallets, gate: MiniAppGate, secure_cookie: bool) -> list[web.RouteDef]:
    async def page(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        locale = await kit.locale_for(await connected.signing_owner(token), request)
        try:
            shown = await connected.open_signing(token, request.cookies.get(COOKIE))
        except UserError as err:
            return kit.refusal(err, locale, "web.title.sign")
        count = len(shown.txs)
        chain = chain_of(kit, shown)
        texts = {
            "no_wallet": kit.plain(Msg("web.no_wallet"), locale),
            "rejected": kit.plain(Msg("web.rejected"), locale),
            "failed": kit.plain(Msg("error.internal"), locale),
            "working": kit.plain(Msg("web.working"), locale),
            "wrong_account": kit.plain(Msg("web.sign.wrong_account", {"address": shown.address}), locale),
            "wrong_chain": kit.plain(Msg("web.sign.wrong_chain", {"chain": chain}), locale),
            "unknown_chain": kit.plain(Msg("web.sign.unknown_chain", {"chain": chain}), locale),
            "done": kit.plain(Msg("web.sign.done"), locale),
            "sending": [kit.plain(Msg("web.sign.sending", {"step": i + 1, "count": count}), locale) for i in range(count)],
            "mining": [kit.plain(Msg("web.sign.mining", {"step": i + 1, "count": count}), locale) for i in range(count)],
            "sent": kit.plain(Msg("web.sign.sent", {"hash": "{hash}"}), locale),
        }
        data = {
            "address": shown.address,
            "chainId": hex(shown.chain_id),
            "txs": [
                {"to": t.to, "data": t.data, "value": hex(t.value), "gas": None if t.gas is None else hex(t.gas)}
                for t in shown.txs
            ],
            "done": list(shown.done),
            "reportUrl": f"/sign/{token}/tx",
            "claimUrl": f"/sign/{token}/claim",
            "text": texts,
            "miniapp": opened_in_miniapp(request.query),
        }
        body = (
            paragraph(kit.text(Msg("web.sign.intro", {"address": shown.address, "count": Count(count), "chain": chain}), locale))
            + _steps(kit, shown, locale)
            + f'<button id="go" type="button">{kit.text(Msg("web.sign.button"), locale)}</button>'
            + paragraph("", "status", "status")
        )
        return kit.page(locale, Msg("web.title.sign"), body, script="sign.js", data=data)

    async def claim(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        owner = await connected.signing_owner(token)
        locale = await kit.locale_for(owner, request)
        try:
            admitted = await gate.admit(await read_json(request), token, owner)  # JSON only: no cross-site form
            offered = None if admitted is None else session_of(admitted)
            issued = await connected.claim_signing(token, request.cookies.get(COOKIE) or offered, offered)
        except UserError as err:
            return kit.json_refusal(err, locale)
        response = web.json_response({"ok": True})
        if issued is not None:
            response.set_cookie(
                COOKIE, issued, path=f"/sign/{token}", httponly=True, samesite="Strict", secure=secure_cookie,
                max_age=24 * 3600,
            )
        return response

    async def report(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        owner = await connected.signing_owner(token)
        locale = await kit.locale_for(owner, request)
        try:
            body = await read_json(request)
            admitted = await gate.admit(body, token, owner)
            session = request.cookies.get(COOKIE) or (None if admitted is None else session_of(admitted))
            step = body.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                raise UserError("error.sign.step")
            finished = await connected.report_hash(token, session, step, str(body.get("hash", ""))[:80])
        except UserError as err:
            return kit.json_refusal(err, locale)
        return web.json_response({"ok": True, "finished": finished})

    return [web.get(f"/sign/{TOKEN}", page), web.post(f"/sign/{TOKEN}/claim", claim), web.post(f"/sign/{TOKEN}/tx", report)]
