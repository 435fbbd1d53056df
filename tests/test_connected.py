"""Connected wallets through the bot: /connect and /disconnect replies, the pages over HTTP, signing links.

The real app (devnet chain, fresh SQLite, web server on a free port); pages fetched with aiohttp as a browser
would, the SIWE message signed with a real key; notices recorded by a front end attached to the app.
"""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.errors import UserError
from bot.core.messages import Amount, Count, Msg
from bot.storage.intents import IntentRows
from bot.frontends.web.server import HEADERS
from wallets.connected import TxRequest
from auxil.catalog import text
from auxil.requests import Console
from auxil.connected import Hashes

say = Console(user="c1").say  # the connected-wallet users write as c1 unless named

KEY = Account.from_key("0x" + "33" * 32)
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/(?:connect|sign)/[A-Za-z0-9_-]{43})")


class Recorder:
    name = "console"
    markup = PlainMarkup()

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def deliver(self, chat_id: str, rendered: Any, edit_ref: str | None = None) -> str | None:
        self.sent.append((chat_id, rendered.text))
        return str(len(self.sent))


def sign(message: str, account: Any = KEY) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


@pytest.fixture
def told(app: App) -> Recorder:
    front = Recorder()
    app.notices.attach(front)
    return front


def page_data(body: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', body, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


async def claim(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    """What the signing page's script does when the user starts signing: claim the link for this browser."""
    async with http.post(url + "/claim", json={}) as r:
        await r.read()
        return r


def assert_strict_headers(response: aiohttp.ClientResponse) -> None:
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


async def connect(app: App, http: aiohttp.ClientSession, account: Any = KEY, user: str = "c1") -> dict[str, Any]:
    reply = (await say(app, "/connect", user)).rendered.text
    url = LINK.search(reply).group(1)  # type: ignore[union-attr]
    async with http.get(url) as page:
        assert page.status == 200
        data = page_data(await page.text())
    base = url.split("/connect/")[0]
    async with http.post(base + data["messageUrl"], json={"address": account.address}) as r:
        prepared = await r.json()
    async with http.post(base + data["submitUrl"], json={"message": prepared["message"], "signature": sign(prepared["message"], account)}) as r:
        done = await r.json()
        return {"status": r.status, **done, "url": url, "base": base, "data": data, "message": prepared["message"], "done": done}


# -- /connect and /disconnect in chat ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "chat_type", "locale", "key", "params"),
    [
        ("/connect now", "private", "en", "error.args.extra", {"usage": Msg("usage.connect")}),
        ("/connect 0xabc", "private", "zh_CN", "error.args.extra", {"usage": Msg("usage.connect")}),
        ("/disconnect all", "private", "en", "error.args.extra", {"usage": Msg("usage.disconnect")}),
        ("/disconnect", "private", "en", "error.connect.none", {}),
        ("/disconnect", "private", "zh_CN", "error.connect.none", {}),
        ("/connect", "group", "en", "error.private_only", {}),
    ],
)
async def test_bad_input_gets_a_localized_reply_and_changes_nothing(
    app: App, line: str, chat_type: str, locale: str, key: str, params: dict[str, Any]
) -> None:
    outcome = await say(app, line, "bad1", chat_type, locale)
    expected = app.services.catalogs.render_msg(Msg(key, params), locale, str)
    assert outcome.rendered.text == expected
    rows = await app.db.fetch_all("SELECT 1 FROM connect_links UNION ALL SELECT 1 FROM wallets WHERE kind = 'connected'")
    assert rows == []


async def test_connect_links_the_address_and_tells_the_chat(app: App, http: aiohttp.ClientSession, told: Recorder) -> None:
    result = await connect(app, http)
    assert result["status"] == 200 and result["ok"] is True and result["address"] == KEY.address
    assert result["done"]["message"] == text(app, "web.connect.done", address=f"{KEY.address[:6]}…{KEY.address[-4:]}")
    assert told.sent == [("c1", text(app, "connect.done", address=f"{KEY.address[:6]}…{KEY.address[-4:]}"))]
    user = await app.services.users.seen("console", "c1")
    assert await app.services.connected.address_of(user.id) == KEY.address  # type: ignore[union-attr]
    message = result["message"]
    assert message.startswith(f"127.0.0.1:{app.web.url.rsplit(':', 1)[1]} wants you to sign in")  # type: ignore[union-attr]
    assert f"Chain ID: {app.profile.chain_id}\n" in message and f"URI: {app.web.url}\n" in message  # type: ignore[union-attr]

    # replayed: the same signed message again, and the page itself, are refused in the user's language
    async with http.post(result["base"] + result["data"]["submitUrl"], json={"message": message, "signature": sign(message)}) as r:
        assert r.status == 410 and (await r.json())["message"] == text(app, "error.link.used")
    async with http.get(result["url"]) as page:
        assert page.status == 410 and html.escape(text(app, "error.link.used")) in await page.text()
        assert_strict_headers(page)
    assert len(told.sent) == 1

    again = await say(app, "/connect")
    assert text(app, "connect.current", address=f"{KEY.address[:6]}…{KEY.address[-4:]}") in again.rendered.text
    gone = await say(app, "/disconnect")
    assert gone.rendered.text == text(app, "connect.removed", address=f"{KEY.address[:6]}…{KEY.address[-4:]}")
    assert await app.services.connected.address_of(user.id) is None  # type: ignore[union-attr]


async def test_pages_are_localized_escaped_and_strict(app: App, http: aiohttp.ClientSession) -> None:
    reply = (await say(app, "/connect", "c2", locale="zh-CN")).rendered.text
    assert reply.startswith(text(app, "connect.link", "zh_CN", count=Count(10), url="")[:10])
    url = LINK.search(reply).group(1)  # type: ignore[union-attr]
    async with http.get(url) as page:
        body = await page.text()
        assert_strict_headers(page)
        assert page.headers["Content-Type"].startswith("text/html")
    assert html.escape(text(app, "web.connect.intro", "zh_CN")) in body and '<html lang="zh-CN">' in body
    assert "<script>" not in body and "onclick" not in body  # no inline code: the CSP would refuse it anyway
    for asset in ("/static/common.js", "/static/connect.js", "/static/sign.js", "/static/style.css"):
        async with http.get(url.split("/connect/")[0] + asset) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith(("text/javascript", "text/css"))
            assert_strict_headers(r)
    async with http.get(url.split("/connect/")[0] + "/connect/" + "A" * 43, headers={"Accept-Language": "zh-CN,zh;q=0.9"}) as r:
        assert r.status == 404 and html.escape(text(app, "error.link.unknown", "zh_CN")) in await r.text()
    async with http.post(url + "/message", data="address=0x1", headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 400 and (await r.json())["message"] == text(app, "error.web.request", "zh_CN")


async def test_static_files_fetch_nothing_from_elsewhere() -> None:
    from bot.frontends.web.server import STATIC_DIR

    for path in STATIC_DIR.iterdir():
        body = path.read_text()
        assert "http://" not in body and "https://" not in body and "innerHTML" not in body and "eval(" not in body, path


# -- signing links -------------------------------------------------------------------------------------------


async def an_intent(app: App, user_id: int, address: str) -> int:
    return await IntentRows(app.db).create(
        user_id=user_id, address=address, kind="buy", chain_id=app.profile.chain_id, params={}, expires_at=2**31,
        platform="console", chat_id="c1",
    )


def usdc_approval(app: App, amount: Decimal) -> TxRequest:
    from bot.chain import protocol as p

    usdc = app.profile.usdc
    data = "0x" + p.APPROVE.encode(app.profile.swap_router02, int(amount.scaleb(usdc.decimals))).hex()
    return TxRequest(
        to=usdc.address, data=data, value=0, chain_id=app.profile.chain_id,
        what=Msg("sign.what.approve", {"spender": "Uniswap SwapRouter02", "amount": Amount(amount), "symbol": "USDC"}),
        contract_name="USDC", amount=Msg("sign.amount", {"amount": Amount(amount), "symbol": "USDC"}), gas=60_000,
    )


async def test_signing_link_is_single_use_bound_and_ordered(app: App, http: aiohttp.ClientSession, told: Recorder) -> None:
    connected = app.services.connected
    assert connected is not None
    hashes = Hashes()
    connected.on_hash = hashes
    await connect(app, http)
    user = await app.services.users.seen("console", "c1")
    intent = await an_intent(app, user.id, KEY.address)
    with pytest.raises(UserError) as caught:  # someone else's intent
        other = await app.services.users.seen("console", "c9")
        await connected.signing_link(intent, other.id, [usdc_approval(app, Decimal(5))])
    assert caught.value.key == "error.connect.none"
    url = await connected.signing_link(intent, user.id, [usdc_approval(app, Decimal("12.5")), usdc_approval(app, Decimal(0))])
    async with http.get(url) as page:
        body = await page.text()
        assert page.status == 200 and "Set-Cookie" not in page.headers  # opening it claims nothing
    claimed = await claim(http, url)
    assert claimed.status == 200 and "Path=/sign/" in claimed.headers["Set-Cookie"] and "HttpOnly" in claimed.headers["Set-Cookie"]
    assert html.escape(text(app, "sign.what.approve", spender="Uniswap SwapRouter02", amount="12.5", symbol="USDC")) in body
    assert html.escape(text(app, "web.sign.step", step=2, count=2)) in body and app.profile.usdc.address in body
    data = page_data(body)
    assert data["address"] == KEY.address and int(data["chainId"], 16) == app.profile.chain_id and len(data["txs"]) == 2

    async with aiohttp.ClientSession() as stranger:  # another browser with the link: refused
        async with stranger.get(url) as page:
            assert page.status == 410 and html.escape(text(app, "error.link.used")) in await page.text()
        assert (await claim(stranger, url)).status == 410
        async with stranger.post(url + "/tx", json={"step": 0, "hash": "0x" + "ab" * 32}) as r:
            assert r.status == 404
    report = url + "/tx"
    refusals = [
        ({"step": 1, "hash": "0x" + "ab" * 32}, "error.sign.step"),
        ({"step": 0, "hash": "0xnothex"}, "error.sign.hash"),
        ({"step": True, "hash": "0x" + "ab" * 32}, "error.sign.step"),
    ]
    for body_, key in refusals:
        async with http.post(report, json=body_) as r:
            assert r.status == 400 and (await r.json())["message"] == text(app, key)
    async with http.post(report, json={"step": 0, "hash": "0x" + "AB" * 32}) as r:
        assert (await r.json()) == {"ok": True, "finished": False}
    async with http.post(report, json={"step": 0, "hash": "0x" + "ab" * 32}) as r:  # a retried report: harmless
        assert (await r.json()) == {"ok": True, "finished": False}
    async with http.post(report, json={"step": 0, "hash": "0x" + "cd" * 32}) as r:  # the node knows neither:
        assert (await r.json()) == {"ok": True, "finished": False}  # a provisional hash, replaced by the next
    async with http.post(report, json={"step": 1, "hash": "0x" + "ef" * 32}) as r:
        assert (await r.json()) == {"ok": True, "finished": True}
    assert hashes.seen == [(intent, 0, "0x" + "ab" * 32), (intent, 0, "0x" + "cd" * 32), (intent, 1, "0x" + "ef" * 32)]
    async with http.get(url) as page:  # used up
        assert page.status == 410


async def test_link_previews_do_not_spend_a_signing_link(app: App, http: aiohttp.ClientSession, told: Recorder) -> None:
    """Telegram's and Discord's preview fetchers GET a link as soon as it is posted, before the user opens it.
    Any number of GETs claim nothing; the user's browser then claims it by the page script's POST and signs.
    (The old page gave the link to the first GET: the user got "already used".)"""
    connected = app.services.connected
    assert connected is not None
    hashes = Hashes()
    connected.on_hash = hashes
    await connect(app, http, user="c5")
    user = await app.services.users.seen("console", "c5")
    intent = await an_intent(app, user.id, KEY.address)
    url = await connected.signing_link(intent, user.id, [usdc_approval(app, Decimal(3))])
    for agent in ("TelegramBot (like TwitterBot)", "Mozilla/5.0 (compatible; Discordbot/2.0)", "TelegramBot (like TwitterBot)"):
        async with aiohttp.ClientSession(headers={"User-Agent": agent}) as previewer:
            async with previewer.get(url) as page:
                assert page.status == 200 and "Set-Cookie" not in page.headers, await page.text()
    async with http.get(url) as page:  # the user's browser, after the previews
        assert page.status == 200
    claimed = await claim(http, url)
    assert claimed.status == 200 and "HttpOnly" in claimed.headers["Set-Cookie"]
    assert (await claim(http, url)).status == 200  # the same browser again (a reload, a second press): still its own
    async with http.post(url + "/tx", json={"step": 0, "hash": "0x" + "12" * 32}) as r:
        assert (await r.json()) == {"ok": True, "finished": True}
    assert hashes.seen == [(intent, 0, "0x" + "12" * 32)]
    async with aiohttp.ClientSession() as late:  # a preview after the claim: refused, and it cannot claim
        async with late.get(url) as page:
            assert page.status == 410


async def test_signing_link_expires_and_refuses_a_transaction_that_does_not_match(app: App, http: aiohttp.ClientSession, told: Recorder) -> None:
    connected = app.services.connected
    assert connected is not None
    connected.on_hash = Hashes()
    await connect(app, http, user="c3")
    user = await app.services.users.seen("console", "c3")
    intent = await an_intent(app, user.id, KEY.address)
    url = await connected.signing_link(intent, user.id, [usdc_approval(app, Decimal(1))])
    async with http.get(url) as page:
        assert page.status == 200
    assert (await claim(http, url)).status == 200
    # a real transaction, but not this step's: from anvil's first account, to the user's address
    w3 = app.chain.w3
    sender = (await w3.eth.accounts)[0]
    real = await w3.eth.send_transaction({"from": sender, "to": KEY.address, "value": 1})
    async with http.post(url + "/tx", json={"step": 0, "hash": "0x" + bytes(real).hex()}) as r:
        assert r.status == 400 and (await r.json())["message"] == text(app, "error.sign.mismatch")
    later = connected.clock() + connected.settings.signing_link_seconds + 1
    connected.clock = lambda: later
    async with http.get(url) as page:
        assert page.status == 410 and html.escape(text(app, "error.link.expired")) in await page.text()
    with pytest.raises(ValueError):
        await connected.signing_link(intent, user.id, [TxRequest("0x1", "0x", 0, 1, Msg("sign.amount"), "x")])
