"""The PIN pad Mini App: a question for a PIN answered on a page inside Telegram, as the typed message would answer it.

    the button: an Enter PIN web_app button under a PIN question in a private chat (Telegram over https), none for a
    question that asks no PIN, none on the console
    the endpoint over HTTP (the real app, the real Telegram front end on the Bot API emulator): bad requests, table-
    driven, are refused with a localized message and change nothing (the question stays open, no try is counted,
    nothing is said in the chat); a genuine PIN exports the key in the chat, a wrong one counts toward the lockout
    the pad in Chromium (playwright, an injected `window.Telegram.WebApp`): a custodial withdrawal on the devnet, a
    wrong PIN tapped first
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_utils.address import to_checksum_address

from auxil.catalog import html_text, text
from auxil.telegram import to_chat
from auxil.trading import PIN, token_balance
from bot.app import App
from bot.config import Secret, WebSettings
from bot.core.messages import Count, Msg
from bot.core.request import Request
from bot.frontends.adapters.base import PlainMarkup
from bot.frontends.adapters.telegram import TelegramFrontend
from conftest import JOURNEY_LIMITS, make_config
from telegram_emulator import BotApiEmulator, Call
from test_miniapp import OTHER_BOT, build_init_data, telegram_web_app, with_field

PUBLIC = "https://bot.example.org"
TG = 6161  # the Telegram account asked for its PIN
WRONG = "135792"
TO = to_checksum_address("0x" + "5a" * 4 + "c3" * 16)
THIS_BOT = BotApiEmulator().token  # the token the `emulator` fixture's bot has
PAD = re.compile(r"https://bot\.example\.org/pin/([A-Za-z0-9_-]{43})\?tg=1")


@dataclass
class PinBot:
    app: App
    emulator: BotApiEmulator
    front: TelegramFrontend

    def local(self, url: str) -> str:
        """A page's https address (what Telegram opens) as this test reaches it."""
        return f"http://127.0.0.1:{self.app.web.sock.getsockname()[1]}" + url.removeprefix(PUBLIC)  # type: ignore[union-attr]

    async def say(self, line: str, user: int = TG) -> Call:
        since = self.emulator.mark()
        self.emulator.send_text(user, user, line)
        return await self.emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)

    async def answer(self, line: str) -> Call:
        """`line` answers the open question; what the bot said before asking the next one (its ForceReply)."""
        since = self.emulator.mark()
        self.emulator.send_text(TG, TG, line)
        await self.emulator.wait_for("sendMessage", asks_again, since=since, timeout=30)
        return self.emulator.calls_to("sendMessage", since)[0]

    async def user_key(self, user: int = TG, locale: str | None = None) -> int:
        return (await self.app.services.users.seen("telegram", str(user), platform_locale=locale)).id

    async def failures(self, user: int = TG) -> int:
        return int(await self.app.db.scalar("SELECT failures FROM pins WHERE user_id = :u", {"u": await self.user_key(user)}))


def asks_again(call: Call) -> bool:
    return "force_reply" in str(call.params.get("reply_markup"))


