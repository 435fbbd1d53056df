"""Issue 15, "one user cannot slow everyone; every outcome is told", through real python-telegram-bot against
the local Bot API emulator: one chat's updates in order while chats run concurrently, a press answered before
its work, an outcome never lost to a failed edit, presses fetched before a kill handled after the restart.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from bot.core.request import Request
from bot.core.router import Markup, Outcome
from conftest import make_config
from devnet.harness import Devnet
from rpc_proxy import RpcProxy
from telegram_emulator import BotApiEmulator, Call
from auxil.telegram import to_chat

CJK = re.compile(r"[\u4e00-\u9fff]")


async def ask(emulator: BotApiEmulator, user: int, line: str) -> Call:
    """Send `line` in `user`'s private chat; the bot's answer there."""
    since = emulator.mark()
    emulator.send_text(user, user, line)
    return await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)


def press(emulator: BotApiEmulator, user: int, message: Call, label: str) -> None:
    """Press the button labelled `label` on the bot's `message`."""
    rows = message.params["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
    emulator.press(user, user, message.result["message_id"], data)


def edits_of(message: Call) -> Callable[[Call], bool]:
    return lambda call: int(call.params["message_id"]) == message.result["message_id"]


async def funded_quote(emulator: BotApiEmulator, user: int, usdc: int) -> Call:
    """A custodial wallet with its PIN and the faucet's 10,000 USDC, and a /buy quote for `usdc` with its Confirm
    button."""
    await ask(emulator, user, "/wallet new")
    await ask(emulator, user, "/pin 4821")  # no custodial wallet trades before it has a PIN
    await ask(emulator, user, "/faucet")
    return await ask(emulator, user, f"/buy MAG7.ssi {usdc}")


@pytest.fixture
async def slow(chain: Devnet, tmp_path: Path) -> AsyncIterator[tuple[App, RpcProxy, BotApiEmulator]]:
    """The bot on the devnet through an RPC proxy that can be made slow, and its Telegram front end."""
    async with RpcProxy(chain.url) as proxy:
        app = await App.start(make_config(chain, tmp_path, rpc_urls=(proxy.url,)))
        try:
            async with BotApiEmulator() as emulator:
                front = TelegramFrontend(app, emulator.token, emulator.url)
                await front.start()
                app.notices.attach(front)
                try:
                    yield app, proxy, emulator
                finally:
                    await app.notices.detach(front)
                    await front.stop()
        finally:
            await app.stop()


async def test_one_chats_updates_are_handled_in_order(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Issue 15: `/lang zh_CN` followed at once by `/quote` answered the quote in English for 10 of 10 users."""
    users = list(range(7001, 7011))
    since = emulator.mark()
    for user in users:
        emulator.send_text(user, user, "/lang zh_CN")
        emulator.send_text(user, user, "/quote MAG7.ssi 100")
    sent = await emulator.wait_count("sendMessage", 2 * len(users), timeout=60, since=since)
    for user in users:
        switched, quote = [c.params["text"] for c in sent if c.chat_id == user]
        assert CJK.search(switched), switched
        assert "MAG7" in quote and CJK.search(quote), quote


async def test_a_slow_chat_does_not_delay_another(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    slow, quick = 7101, 7102
    handle = telegram.router.handle

    async def slowly(request: Request, markup: Markup) -> Outcome:
        if request.chat_id == str(slow) and request.command == "help":
            await asyncio.sleep(1.5)
        return await handle(request, markup)

    monkeypatch.setattr(telegram.router, "handle", slowly)
    since = emulator.mark()
    emulator.send_text(slow, slow, "/help")
    emulator.send_text(slow, slow, "/lang")
    emulator.send_text(quick, quick, "/help")
    quick_reply = await emulator.wait_for("sendMessage", to_chat(quick), since=since)
    sent = await emulator.wait_count("sendMessage", 3, since=since, timeout=10)
    first, second = [c for c in sent if c.chat_id == slow]
    assert quick_reply.at < first.at - 1.0  # the quick chat did not wait for the slow one
    help_title = app.services.catalogs.text("help.title", "en")
    assert help_title in first.params["text"] and help_title not in second.params["text"]  # the slow chat's order kept


async def test_a_press_is_answered_before_the_trade_runs(slow: tuple[App, RpcProxy, BotApiEmulator]) -> None:
    """Issue 15: a press was answered only after its handler (re-quote, estimates, signing, broadcast): on a slow
    node the button spun, and the answer could come too late for Telegram ("query is too old")."""
    app, proxy, emulator = slow
    user = 7301
    quote = await funded_quote(emulator, user, 100)
    proxy.delay = 0.2
    since, rpc_since = emulator.mark(), len(proxy.seen)
    press(emulator, user, quote, "Confirm")
    done = await emulator.wait_for("editMessageText", edits_of(quote), since=since, timeout=60)
    answer, *_ = emulator.calls_to("answerCallbackQuery", since)
    broadcasts = [at for method, at in proxy.seen[rpc_since:] if method == "eth_sendRawTransaction"]
    assert broadcasts and answer.at < min(broadcasts)
    assert "show_alert" not in answer.params and "text" not in answer.params
    assert done.params["text"].startswith("Confirmed in block")


async def test_a_refusal_found_after_the_answer_is_told_by_an_edit(slow: tuple[App, RpcProxy, BotApiEmulator]) -> None:
    app, proxy, emulator = slow
    user = 7302
    quote = await funded_quote(emulator, user, 6_000)
    other = await ask(emulator, user, "/buy MAG7.ssi 6000")  # confirmed first, it moves the price past the first's
    since = emulator.mark()
    press(emulator, user, other, "Confirm")
    await emulator.wait_for("editMessageText", edits_of(other), since=since, timeout=60)
    proxy.delay = 0.05
    since = emulator.mark()
    press(emulator, user, quote, "Confirm")
    refusal = await emulator.wait_for("editMessageText", edits_of(quote), since=since, timeout=60)
    answer, = emulator.calls_to("answerCallbackQuery", since)
    assert answer.at < refusal.at and "show_alert" not in answer.params
    assert refusal.params["text"].startswith("The price moved beyond your slippage tolerance")
    assert "reply_markup" not in refusal.params  # Confirm is gone with the refusal
    await asyncio.sleep(0.3)
    assert not emulator.calls_to("sendMessage", since)  # told once, in place


@pytest.mark.parametrize(("code", "description"), [(502, "Bad Gateway"), (400, "Bad Request: message to edit not found")])
async def test_a_trade_whose_edit_fails_is_told_in_a_new_message(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, code: int, description: str
) -> None:
    """Issue 15: when the edit showing a trade's outcome failed (a 5xx, a deleted message), the trade went through
    but the quote still showed Confirm and the user was never told."""
    user = 7401 + code
    quote = await funded_quote(emulator, user, 100)
    emulator.fail_next("editMessageText", code, description)
    since = emulator.mark()
    press(emulator, user, quote, "Confirm")
    told = await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=60)
    failed, = emulator.calls_to("editMessageText", since)
    assert failed.result["error_code"] == code
    assert told.params["text"].startswith("Confirmed in block") and "for 100 USDC" in told.params["text"]
    row = await app.db.fetch_one("SELECT id, kind FROM outbox WHERE chat_id = :chat ORDER BY id DESC", {"chat": str(user)})
    assert row is not None and row[1] == "trade"  # stored before it was sent: a restart would not lose it
    delivery = await app.outbox.result(row[0], timeout=5)
    assert delivery is not None and delivery.ok and delivery.ref == str(told.result["message_id"])


async def test_a_double_tap_trades_once_and_keeps_the_outcome_shown(app: App, emulator: BotApiEmulator,
                                                                    telegram: TelegramFrontend) -> None:
    user = 7501
    quote = await funded_quote(emulator, user, 100)
    since = emulator.mark()
    press(emulator, user, quote, "Confirm")
    press(emulator, user, quote, "Confirm")  # fetched before the first one's outcome took the buttons away
    await emulator.wait_count("answerCallbackQuery", 2, since=since, timeout=60)
    await emulator.wait_for("editMessageText", edits_of(quote), since=since, timeout=60)
    await asyncio.sleep(0.5)
    edits = [c for c in emulator.calls_to("editMessageText", since) if edits_of(quote)(c)]
    assert len(edits) == 1 and edits[0].params["text"].startswith("Confirmed in block")
    assert not emulator.calls_to("sendMessage", since)
    row = await app.db.fetch_one("SELECT COUNT(*) FROM intents WHERE user_id = (SELECT id FROM users WHERE platform_user_id = :user) AND state = 'mined'",
                                 {"user": str(user)})
    assert row is not None and row[0] == 1


async def test_a_press_fetched_before_a_kill_is_handled_after_the_restart(app: App, emulator: BotApiEmulator,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: a press Telegram delivered (and the next getUpdates acknowledged) but the bot had not handled when
    it was killed was lost: the button never answered, the trade never ran, the user never told."""
    user = 7601
    first = TelegramFrontend(app, emulator.token, emulator.url)
    await first.start()
    app.notices.attach(first)
    quote = await funded_quote(emulator, user, 100)
    stuck = asyncio.Event()

    async def killed_meanwhile(request: Request, markup: Markup) -> Outcome:
        stuck.set()
        await asyncio.Event().wait()  # the process dies here
        raise AssertionError("unreachable")

    monkeypatch.setattr(first.router, "handle", killed_meanwhile)
    since = emulator.mark()
    press(emulator, user, quote, "Confirm")
    await asyncio.wait_for(stuck.wait(), 10)
    pressed = max(emulator.injected)
    for _ in range(250):  # the next long poll acknowledges it (recorded when it arrives, answered later)
        if any(int(c.params.get("offset") or 0) > pressed for c in emulator.calls_to("getUpdates", since)):
            break
        await asyncio.sleep(0.02)
    assert any(int(c.params.get("offset") or 0) > pressed for c in emulator.calls_to("getUpdates", since))
    stored = await app.db.fetch_all("SELECT update_id, body FROM telegram_presses")
    assert [row[0] for row in stored] == [pressed]
    assert "MAG7" not in stored[0][1]  # the pressed message's text is not kept
    for task in asyncio.all_tasks():  # the kill: what was running never finishes
        if "process_concurrent_update" in task.get_name():
            task.cancel()
    await app.notices.detach(first)
    await first.stop()
    monkeypatch.undo()
    assert not emulator.calls_to("editMessageText", since)

    restarted = TelegramFrontend(app, emulator.token, emulator.url)
    await restarted.start()
    app.notices.attach(restarted)
    try:
        done = await emulator.wait_for("editMessageText", edits_of(quote), since=since, timeout=60)
        assert done.params["text"].startswith("Confirmed in block")
        assert emulator.calls_to("answerCallbackQuery", since)
        for _ in range(50):
            if not await app.db.fetch_all("SELECT 1 FROM telegram_presses"):
                break
            await asyncio.sleep(0.02)
        assert not await app.db.fetch_all("SELECT 1 FROM telegram_presses")
    finally:
        await app.notices.detach(restarted)
        await restarted.stop()

    # Killed again after the trade but before the press was forgotten: handled a third time, traded once.
    async with app.db.transaction() as tx:
        await tx.execute("INSERT INTO telegram_presses (update_id, body, fetched_at) VALUES (:update_id, :body, 0)",
                         stored[0]._mapping)
    again = TelegramFrontend(app, emulator.token, emulator.url)
    await again.start()
    try:
        for _ in range(250):
            if not await app.db.fetch_all("SELECT 1 FROM telegram_presses"):
                break
            await asyncio.sleep(0.02)
    finally:
        await again.stop()
    trades = await app.db.fetch_all(
        "SELECT state FROM intents WHERE user_id = (SELECT id FROM users WHERE platform_user_id = :user) AND state != 'quoted'",
        {"user": str(user)})
    assert [row[0] for row in trades] == ["mined"]


async def test_in_a_group_one_members_slow_command_does_not_hold_up_another(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, slow, quick = -100_7120, 7121, 7122
    handle = telegram.router.handle

    async def slowly(request: Request, markup: Markup) -> Outcome:
        if request.user_id == str(slow):
            await asyncio.sleep(1.5)
        return await handle(request, markup)

    monkeypatch.setattr(telegram.router, "handle", slowly)
    since = emulator.mark()
    emulator.send_text(slow, group, "/help", chat_type="supergroup")
    emulator.send_text(quick, group, "/help", chat_type="supergroup")
    first, second = await emulator.wait_count("sendMessage", 2, since=since, timeout=10)
    assert second.at - first.at > 1.0  # the quick member was answered first, without waiting for the slow one
    replied_to = [c.params["reply_parameters"]["message_id"] for c in (first, second)]
    assert replied_to[0] > replied_to[1]  # the second command (the quick member's) was answered first
