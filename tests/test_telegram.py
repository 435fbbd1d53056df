"""The Telegram adapter through real python-telegram-bot, over HTTP, against a local Bot API emulator.

Each test starts the real bot (`app`: devnet chain, fresh SQLite) and a `TelegramFrontend` polling the
emulator, injects updates as Telegram would deliver them, and asserts on the Bot API calls the bot made and
on stored state.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.frontends.adapters.telegram import CONCURRENT_UPDATES, TelegramFrontend, TelegramMarkup, button_token, plain_text
from bot.app import App
from bot.core.messages import Count, Msg, Rendered, RenderedButton, Reply
from bot.core.request import Caller
from bot.core.router import BUTTON_TTL_SECONDS, MAX_MESSAGE_CHARS
from devnet import operator
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator, Call  # tests/ is on sys.path (rootdir conftest)
from auxil.catalog import html_text as text  # as the adapter renders it
from auxil.telegram import ask, press_and_wait_edit, to_chat

CALLBACK_DATA = re.compile(r"^b:[A-Za-z0-9_-]+$")
QUIET = 0.3  # how long to watch for a message that must not come






def callback_data(call: Call) -> list[str]:
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


# -- pure conversion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "token"),
    [
        ("b:AbC_9-x", "AbC_9-x"),
        ("b:", None),
        ("b:nonsense!", None),
        ("junk", None),
        ("x:AbC", None),
        ("b:" + "A" * 62, "A" * 62),  # 64 bytes: the limit
        ("b:" + "A" * 63, None),  # 65 bytes
        ("b:" + "A" * 61 + "é", None),  # 64 characters, 65 bytes
        (None, None),
    ],
)
def test_button_token_accepts_only_our_shape(data: str | None, token: str | None) -> None:
    assert button_token(data) == token


def test_markup_escapes_and_styles() -> None:
    m = TelegramMarkup()
    assert m.escape("<b>&") == "&lt;b&gt;&amp;"
    assert m.style("title", "T") == "<b>T</b>"
    assert m.style("code", "c") == "<code>c</code>"
    assert m.style("text", "t") == "t"
    assert plain_text("<b>A &amp; B</b> &lt;x&gt;") == "A & B <x>"


# -- through python-telegram-bot and the emulator ----------------------------------------------------------


async def test_quote_in_private_chat(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    sent = await ask(emulator, 1001, 1001, "/quote MAG7.ssi 100")
    body = sent.params["text"]
    assert sent.params["parse_mode"] == "HTML"
    assert "<b>" + text(app, "quote.buy.title", index="MAG7.ssi") + "</b>" in body
    nav = re.search(r"^Price: \$[\d,.]+ per token \(NAV \$([\d,.]+)\)$", body, re.MULTILINE)
    assert nav is not None and float(nav.group(1).replace(",", "")) > 0, body
    block = int(re.search(r"Computed at block (\d+)\.", body).group(1))  # type: ignore[union-attr]
    assert block == await app.chain.block_number()
    [data] = callback_data(sent)
    assert CALLBACK_DATA.match(data) and len(data.encode()) <= 64
    assert sent.params["reply_markup"]["inline_keyboard"][0][0]["text"] == app.services.catalogs.text("button.refresh", "en")
    row = await app.router.buttons.get(data[2:])
    user = await app.services.users.seen("telegram", "1001")
    assert row is not None and row.action == "quote.show" and row.user_id == user.id
    assert "reply_parameters" not in sent.params  # private chats get a plain message, not a quote-reply


async def test_user_input_is_html_escaped(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    sent = await ask(emulator, 1002, 1002, "/quote <b>x</b>")
    assert "&lt;b&gt;x&lt;/b&gt;" in sent.params["text"]
    assert "<b>x</b>" not in sent.params["text"]
    assert sent.params["text"].startswith(text(app, "error.index.unknown", value="<b>x</b>", valid=app.services.index_list())[:20])


async def test_press_by_owner_refreshes_the_quote_in_place(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    first = await ask(emulator, 1003, 1003, "/quote MAG7.ssi 100")
    [data] = callback_data(first)
    since = emulator.mark()
    emulator.press(1003, 1003, first.result["message_id"], data)
    answer = await emulator.wait_for("answerCallbackQuery", since=since)
    again = await emulator.wait_for("editMessageText", since=since)
    assert int(again.params["message_id"]) == first.result["message_id"] and not emulator.calls_to("sendMessage", since)
    assert "show_alert" not in answer.params and "text" not in answer.params
    assert text(app, "quote.buy.title", index="MAG7.ssi") in again.params["text"]
    [new_data] = callback_data(again)
    assert new_data != data and CALLBACK_DATA.match(new_data)


async def test_press_by_someone_else_is_refused_privately(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    group = -100200
    first = await ask(emulator, 2001, group, "/start", chat_type="supergroup")  # not personal: answered in the group
    assert first.params["reply_parameters"]["message_id"] == emulator.injected[max(emulator.injected)]["message"]["message_id"]
    data = callback_data(first)[0]
    since = emulator.mark()
    emulator.press(2002, group, first.result["message_id"], data)
    answer = await emulator.wait_for("answerCallbackQuery", since=since)
    assert answer.params["show_alert"] == "true"
    assert answer.params["text"] == app.services.catalogs.text("error.button.not_yours", "en")
    await asyncio.sleep(QUIET)
    assert emulator.calls_to("sendMessage", since) == [] and emulator.calls_to("editMessageText", since) == []


@pytest.mark.parametrize("data", ["b:nonsense", "junk", "b:" + "A" * 70, "b:../../x", ""])
async def test_forged_callback_data_is_refused(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, data: str) -> None:
    first = await ask(emulator, 1004, 1004, "/help")
    since = emulator.mark()
    emulator.press(1004, 1004, first.result["message_id"], data)
    answer = await emulator.wait_for("answerCallbackQuery", since=since)
    assert answer.params["show_alert"] == "true"
    assert answer.params["text"] == app.services.catalogs.text("error.button.expired", "en")
    await asyncio.sleep(QUIET)
    assert emulator.calls_to("sendMessage", since) == []
    still = await ask(emulator, 1004, 1004, "/help")  # the update loop survived
    assert text(app, "help.title") in still.params["text"]


async def test_edit_reply_edits_the_pressed_message(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    async def edited(caller: Caller, args: tuple[str, ...]) -> Reply:
        return Reply.of(Msg("lang.set", {"language": "<edited>"}), edit=True)

    app.router.action("test.edit", edited)
    first = await ask(emulator, 1005, 1005, "/help")
    user = await app.services.users.seen("telegram", "1005")
    [token] = await app.router.buttons.issue(user.id, [("test.edit", ())], BUTTON_TTL_SECONDS)
    since = emulator.mark()
    emulator.press(1005, 1005, first.result["message_id"], "b:" + token)
    edit = await emulator.wait_for("editMessageText", since=since)
    assert int(edit.params["message_id"]) == first.result["message_id"] and edit.chat_id == 1005
    assert edit.params["text"] == text(app, "lang.set", language="<edited>")
    assert emulator.calls_to("answerCallbackQuery", since)
    await asyncio.sleep(QUIET)
    assert emulator.calls_to("sendMessage", since) == []


async def test_language_from_telegram_and_lang_command(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    zh = await ask(emulator, 1006, 1006, "/help", language_code="zh-hans")
    assert text(app, "help.title", "zh_CN") in zh.params["text"]
    assert text(app, "help.title", "zh_CN") != text(app, "help.title", "en")
    switched = await ask(emulator, 1006, 1006, "/lang en", language_code="zh-hans")
    assert switched.params["text"] == text(app, "lang.set", language="English")
    assert (await app.services.users.seen("telegram", "1006")).locale == "en"
    en = await ask(emulator, 1006, 1006, "/help", language_code="zh-hans")
    assert text(app, "help.title") in en.params["text"]


async def test_command_menus_are_localized(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """One menu per language of the locales/ folders (every language at 8 in tests/test_i18n_platforms.py)."""
    catalogs = app.services.catalogs
    languages = {catalogs.language(code) for code in catalogs.locales} - {"en"}
    assert "zh" in languages and set(emulator.commands) == {"", *languages}
    everyone = [name for name, cmd in app.router.commands.items() if not cmd.moderator]  # moderators': tests/test_telegram_groups.py
    for language in languages:
        expected = [{"command": name, "description": catalogs.text(f"cmd.{name}", catalogs.negotiate(language))}
                    for name in everyone]
        assert emulator.commands[language] == expected and expected != emulator.commands[""]
    assert emulator.commands[""] == [{"command": n, "description": catalogs.text(f"cmd.{n}", "en")} for n in everyone]
    menus = 2 + len(app.services.announcements.config.telegram_moderators)  # everyone's, administrators', each moderator's
    assert len(emulator.calls_to("setMyCommands")) == (len(languages) + 1) * menus


async def test_group_text_is_ignored_private_text_is_answered(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    group = -100300
    since = emulator.mark()
    emulator.send_text(3001, group, "hello everyone", chat_type="group")
    emulator.send_text(3001, group, "/nosuchcommand", chat_type="group")
    reply = await ask(emulator, 3001, group, "/help", chat_type="group")
    await asyncio.sleep(QUIET)
    assert [c.params["text"] for c in emulator.calls_to("sendMessage", since)] == [reply.params["text"]]
    private = await ask(emulator, 3001, 3001, "hello")  # plain text in a private chat: the home screen
    assert text(app, "home.body") in private.params["text"] and private.params["reply_markup"]["inline_keyboard"]


async def test_oversized_message_is_refused(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    line = "/quote MAG7.ssi " + "1" * (4000 - len("/quote MAG7.ssi "))
    assert len(line) == 4000
    sent = await ask(emulator, 1007, 1007, line)
    assert sent.params["text"] == text(app, "error.message.too_long", count=Count(MAX_MESSAGE_CHARS))


async def test_notify_sends_html_buttons_and_photos(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    since = emulator.mark()
    await telegram.deliver("1008", Rendered("<b>hi</b>", ((RenderedButton("Go", "tok_1"),),)))
    [sent] = emulator.calls_to("sendMessage", since)
    assert sent.chat_id == 1008 and sent.params["parse_mode"] == "HTML" and callback_data(sent) == ["b:tok_1"]
    await telegram.deliver("1008", Rendered("caption", image=b"\x89PNG fake"))
    [photo] = emulator.calls_to("sendPhoto", since)
    assert photo.params["photo"] == b"\x89PNG fake" and photo.params["caption"] == "caption"


async def test_link_messages_disable_link_previews(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Telegram's preview fetcher opens a link as soon as it is posted, before the user: every message and edit
    that carries a link (a /connect link, a signing link edited into a quote) asks for no preview."""
    sent = await ask(emulator, 1011, 1011, "/connect")
    assert re.search(r"http://127\.0\.0\.1:\d+/connect/", sent.params["text"]), sent.params["text"]
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    since = emulator.mark()
    url = "http://127.0.0.1:1/sign/" + "A" * 43
    await telegram.deliver("1011", Rendered(text(app, "trade.sign.link", url=url, expires="soon")), str(sent.result["message_id"]))
    [edit] = emulator.calls_to("editMessageText", since)
    assert url in edit.params["text"] and edit.params["link_preview_options"] == {"is_disabled": True}


