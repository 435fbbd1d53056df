"""The connect and signing pages as a Telegram Mini App: Telegram's initData checked before anything is done.

    the check alone: genuine initData built here with Telegram's algorithm, then tampered with (table-driven)
    the pages over HTTP (the real app on the devnet, a Telegram bot token configured): each bad initData is refused
    with a localized message and changes nothing; a genuine one works; a plain browser works as before
    the buttons: the connect and signing links are web_app buttons in Telegram over https (url button in groups,
    none over http), kept through the outbox, and left out by the console
    the Mini App in Chromium (Debian's, driven by playwright as in tests/test_connected_browser.py), with an injected
    `window.Telegram.WebApp` carrying initData built here: connect, then sign a connected wallet's buy on the devnet
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from eth_account import Account

from bot.app import App
from bot.config import Secret
from bot.core.errors import UserError
from bot.core.messages import Button, Count, Msg, Rendered, RenderedButton, Reply
from bot.core.request import Request
from bot.delivery.outbox import codec
from bot.frontends.adapters.base import PlainMarkup
from bot.frontends.adapters.telegram import keyboard
from bot.frontends.web import initdata
from bot.frontends.web.miniapp import miniapp_url
from auxil.catalog import text
from auxil.connected import Hashes
from conftest import make_config
from test_connected import an_intent, page_data, sign, usdc_approval
from test_connected_browser import ARGS, CHROMIUM, PROVIDER, BrowserWallet, balance

TOKEN = "123456:AAE-test-token-of-this-bot"
OTHER_BOT = "654321:AAE-token-of-another-bot"
TG_USER = 4242  # the Telegram account the links are made for
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/(?:connect|sign)/[A-Za-z0-9_-]{43})")


def build_init_data(user_id: int = TG_USER, bot_token: str = TOKEN, auth_date: int | None = None, language: str = "en") -> str:
    """initData as Telegram signs it (core.telegram.org/bots/webapps, "Validating data received via the Mini App"),
    written out here rather than taken from the code under test."""
    fields = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "query_id": "AAH" + secrets.token_urlsafe(12),
        "user": json.dumps({"id": user_id, "first_name": "Ann", "language_code": language}, separators=(",", ":")),
    }
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields, quote_via=quote)


def with_field(raw: str, name: str, value: str) -> str:
    """`raw` with one field's value changed and the hash left as it was."""
    return re.sub(rf"(^|&){name}=[^&]*", lambda m: f"{m.group(1)}{name}={quote(value)}", raw)


# -- the check alone -------------------------------------------------------------------------------------------


def test_genuine_init_data_is_accepted() -> None:
    now = time.time()
    raw = build_init_data(auth_date=int(now) - 30)
    checked = initdata.check(raw, TOKEN, now)
    assert checked.user_id == TG_USER and checked.auth_date == int(now) - 30
    assert checked.hash == re.search(r"hash=([0-9a-f]{64})", raw).group(1)  # type: ignore[union-attr]


NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (with_field(build_init_data(auth_date=NOW), "user", '{"id":777,"first_name":"Eve"}'), "error.miniapp.signature"),
        (with_field(build_init_data(auth_date=NOW), "auth_date", str(NOW + 5)), "error.miniapp.signature"),
        (with_field(build_init_data(auth_date=NOW), "hash", "0" * 64), "error.miniapp.signature"),
        (build_init_data(auth_date=NOW, bot_token=OTHER_BOT), "error.miniapp.signature"),  # another bot's token
        (build_init_data(auth_date=NOW) + "&extra=1", "error.miniapp.signature"),  # a field Telegram did not sign
        (build_init_data(auth_date=NOW) + "&auth_date=" + str(NOW), "error.miniapp.signature"),  # a field twice
        (re.sub(r"&hash=[0-9a-f]+", "", build_init_data(auth_date=NOW)), "error.miniapp.signature"),  # no hash
        ("", "error.miniapp.signature"),
        ("not a query string", "error.miniapp.signature"),
        ("a=" + "x" * 5000, "error.miniapp.signature"),
        (build_init_data(auth_date=NOW - 601), "error.miniapp.expired"),  # more than 10 minutes old
        (build_init_data(auth_date=NOW + 3600), "error.miniapp.expired"),  # from the future
    ],
    ids=["forged-user", "forged-date", "bad-hash", "other-bot", "added-field", "field-twice", "no-hash", "empty",
         "garbage", "too-long", "expired", "future"],
)
def test_bad_init_data_is_refused(raw: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        initdata.check(raw, TOKEN, NOW)
    assert caught.value.key == key


def test_init_data_within_ten_minutes_is_fresh() -> None:
    assert initdata.check(build_init_data(auth_date=NOW - 599), TOKEN, NOW).user_id == TG_USER


# -- the pages over HTTP ---------------------------------------------------------------------------------------


class Told:
    name = "telegram"
    markup = PlainMarkup()

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, chat_id: str, rendered: Any, edit_ref: str | None = None) -> str | None:
        self.sent.append(rendered.text)
        return str(len(self.sent))


@pytest.fixture
async def tg_app(chain: Any, tmp_path: Path) -> AsyncIterator[App]:
    """The bot with a Telegram bot token (the front end itself is not started: the pages need only the token)."""
    bot = await App.start(make_config(chain, tmp_path, telegram_token=Secret(TOKEN)))
    bot.notices.attach(Told())
    try:
        yield bot
    finally:
        await bot.stop()


async def ask_connect(app: App, user: int = TG_USER, locale: str = "en") -> tuple[str, Rendered]:
    request = Request("telegram", str(user), str(user), "private", locale, command="connect", text_length=8)
    rendered = (await app.router.handle(request, PlainMarkup())).rendered
    return LINK.search(rendered.text).group(1), rendered  # type: ignore[union-attr]


async def connect_in_miniapp(app: App, http: aiohttp.ClientSession, account: Any) -> str:
    """/connect, then the Mini App's two requests with genuine initData; the link."""
    url, _ = await ask_connect(app)
    async with http.get(miniapp_url(url)) as page:
        data = page_data(await page.text())
    assert data["miniapp"] is True
    base, signed_in = url.split("/connect/")[0], build_init_data()
    async with http.post(base + data["messageUrl"], json={"address": account.address, "initData": signed_in, "miniapp": True}) as r:
        prepared = await r.json()
        assert r.status == 200, prepared
    body = {"message": prepared["message"], "signature": sign(prepared["message"], account), "initData": signed_in, "miniapp": True}
    async with http.post(base + data["submitUrl"], json=body) as r:
        assert r.status == 200 and (await r.json())["address"] == account.address
    return url


async def test_a_genuine_mini_app_connects_and_signs(tg_app: App, http: aiohttp.ClientSession) -> None:
    app, account = tg_app, Account.create()
    connected = app.services.connected
    connected.on_hash = hashes = Hashes()
    url, rendered = await ask_connect(app)
    assert rendered.buttons == ((RenderedButton(text(app, "button.open.connect"), "", url),),)  # a link: no token
    await connect_in_miniapp(app, http, account)
    user = await app.services.users.seen("telegram", str(TG_USER))
    assert await connected.address_of(user.id) == account.address

    intent = await an_intent(app, user.id, account.address)
    link = await connected.signing_link(intent, user.id, [usdc_approval(app, Decimal(2))])
    async with http.get(miniapp_url(link)) as page:
        assert page.status == 200 and page_data(await page.text())["miniapp"] is True
    async with http.get(link) as page:  # the same link outside the Mini App: a plain browser's page
        assert page_data(await page.text())["miniapp"] is False
    signed_in = build_init_data()
    async with http.post(link + "/claim", json={"initData": signed_in, "miniapp": True}) as r:
        assert r.status == 200 and "HttpOnly" in r.headers["Set-Cookie"]
    async with http.post(link + "/claim", json={"initData": signed_in, "miniapp": True}) as r:  # a reload: same page
        assert r.status == 200
    async with http.post(link + "/tx", json={"step": 0, "hash": "0x" + "ab" * 32, "initData": signed_in, "miniapp": True}) as r:
        assert await r.json() == {"ok": True, "finished": True}
    assert hashes.seen == [(intent, 0, "0x" + "ab" * 32)]