@pytest.fixture
async def pinbot(chain: Any, tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[PinBot]:
    """The bot served over https (as Telegram requires of a Mini App), its Telegram front end on the emulator, and a
    Telegram user with a custodial wallet and a PIN."""
    app = await App.start(make_config(chain, tmp_path, telegram_token=Secret(emulator.token),
                                      web=WebSettings(port=0, public_url=PUBLIC)))
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    app.notices.attach(front)
    bot = PinBot(app, emulator, front)
    key = await bot.user_key()
    await app.services.wallets.create(key)
    await app.services.pins.set_pin(key, PIN)
    try:
        yield bot
    finally:
        await app.notices.detach(front)
        await front.stop()
        await app.stop()


def pad_of(message: Call) -> str:
    """The Enter PIN button's page (a web_app button: Telegram opens it as a Mini App)."""
    rows = message.params["reply_markup"]["inline_keyboard"]
    (url,) = [b["web_app"]["url"] for row in rows for b in row if "web_app" in b]
    assert PAD.fullmatch(url), url
    return url


async def export_asked(bot: PinBot) -> str:
    """/wallet export alone: the question, with its Enter PIN button; the pad's local address."""
    since = bot.emulator.mark()
    asked = await bot.say("/wallet export")
    assert html.unescape(asked.params["text"]).endswith(text(bot.app, "wallet.export.ask"))
    await bot.emulator.wait_for("sendMessage", lambda c: "force_reply" in str(c.params.get("reply_markup")), since=since)
    labels = [b["text"] for row in asked.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == [text(bot.app, "button.pin_pad"), text(bot.app, "button.cancel")]
    return bot.local(pad_of(asked).removesuffix("?tg=1"))


def signed(user: int = TG, **kw: Any) -> dict[str, Any]:
    """What the Mini App posts besides its own fields: initData Telegram signed for this bot (the emulator's token)."""
    return {"miniapp": True, "initData": build_init_data(user, **{"bot_token": THIS_BOT, **kw})}


# -- the button ------------------------------------------------------------------------------------------------


async def test_the_pin_pad_is_offered_for_a_pin_only_in_a_private_telegram_chat(pinbot: PinBot) -> None:
    app = pinbot.app
    await export_asked(pinbot)
    since = pinbot.emulator.mark()
    asked = await pinbot.say("/withdraw")  # a question with buttons, no PIN yet
    assert "web_app" not in json.dumps(asked.params.get("reply_markup"))
    assert pinbot.emulator.calls_to("sendMessage", since)  # answered
    console = Request("console", "c1", "c1", "private", "en", command="pin", text_length=4)
    rendered = (await app.router.handle(console, PlainMarkup())).rendered
    assert all(not b.url for row in rendered.buttons for b in row)  # the console has no Mini App


# -- the endpoint ----------------------------------------------------------------------------------------------


async def replayed(bot: PinBot, http: aiohttp.ClientSession) -> dict[str, Any]:
    """Genuine initData already used on another page (the PIN pad of an earlier question)."""
    first = await export_asked(bot)
    body = signed()
    async with http.post(first + "/open", json=body) as r:
        assert r.status == 200, await r.text()
    await export_asked(bot)  # asked again: a new page
    return body


# (case, the body's extra fields or how to end the question, the refusal's key, its parameters, HTTP status, locale)
BAD = [
    ("plain browser", {}, "error.pin_pad.outside", {}, 403, "en"),
    ("no initData in the Mini App", {"miniapp": True}, "error.miniapp.missing", {}, 403, "zh_CN"),
    ("forged", "forged", "error.miniapp.signature", {}, 403, "en"),
    ("expired", "expired", "error.miniapp.expired", {"count": Count(10)}, 403, "ru"),
    ("another bot's", "other-bot", "error.miniapp.signature", {}, 403, "en"),
    ("another user's", "other-user", "error.miniapp.user", {}, 403, "es"),
    ("replayed", "replayed", "error.miniapp.replayed", {}, 403, "en"),
    ("letters", {"pin": "12ab"}, "error.pin.length", {"min": 4, "count": Count(8)}, 400, "ja"),
    ("too long", {"pin": "123456789"}, "error.pin.length", {"min": 4, "count": Count(8)}, 400, "en"),
    ("no PIN", {"pin": None}, "error.pin.length", {"min": 4, "count": Count(8)}, 400, "en"),
    ("cancelled", "cancelled", "prompt.closed", {}, 410, "ko"),
    ("a command typed instead", "command", "prompt.closed", {}, 410, "en"),
    ("timed out", "timed-out", "prompt.expired", {"count": Count(5)}, 410, "vi"),
]


async def bad_body(bot: PinBot, http: aiohttp.ClientSession, case: Any, now: int, locale: str) -> dict[str, Any]:
    if isinstance(case, dict):
        return {**signed(language=locale), **case} if "pin" in case else {"pin": PIN, **case}
    body = {"pin": PIN}
    if case == "forged":
        return {**body, "miniapp": True, "initData": with_field(build_init_data(TG, THIS_BOT, auth_date=now), "user",
                                                                 json.dumps({"id": TG, "first_name": "Eve"}))}
    if case == "expired":
        return {**body, **signed(auth_date=now - 11 * 60)}
    if case == "other-bot":
        return {**body, **signed(bot_token=OTHER_BOT)}
    if case == "other-user":
        await bot.user_key(7777)
        return {**body, **signed(7777)}
    if case == "replayed":
        return {**body, **await replayed(bot, http)}
    return {**body, **signed(language=locale)}  # Telegram's language: the refusal's, once no question names the asker


async def test_a_bad_request_is_refused_in_the_users_language_and_changes_nothing(
        pinbot: PinBot, http: aiohttp.ClientSession) -> None:
    app, emulator = pinbot.app, pinbot.emulator
    user_key = await pinbot.user_key()
    for name, case, key, params, status, locale in BAD:
        if case == "replayed":
            body = await bad_body(pinbot, http, case, int(time.time()), locale)
            page = await export_asked(pinbot)
        else:
            page = await export_asked(pinbot)
            body = await bad_body(pinbot, http, case, int(time.time()), locale)
        if case == "cancelled":
            await app.router.questions.end(user_key, str(TG))
        elif case == "command":
            await pinbot.say("/wallet")
        elif case == "timed-out":
            await app.db.execute("UPDATE prompts SET expires_at = :t", {"t": int(time.time()) - 1})
        await pinbot.user_key(locale=locale)  # the language Telegram last said the user speaks
        open_before = await app.router.questions.peek(user_key, str(TG))
        since = emulator.mark()
        for path, sent in (("/open", {k: v for k, v in body.items() if k != "pin"}), ("", body)):
            if path == "/open" and key.startswith("error.pin.length"):
                continue  # opening asks no PIN
            async with http.post(page + path, json=sent) as r:
                said = await r.json()
                assert (r.status, said) == (status, {"ok": False, "message": text(app, key, locale, **params)}), name
        assert await app.router.questions.peek(user_key, str(TG)) == open_before, name  # still open (or still gone)
        assert await pinbot.failures() == 0, name  # no try counted
        await asyncio.sleep(0.2)
        assert emulator.calls_to("sendMessage", since) == [], name  # nothing said in the chat
        await app.router.questions.end(user_key, str(TG))
    async with http.get(page, headers={"Accept-Language": "vi"}) as r:  # a page whose question is gone: refused
        assert r.status == 410 and text(app, "prompt.closed", "vi") in html.unescape(await r.text())
    async with http.post(page.split("/pin/")[0] + "/pin/" + "x" * 43, json={"pin": PIN, **signed()}) as r:  # nobody's page
        assert r.status == 410 and (await r.json())["message"] == text(app, "prompt.closed")


async def test_the_pad_exports_the_key_in_the_chat_and_a_wrong_pin_counts(
        pinbot: PinBot, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app, emulator = pinbot.app, pinbot.emulator
    page = await export_asked(pinbot)
    async with http.get(page + "?tg=1") as r:
        shown = html.unescape(await r.text())
        assert r.status == 200 and text(app, "web.title.pin") in shown and 'src="/static/pin.js"' in shown
    body = signed()
    async with http.post(page + "/open", json=body) as r:
        assert await r.json() == {"ok": True, "summary": [text(app, "wallet.export.ask")]}

    since = emulator.mark()
    async with http.post(page, json={"pin": WRONG, **body}) as r:
        assert await r.json() == {"ok": True, "message": text(app, "web.pin.sent")}
    wrong = await emulator.wait_for("sendMessage", to_chat(TG), since=since, timeout=30)
    assert html.unescape(wrong.params["text"]).startswith(text(app, "error.pin.wrong", count=Count(4)))
    assert await pinbot.failures() == 1  # the same counter as a typed PIN: toward the lockout
    again = pinbot.local(pad_of(wrong).removesuffix("?tg=1"))  # asked again, with a new page
    assert again != page
    async with http.post(page, json={"pin": PIN, **body}) as r:  # the first page's question is gone
        assert r.status == 410

    page = again
    since = emulator.mark()
    async with http.post(page, json={"pin": PIN, **signed()}) as r:
        assert (await r.json())["ok"] is True
    shown_key = await emulator.wait_for("sendMessage", to_chat(TG, "0x"), since=since, timeout=30)
    assert text(app, "wallet.export.title") in html.unescape(shown_key.params["text"])
    assert await pinbot.failures() == 0
    assert all(PIN not in json.dumps(c.params) and WRONG not in json.dumps(c.params) for c in emulator.calls)  # never in the chat
    assert PIN not in caplog.text and WRONG not in caplog.text  # nor in a log line


async def test_a_pin_typed_in_the_chat_still_answers_and_closes_the_pad(pinbot: PinBot, http: aiohttp.ClientSession) -> None:
    app, emulator = pinbot.app, pinbot.emulator
    page = await export_asked(pinbot)
    since = emulator.mark()
    emulator.send_text(TG, TG, PIN)
    shown = await emulator.wait_for("sendMessage", to_chat(TG, "0x"), since=since, timeout=30)
    assert text(app, "wallet.export.title") in html.unescape(shown.params["text"])
    async with http.post(page, json={"pin": PIN, **signed()}) as r:  # the pad's question was answered in the chat
        assert r.status == 410 and (await r.json())["message"] == text(app, "prompt.closed")


async def test_pin_is_changed_step_by_step_on_the_pad(pinbot: PinBot, http: aiohttp.ClientSession) -> None:
    """/pin's three questions (the current PIN, the new one, the new one again), each on its own page, which says
    which step it is; the PIN is changed as typed answers would change it."""
    app, emulator = pinbot.app, pinbot.emulator
    new = "482915"
    asked = await pinbot.say("/pin")
    for step, pin in (("pin.ask.current", PIN), ("pin.ask.new", new), ("pin.ask.again", new)):
        page = pinbot.local(pad_of(asked).removesuffix("?tg=1"))
        body = signed()
        async with http.post(page + "/open", json=body) as r:
            said = await r.json()
            assert said["ok"] and said["summary"][0] == text(app, step, min=4, count=Count(8)), said
        since = emulator.mark()
        async with http.post(page, json={"pin": pin, **body}) as r:
            assert (await r.json())["ok"] is True
        asked = await emulator.wait_for("sendMessage", to_chat(TG), since=since, timeout=30)
    assert html.unescape(asked.params["text"]) == text(app, "pin.changed")
    await app.services.pins.check_pin(await pinbot.user_key(), new)  # the new PIN is the PIN now


async def test_an_answer_from_an_old_page_takes_no_newer_question(pinbot: PinBot) -> None:
    """The router takes the question a page was made for, or none: an answer that raced past the page's own check
    (the question asked again meanwhile) changes nothing and says nothing."""
    app, emulator = pinbot.app, pinbot.emulator
    old = (await export_asked(pinbot)).rsplit("/", 1)[1]
    await export_asked(pinbot)
    newer = await app.router.questions.peek(await pinbot.user_key(), str(TG))
    since = emulator.mark()
    typed = Request("telegram", str(TG), str(TG), "private", "en", args=(PIN,), text=PIN, text_length=len(PIN), pin_pad=True,
                    page=old)
    outcome = await pinbot.front.answer_from_page(typed)
    assert outcome.unasked and outcome.reply is not None and outcome.reply.lines == (Msg("prompt.closed"),)
    assert await app.router.questions.peek(await pinbot.user_key(), str(TG)) == newer
    await asyncio.sleep(0.2)
    assert emulator.calls_to("sendMessage", since) == []


# -- the pad in Chromium ---------------------------------------------------------------------------------------


def chromium_missing() -> bool:
    from test_connected_browser import CHROMIUM

    return not CHROMIUM.exists()


@pytest.mark.skipif(chromium_missing(), reason="/usr/bin/chromium is missing: `make test` installs Debian's chromium package")
async def test_a_custodial_withdrawal_is_confirmed_on_the_pin_pad_in_chromium(pinbot: PinBot, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    from devnet.operator import fund
    from test_connected_browser import ARGS, CHROMIUM

    app, emulator = pinbot.app, pinbot.emulator
    address = await app.services.wallets.address_of(await pinbot.user_key())
    assert address is not None
    await fund(app.profile, address, usdc=Decimal(20), eth=Decimal(1))
    assets = await pinbot.say("/withdraw")
    data = next(b["callback_data"] for row in assets.params["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "USDC")
    since = emulator.mark()
    emulator.press(TG, TG, assets.result["message_id"], data)
    await emulator.wait_for("sendMessage", asks_again, since=since, timeout=30)
    await pinbot.answer("5")
    since = emulator.mark()
    summary = await pinbot.answer(TO)
    assert f"to {TO}" in html.unescape(summary.params["text"])
    typed = emulator.calls_to("sendMessage", since)[-1]
    assert typed.params["text"] == html_text(app, "prompt.field.pin")  # the PIN may still be typed in the chat

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            async def tap(url: str, pin: str) -> Any:
                """The pad as Telegram's web_app button opens it, fresh initData; `pin` tapped digit by digit."""
                page = await browser.new_page()
                await page.add_init_script(telegram_web_app(build_init_data(TG, THIS_BOT)) + "window.Telegram.WebApp.close = () => {"
                                           " window.__closed = true; };")
                await page.goto(pinbot.local(url))
                summary_line = text(app, "withdraw.ask.pin")
                await expect(page.locator("#summary")).to_contain_text(summary_line, timeout=10_000)
                assert TO in await page.locator("#summary").inner_text()  # the withdrawal's summary: what, how much, where
                assert await page.locator("input").count() == 0  # no text field: nothing summons a keyboard
                for digit in pin:
                    await page.click(f'[data-digit="{digit}"]')
                await page.click("#delete")
                await page.click(f'[data-digit="{pin[-1]}"]')
                await page.click("#submit")
                await expect(page.locator("#status")).to_have_text(text(app, "web.pin.sent"), timeout=20_000)
                return page

            since = emulator.mark()
            await tap(pad_of(summary), WRONG)
            wrong = await emulator.wait_for("sendMessage", to_chat(TG), since=since, timeout=30)
            assert html.unescape(wrong.params["text"]).startswith(text(app, "error.pin.wrong", count=Count(4)))
            assert await pinbot.failures() == 1  # counted toward the lockout

            since = emulator.mark()
            page = await tap(pad_of(wrong), PIN)
            offer = await emulator.wait_for("sendMessage", to_chat(TG, "Withdraw 5 USDC"), since=since, timeout=30)
            for _ in range(50):  # the Mini App closes itself: the chat goes on (CSP allows no wait_for_function's eval)
                if await page.evaluate("window.__closed === true"):
                    break
                await asyncio.sleep(0.1)
            assert await page.evaluate("window.__closed === true")
        finally:
            await browser.close()

    assert "Withdraw 5 USDC to " + TO in html.unescape(offer.params["text"])
    assert await pinbot.failures() == 0
    confirm = next(b["callback_data"] for row in offer.params["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "Confirm")
    since = emulator.mark()
    emulator.press(TG, TG, offer.result["message_id"], confirm)
    await emulator.wait_for("editMessageText", lambda c: "sent 5 USDC" in str(c.params.get("text")), since=since, timeout=60)
    assert await token_balance(app, app.profile.usdc.address, TO) == 5 * 10**6
    assert all(PIN not in json.dumps(c.params) and WRONG not in json.dumps(c.params) for c in emulator.calls)
