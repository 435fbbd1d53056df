"""Unprompted messages and edits through the front ends: in the user's language, with their own buttons."""

import asyncio


from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from conftest import JOURNEY_LIMITS
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from telegram_emulator import BotApiEmulator






async def first_contact(app: App, emulator: BotApiEmulator, user: int, language: str) -> int:
    """The user talks to the bot once (so it knows them and their language); returns their user key."""
    since = emulator.mark()
    emulator.send_text(user, user, "/help", language_code=language)
    await emulator.wait_for("sendMessage", lambda c: c.chat_id == user, since=since)
    row = await app.services.users.seen("telegram", str(user), platform_locale=language)
    return row.id


async def test_notice_in_the_users_language_with_buttons_only_they_can_press(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    pressed: list[tuple[int, str | None]] = []

    async def claim(caller: Caller, args: tuple[str, ...]) -> Reply:
        pressed.append((caller.user_key, caller.request.message_ref))
        return Reply.of(Msg("help.title"))

    app.router.action("test.claim", claim)
    user = await first_contact(app, emulator, 3001, "zh-hans")
    since = emulator.mark()
    ref = await app.notices.tell(user, "telegram", "3001", Reply.of(Msg("help.title"), buttons=((Button(Msg("button.refresh"), "test.claim"),),)))
    [sent] = emulator.calls_to("sendMessage", since)
    assert sent.params["text"] == "命令" and ref == str(sent.result["message_id"])
    [[button]] = sent.params["reply_markup"]["inline_keyboard"]
    assert button["text"] == "刷新"
    emulator.press(4444, 3001, sent.result["message_id"], button["callback_data"])  # someone else
    await emulator.wait_for("answerCallbackQuery", since=since)
    emulator.press(3001, 3001, sent.result["message_id"], button["callback_data"])
    await emulator.wait_for("sendMessage", lambda c: c.chat_id == 3001, since=emulator.mark() - 1)
    assert pressed == [(user, ref)]  # only the owner's press ran, and it knew which message it was on


async def test_notice_edits_a_message_in_place(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    user = await first_contact(app, emulator, 3002, "en")
    ref = await app.notices.tell(user, "telegram", "3002", Reply.of(Msg("help.title")))
    assert ref is not None
    since = emulator.mark()
    again = await app.notices.tell(user, "telegram", "3002", Reply.of(Msg("lang.set", {"language": "x"})), edit_ref=ref)
    [edit] = emulator.calls_to("editMessageText", since)
    assert again == ref and int(edit.params["message_id"]) == int(ref) and edit.params["text"] == "Language set to x."
    assert emulator.calls_to("sendMessage", since) == []


async def test_notice_for_a_platform_that_is_not_running_is_not_sent(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    user = await first_contact(app, emulator, 3003, "en")
    since = emulator.mark()
    assert await app.notices.tell(user, "discord", "3003", Reply.of(Msg("help.title"))) is None
    assert emulator.calls_to("sendMessage", since) == []


async def test_reply_deleted_after_its_time(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    async def secret(caller: Caller) -> Reply:
        return Reply.of(Msg("help.title"), delete_after=1)

    app.router.command("testsecret", secret)
    await telegram.stop()  # handlers are bound when the front end starts
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    try:
        since = emulator.mark()
        emulator.send_text(3004, 3004, "/testsecret")
        sent = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 3004, since=since)
        assert emulator.calls_to("deleteMessage", since) == []  # not before its time
        deleted = await emulator.wait_for("deleteMessage", since=since, timeout=5)
        assert int(deleted.params["message_id"]) == sent.result["message_id"]
        for _ in range(50):
            if not await app.services.deletions.of("telegram"):
                break
            await asyncio.sleep(0.02)
        assert await app.services.deletions.of("telegram") == []  # the promise is kept, and so forgotten
    finally:
        await front.stop()
    await asyncio.sleep(0)


async def test_times_in_notices_are_shown_in_the_readers_zone(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    from bot.core.messages import When

    user = await first_contact(app, emulator, 3006, "en")
    await app.services.settings.set_timezone(user, "Asia/Shanghai")
    since = emulator.mark()
    noon_utc = 1_767_268_800  # 2026-01-01 12:00 UTC = 20:00 in Shanghai
    await app.notices.tell(user, "telegram", "3006", Reply.of(Msg("timezone.set", {"zone": "x", "now": When(noon_utc)})))
    [sent] = emulator.calls_to("sendMessage", since)
    assert "Jan 1, 2026, 8:00\u202fPM Asia/Shanghai" in sent.params["text"]  # to the minute, in their zone