async def test_telegram_web_frames_the_mini_app_and_keeps_no_cookie(tg_app: App, http: aiohttp.ClientSession) -> None:
    """Telegram Web shows a Mini App in a frame of web.telegram.org, where the browser keeps no cookie: the page
    opened as a Mini App may be framed by Telegram Web alone, and its checked initData stands for the cookie."""
    app, account = tg_app, Account.create()
    connected = app.services.connected
    connected.on_hash = hashes = Hashes()
    await connect_in_miniapp(app, http, account)
    user = await app.services.users.seen("telegram", str(TG_USER))
    link = await connected.signing_link(await an_intent(app, user.id, account.address), user.id,
                                        [usdc_approval(app, Decimal(1)), usdc_approval(app, Decimal(2))])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as framed:
        async with framed.get(miniapp_url(link)) as page:
            assert page.headers["Content-Security-Policy"].endswith("frame-ancestors https://web.telegram.org")
            assert "X-Frame-Options" not in page.headers
        async with framed.get(link) as page:  # the same page for a plain browser: no frames at all
            assert page.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
            assert page.headers["X-Frame-Options"] == "DENY"
        signed_in = {"initData": build_init_data(), "miniapp": True}
        async with framed.post(link + "/claim", json=signed_in) as r:
            assert r.status == 200
        async with framed.post(link + "/tx", json={"step": 0, "hash": "0x" + "ab" * 32, **signed_in}) as r:
            assert await r.json() == {"ok": True, "finished": False}
        other = {"initData": build_init_data(), "miniapp": True}  # another opening of the Mini App, without cookie
        async with framed.post(link + "/tx", json={"step": 1, "hash": "0x" + "cd" * 32, **other}) as r:
            assert r.status == 404  # not the page's owner
        async with framed.post(link + "/tx", json={"step": 1, "hash": "0x" + "cd" * 32}) as r:  # nor a plain browser
            assert r.status == 404
        async with framed.post(link + "/tx", json={"step": 1, "hash": "0x" + "cd" * 32, **signed_in}) as r:
            assert await r.json() == {"ok": True, "finished": True}
    assert [h[1:] for h in hashes.seen] == [(0, "0x" + "ab" * 32), (1, "0x" + "cd" * 32)]


async def test_a_plain_browser_works_as_before(tg_app: App, http: aiohttp.ClientSession) -> None:
    """Without initData and without the Mini App's mark (Discord, a wallet's in-app browser): nothing is asked."""
    app, account = tg_app, Account.create()
    url, _ = await ask_connect(app)
    base = url.split("/connect/")[0]
    async with http.get(url) as page:
        data = page_data(await page.text())
    assert data["miniapp"] is False
    async with http.post(base + data["messageUrl"], json={"address": account.address}) as r:
        message = (await r.json())["message"]
    async with http.post(base + data["submitUrl"], json={"message": message, "signature": sign(message, account)}) as r:
        assert r.status == 200
    user = await app.services.users.seen("telegram", str(TG_USER))
    assert await app.services.connected.address_of(user.id) == account.address


def bad(case: str, now: int) -> dict[str, Any]:
    """What a bad Mini App request carries besides its own fields."""
    raw = {
        "forged": with_field(build_init_data(auth_date=now), "user", json.dumps({"id": TG_USER, "first_name": "Eve!"})),
        "expired": build_init_data(auth_date=now - 11 * 60),
        "other-bot": build_init_data(bot_token=OTHER_BOT, auth_date=now),
        "other-user": build_init_data(user_id=777, auth_date=now),
    }.get(case)
    return {"miniapp": True} if raw is None else {"miniapp": True, "initData": raw}