async def test_blocked_user_is_logged_not_raised(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, caplog: pytest.LogCaptureFixture) -> None:
    emulator.block(1009)
    with caplog.at_level("INFO", logger="bot.frontends.adapters.telegram"):
        await telegram.deliver("1009", Rendered("hi"))
    assert emulator.calls_to("sendMessage")[-1].result["error_code"] == 403
    assert "blocked" in caplog.text
    emulator.blocked.clear()
    reply = await ask(emulator, 1009, 1009, "/help")  # polling and handlers still run
    assert text(app, "help.title") in reply.params["text"]


async def test_flood_control_retry_after_is_honoured(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    emulator.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    since = emulator.mark()
    await telegram.deliver("1010", Rendered("hi"))
    first, second = emulator.calls_to("sendMessage", since)
    assert first.result["error_code"] == 429 and second.result["text"] == "hi"
    assert second.at - first.at >= 0.95


def test_concurrency_is_bounded() -> None:
    assert 1 < CONCURRENT_UPDATES <= 256  # PTB's default HTTP pool is 256 connections


async def test_failure_outside_the_router_is_answered_generically(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("storage down")

    monkeypatch.setattr(telegram.router, "handle", broken)
    sent = await ask(emulator, 1011, 1011, "/help", language_code="zh-CN")
    assert sent.params["text"] == text(app, "error.internal", "zh_CN")
    since = emulator.mark()
    emulator.press(1011, 1011, sent.result["message_id"], "b:whatever")
    answer = await emulator.wait_for("answerCallbackQuery", since=since)
    assert answer.params["show_alert"] == "true" and answer.params["text"] == app.services.catalogs.text("error.internal", "zh_CN")
    monkeypatch.undo()
    reply = await ask(emulator, 1011, 1011, "/help", language_code="zh-CN")
    assert text(app, "help.title", "zh_CN") in reply.params["text"]


# -- a new user's whole journey: wallet, funds, buy, sell, PIN, export ---------------------------------------


async def test_new_user_journey_on_telegram(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    user = 7701
    created = await ask(emulator, user, user, "/wallet new")
    assert text(app, "wallet.created") in created.params["text"]
    assert "/pin &lt;4 to 8 digits&gt;" in created.params["text"]  # it asks for a PIN first
    since = emulator.mark()
    emulator.send_text(user, user, "/pin 4821")
    pin_set = await emulator.wait_for("sendMessage", to_chat(user), since=since)
    said = text(app, "secret.deleted", secret=Msg("secret.noun.pin"))
    assert pin_set.params["text"] == said + "\n" + text(app, "pin.set")  # and the reply says so
    assert emulator.calls_to("deleteMessage", since), "the message carrying the PIN was not deleted"
    funded = await ask(emulator, user, user, "/faucet")
    assert "10,000 USDC" in funded.params["text"]

    quote = await ask(emulator, user, user, "/buy MAG7.ssi 100")
    bought = await press_and_wait_edit(emulator, user, quote, "Confirm")
    assert bought.params["text"].startswith("Confirmed in block") and "for 100 USDC" in bought.params["text"]

    quote = await ask(emulator, user, user, "/sell MAG7.ssi 0.5")
    sold = await press_and_wait_edit(emulator, user, quote, "Confirm")
    assert sold.params["text"].startswith("Confirmed in block") and "0.5 MAG7.ssi" in sold.params["text"]

    exported = await ask(emulator, user, user, "/wallet export 4821")
    assert text(app, "wallet.export.title") in exported.params["text"]
    assert re.search(r"0x[0-9a-f]{64}", exported.params["text"])
    expected = (user, exported.result["message_id"])
    timed = lambda: [(int(p.chat_id), int(p.message_id)) for p in telegram.expiry.pending]  # noqa: E731
    for _ in range(50):  # the adapter schedules the deletion once Telegram has answered the send
        if expected in timed():
            break
        await asyncio.sleep(0.02)
    assert expected in timed()  # to be deleted after 60 s
    assert not [c for c in emulator.calls_to("deleteMessage") if int(c.params["message_id"]) == expected[1]]
    await telegram.stop()  # stopping early deletes it at once rather than leaving a key behind
    assert any(int(c.params["message_id"]) == exported.result["message_id"] for c in emulator.calls_to("deleteMessage"))


async def test_staking_journey_on_telegram(app: App, chain: Devnet, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Stake, unstake, a second unstake that restarts the cooldown (its own button), wait it out, claim."""
    user = 7702
    await ask(emulator, user, user, "/wallet new")
    await ask(emulator, user, user, "/pin 4821")  # the next step /wallet new asks for
    await ask(emulator, user, user, "/faucet")
    await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/buy MAG7.ssi 100"), "Confirm")

    staked = await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/stake MAG7 0.5"), "Confirm")
    assert staked.params["text"].startswith("Confirmed in block") and "staked 0.5 MAG7.ssi" in staked.params["text"]
    first = await ask(emulator, user, user, "/unstake MAG7 0.2")
    assert "Warning" not in first.params["text"]  # nothing cooling yet: no restart warning
    await press_and_wait_edit(emulator, user, first, "Confirm")

    second = await ask(emulator, user, user, "/unstake MAG7 0.1")
    assert "restarts the cooldown for the whole pending amount (0.3 MAG7.ssi)" in second.params["text"]
    labels = [b["text"] for row in second.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Restart cooldown and unstake", "Cancel"]  # no plain Confirm
    await press_and_wait_edit(emulator, user, second, "Restart cooldown and unstake")

    boost = await ask(emulator, user, user, "/boost add 100")
    assert "Your boost: no level → level" in boost.params["text"]
    boosted = await press_and_wait_edit(emulator, user, boost, "Confirm")
    assert "Staked now: 100 sSOSO" in boosted.params["text"]
    shown = (await ask(emulator, user, user, "/boost")).params["text"]
    assert "SOSO staked:\n  100\n" in shown and "Level " in shown

    early = await ask(emulator, user, user, "/claim MAG7")
    assert early.params["text"].startswith("0.3 MAG7.ssi is still cooling down") and "Nothing was sent" in early.params["text"]
    assert not early.params.get("reply_markup")  # nothing to confirm
    await operator.advance(chain.url, 8 * 24 * 3600)  # past the devnet's 7-day cooldown
    await app.head.poll_once()
    claimed = await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/claim MAG7"), "Confirm")
    assert claimed.params["text"].startswith("Confirmed in block") and "claimed 0.3 MAG7.ssi" in claimed.params["text"]


async def test_invite_link_names_the_bot_and_a_friend_joins_through_it(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    points = app.services.points
    assert points is not None
    inviter, friend = 7811, 7812
    invite = await ask(emulator, inviter, inviter, "/invite")
    code = await points.referrals.code_of((await app.services.users.seen("telegram", str(inviter))).id)
    link = f"https://t.me/{emulator.me['username']}?start=ref_{code}"
    assert text(app, "invite.link.telegram", link=link) in invite.params["text"]
    assert text(app, "invite.both") in invite.params["text"]

    welcome = await ask(emulator, friend, friend, f"/start ref_{code}")  # what opening the link sends
    assert text(app, "start.ref.joined", bonus=points.config.welcome_bonus) in welcome.params["text"]
    assert text(app, "start.body", indexes=app.services.all_index_list()) in welcome.params["text"]
    friend_id = (await app.services.users.seen("telegram", str(friend))).id
    assert await points.referrals.referrer_of(friend_id) == (await app.services.users.seen("telegram", str(inviter))).id