CASES = [
    ("forged", "error.miniapp.signature", {}, "en"),
    ("expired", "error.miniapp.expired", {"count": Count(10)}, "zh_CN"),
    ("other-bot", "error.miniapp.signature", {}, "zh_CN"),
    ("replayed", "error.miniapp.replayed", {}, "en"),
    ("other-user", "error.miniapp.user", {}, "en"),
    ("missing", "error.miniapp.missing", {}, "zh_CN"),
]


async def replayed(app: App, http: aiohttp.ClientSession) -> dict[str, Any]:
    """Genuine initData already used on another page (a connect link of the same user)."""
    other, _ = await ask_connect(app)
    raw = build_init_data()
    async with http.post(other + "/message", json={"address": Account.create().address, "initData": raw, "miniapp": True}) as r:
        assert r.status == 200
    return {"miniapp": True, "initData": raw}


@pytest.mark.parametrize(("case", "key", "params", "locale"), CASES, ids=[c[0] for c in CASES])
async def test_bad_init_data_on_the_connect_page_changes_nothing(
    tg_app: App, http: aiohttp.ClientSession, case: str, key: str, params: dict[str, Any], locale: str
) -> None:
    app, account = tg_app, Account.create()
    await app.services.users.seen("telegram", str(TG_USER), platform_locale=locale)
    url, _ = await ask_connect(app, locale=locale)
    extra = await replayed(app, http) if case == "replayed" else bad(case, int(time.time()))
    async with http.post(url + "/message", json={"address": account.address}) as r:  # a plain browser's message
        message = (await r.json())["message"]
    for path, body in (("/message", {"address": account.address}), ("", {"message": message, "signature": sign(message, account)})):
        async with http.post(url + path, json={**body, **extra}) as r:
            assert r.status == 403 and await r.json() == {"ok": False, "message": text(app, key, locale, **params)}
    user = await app.services.users.seen("telegram", str(TG_USER))
    assert await app.services.connected.address_of(user.id) is None
    assert (await app.services.connected.connect_state(url.rsplit("/", 1)[1]))[0] == "ok"  # still usable


@pytest.mark.parametrize(("case", "key", "params", "locale"), CASES, ids=[c[0] for c in CASES])
async def test_bad_init_data_on_the_signing_page_changes_nothing(
    tg_app: App, http: aiohttp.ClientSession, case: str, key: str, params: dict[str, Any], locale: str
) -> None:
    app, account = tg_app, Account.create()
    connected = app.services.connected
    connected.on_hash = hashes = Hashes()
    await connect_in_miniapp(app, http, account)
    user = await app.services.users.seen("telegram", str(TG_USER), platform_locale=locale)
    intent = await an_intent(app, user.id, account.address)
    link = await connected.signing_link(intent, user.id, [usdc_approval(app, Decimal(1))])
    extra = await replayed(app, http) if case == "replayed" else bad(case, int(time.time()))
    async with aiohttp.ClientSession() as browser:
        async with browser.post(link + "/claim", json=extra) as r:
            assert r.status == 403 and "Set-Cookie" not in r.headers
            assert await r.json() == {"ok": False, "message": text(app, key, locale, **params)}
    row = await app.db.fetch_one("SELECT session_hash, hashes FROM signing_links WHERE intent_id = :i", {"i": intent})
    assert row is not None and row.session_hash is None and json.loads(row.hashes) == []
    # the link is unspent: its user's Mini App claims it, and a bad report after that is refused too
    async with http.post(link + "/claim", json={"initData": build_init_data(), "miniapp": True}) as r:
        assert r.status == 200
    async with http.post(link + "/tx", json={"step": 0, "hash": "0x" + "cd" * 32, **extra}) as r:
        assert r.status == 403 and (await r.json())["message"] == text(app, key, locale, **params)
    assert hashes.seen == []


# -- the buttons -----------------------------------------------------------------------------------------------


def test_telegram_opens_https_pages_as_a_mini_app_in_private_chats() -> None:
    page = "https://bot.example.org/sign/" + "A" * 43
    rendered = Rendered("Sign", ((RenderedButton("Review and sign", "", page), RenderedButton("Cancel", "tok123")),))
    private = keyboard(rendered, "4242")
    assert private is not None
    opened, cancel = private.inline_keyboard[0]
    assert opened.web_app is not None and opened.web_app.url == page + "?tg=1" and opened.url is None
    assert cancel.callback_data == "b:tok123"
    group = keyboard(rendered, "-100123")
    assert group is not None
    in_group = group.inline_keyboard[0][0]
    assert in_group.url == page and in_group.web_app is None  # Telegram allows web_app buttons in private chats only
    local = Rendered("Sign", ((RenderedButton("Review and sign", "", "http://127.0.0.1:8080/sign/" + "A" * 43),),))
    assert keyboard(local, "4242") is None  # http: no button (the text carries the link), as before


async def test_telegram_sends_connect_as_a_mini_app_button_and_the_page_takes_its_init_data(
    chain: Any, tmp_path: Path, emulator: Any
) -> None:
    """Over the Bot API emulator with an https public URL: /connect gets a web_app button (python-telegram-bot
    serializes it), and the page at that URL accepts initData signed with this bot's token for the asking user."""
    from bot.config import WebSettings
    from bot.frontends.adapters.telegram import TelegramFrontend
    from conftest import JOURNEY_LIMITS
    from auxil.telegram import ask

    app = await App.start(make_config(chain, tmp_path, telegram_token=Secret(emulator.token),
                                      web=WebSettings(port=0, public_url="https://bot.example.org")))
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    try:
        sent = await ask(emulator, 5151, 5151, "/connect")
        [[button]] = sent.params["reply_markup"]["inline_keyboard"]
        url = button["web_app"]["url"]
        assert button["text"] == text(app, "button.open.connect") and "url" not in button
        assert re.fullmatch(r"https://bot\.example\.org/connect/[A-Za-z0-9_-]{43}\?tg=1", url), url
        assert url.removesuffix("?tg=1") in sent.params["text"]  # the text keeps the link for a plain browser
        local = f"http://127.0.0.1:{app.web.sock.getsockname()[1]}" + url.removeprefix("https://bot.example.org")  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            async with http.get(local) as page:
                assert page_data(await page.text())["miniapp"] is True
            address = Account.create().address
            message = local.replace("?tg=1", "/message")
            for user, status in ((5152, 403), (5151, 200)):  # another account's Telegram, then the asker's
                body = {"address": address, "miniapp": True, "initData": build_init_data(user, emulator.token)}
                async with http.post(message, json=body) as r:
                    assert r.status == status, await r.text()
    finally:
        await front.stop()
        await app.stop()


def test_a_link_button_waits_in_the_outbox_unchanged() -> None:
    reply = Reply.of(Msg("trade.sign.link"), buttons=((Button.link(Msg("button.open.sign"), "https://x.org/sign/t"),
                                                       Button(Msg("button.help"), "help", ("a",))),))
    assert codec.loads(codec.dumps(reply)) == reply


async def test_the_console_shows_no_link_button(tg_app: App) -> None:
    """The console prints the link in the text; a link is no numbered button to press."""
    import io

    from bot.frontends.adapters.console import ConsoleFrontend

    out = io.StringIO()
    url, rendered = await ask_connect(tg_app)
    ConsoleFrontend(tg_app.router, io.StringIO(), out).show(rendered)
    assert url in out.getvalue() and "[1]" not in out.getvalue()


# -- the Mini App in Chromium ----------------------------------------------------------------------------------


def telegram_web_app(raw: str) -> str:
    """What Telegram's own script sets up in a Mini App, as far as the pages use it."""
    return (f"window.Telegram = {{ WebApp: {{ initData: {json.dumps(raw)}, initDataUnsafe: {{}}, "
            "ready: () => { window.__telegramReady = true; } } };")


async def say_in_telegram(app: App, line: str, **press: Any) -> Rendered:
    command, _, rest = line.lstrip("/").partition(" ")
    request = (Request("telegram", str(TG_USER), str(TG_USER), "private", "en", **press) if press else
               Request("telegram", str(TG_USER), str(TG_USER), "private", "en", command=command, args=tuple(rest.split()),
                       text_length=len(line)))
    return (await app.router.handle(request, PlainMarkup())).rendered


def link_of(rendered: Rendered) -> str:
    (url,) = [b.url for row in rendered.buttons for b in row if b.url]
    return url


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: `make test` installs Debian's chromium package")
async def test_the_mini_app_connects_and_signs_a_buy_in_chromium(tg_app: App, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    from devnet.operator import fund

    app, account = tg_app, Account.create()
    wallet = BrowserWallet(app, account)
    desk = app.services.desks.home
    assert desk is not None
    connect_link = link_of(await say_in_telegram(app, "/connect"))

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True,
        )
        try:
            await browser.expose_function("__wallet", wallet.handle)
            await browser.add_init_script(PROVIDER)

            async def mini_app(url: str) -> Any:
                """The page as Telegram's web_app button opens it: fresh initData for each opening."""
                page = await browser.new_page()
                await page.add_init_script(telegram_web_app(build_init_data()))
                await page.goto(miniapp_url(url))
                assert await page.evaluate("window.__telegramReady === true")  # the page told Telegram it is ready
                return page

            page = await mini_app(connect_link)
            await expect(page.locator("h1")).to_have_text(text(app, "web.title.connect"))
            await page.click("#go")
            done = text(app, "web.connect.done", address=f"{account.address[:6]}…{account.address[-4:]}")
            await expect(page.locator("#status")).to_have_text(done, timeout=10_000)
            user = await app.services.users.seen("telegram", str(TG_USER))
            assert await app.services.connected.address_of(user.id) == account.address

            await fund(app.profile, account.address, usdc=Decimal(1000), eth=Decimal(1))
            ref = app.profile.indexes[0]
            usdc_before = await balance(app, app.profile.usdc.address, account.address)
            index_before = await balance(app, ref.token.address, account.address)
            quoted = await say_in_telegram(app, "/buy MAG7.ssi 100")
            confirm = next(b.token for row in quoted.buttons for b in row if b.label == "Confirm")
            signing = await say_in_telegram(app, "", button_token=confirm, message_ref="quote-msg")
            sign_link = link_of(signing)
            assert signing.buttons == ((RenderedButton(text(app, "button.open.sign"), "", sign_link),),)

            page = await mini_app(sign_link)
            body = await page.locator("main").inner_text()
            for line in (text(app, "sign.what.approve", spender="Uniswap SwapRouter02", amount="100", symbol="USDC"),
                         text(app, "sign.what.swap", amount="100", symbol_in="USDC", symbol_out=ref.symbol),
                         text(app, "web.sign.step", step=2, count=2)):
                assert line in body, line
            await page.click("#go")
            await expect(page.locator("#status")).to_have_text(text(app, "web.sign.done"), timeout=20_000)
        finally:
            await browser.close()

    # both pages' requests carried Telegram's initData, each remembered for its own page
    rows = await app.db.fetch_all("SELECT scope FROM miniapp_init_data")
    assert len({r.scope for r in rows}) == 2
    (intent,) = await desk.intents.of_user(user.id, 1)
    for _ in range(200):
        found = await desk.intents.get(intent.id)
        if found is not None and found.state.terminal:
            break
        await asyncio.sleep(0.05)
    assert found is not None and found.state.name == "MINED", found
    assert usdc_before - await balance(app, app.profile.usdc.address, account.address) == 100 * 10**6
    assert await balance(app, ref.token.address, account.address) - index_before >= int(found.params["min_out"]) > 0
