"""/announce through the router with the app's own database, outbox and catalogs: who may announce (configured
moderators, group admins, server managers and roles), drafts with language variants, the preview, the fan-out
(once per user, resumable), scheduling, status, cancel, and the audit log. Platforms are recording stand-ins
here; tests/test_announce_platforms.py runs the real Telegram and Discord front ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.frontends.adapters.base import PlainMarkup
from bot.delivery.announce.config import AnnounceConfig, AnnounceConfigError, parse_announce
from bot.delivery.announce.service import Announcements, Reach, job_name
from handlers.announce import reached
from bot.delivery.announce.when import parse_when
from bot.app import App
from bot.core.messages import Count, Msg, When
from bot.core.request import Request, Standing, split_command
from bot.core.router import Outcome
from bot.delivery.schedule import LocalSchedule as Schedule  # the embedded default's, with no database of its own
from conftest import make_config
from devnet.harness import Devnet
from auxil.trading import Recorder
from auxil.catalog import text

MOD = "7001"  # a configured Telegram moderator
DISCORD_MOD = "940000000000000009"
ROLE = "950000000000000001"
GROUP = "-100555"
CHANNEL = "920000000000000077"
CONFIG = AnnounceConfig(telegram_moderators=frozenset({MOD}), discord_moderators=frozenset({DISCORD_MOD}),
                        discord_roles=frozenset({ROLE}), telegram_chats=("-100777",), discord_channels=(CHANNEL,))


@pytest.fixture
async def bot(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    app = await App.start(make_config(chain, tmp_path, announce=CONFIG))
    try:
        yield app
    finally:
        await app.stop()


def standing(admin: bool = False, roles: frozenset[str] = frozenset()) -> Any:
    async def check() -> Standing:
        return Standing(admin, roles)
    return check


def request(text: str, user: str = MOD, *, platform: str = "telegram", chat: str | None = None, locale: str = "en",
            admin: bool | None = None, roles: frozenset[str] = frozenset(), token: str | None = None) -> Request:
    """A request as an adapter makes it: in the user's private chat, or in group `chat` with their standing."""
    command, args = split_command(text) if token is None else (None, ())
    group = chat is not None
    community = (chat if platform == "telegram" else "910000000000000001") if group else None
    return Request(platform, user, chat or f"dm{user}", "group" if group else "private", locale,  # type: ignore[arg-type]
                   command=command, args=args, text_length=len(text), button_token=token, community=community,
                   standing=standing(bool(admin), roles) if group and admin is not None else None)


async def say(app: App, text: str, user: str = MOD, **kw: Any) -> Outcome:
    return await app.router.handle(request(text, user, **kw), PlainMarkup())


async def press(app: App, outcome: Outcome, label: str, user: str = MOD, **kw: Any) -> Outcome:
    token = next(b.token for row in outcome.rendered.buttons for b in row if b.label == label)
    return await app.router.handle(request("", user, token=token, **kw), PlainMarkup())


def service(app: App) -> Announcements:
    assert app.services.announcements is not None
    return app.services.announcements


async def rows(app: App, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await app.db.fetch_all(sql)]


async def subscribers(app: App) -> None:
    """Four users who wrote privately: the moderator, a Chinese reader, an English one (Telegram), and one on
    Discord; plus one who switched announcements off."""
    await say(app, "/help", MOD)
    await say(app, "/help", "7002", locale="zh-hans")
    await say(app, "/help", "7003")
    await say(app, "/help", "940000000000000005", platform="discord", locale="en-US")
    await say(app, "/help", "7004")
    off = await rows(app, "SELECT id FROM users WHERE platform_user_id = '7004'")
    async with app.db.transaction() as tx:
        await tx.execute("INSERT INTO alert_settings (user_id, announcement) VALUES (:user, 0)", {"user": off[0][0]})


def platforms(app: App) -> tuple[Recorder, Recorder]:
    telegram, discord = Recorder(name="telegram"), Recorder(name="discord")
    app.notices.attach(telegram)
    app.notices.attach(discord)
    return telegram, discord


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# -- pure parts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moderators", "announce", "problem"),
    [
        ({"telegram": "7001"}, {}, "must be a list"),
        ({"telegram": ["abc"]}, {}, "not a numeric id"),
        ({"telegram": [True]}, {}, "not a numeric id"),
        ({"telegram": ["١٢"]}, {}, "not a numeric id"),  # only ASCII digits are ids: int() would take it for 12
        ({"discord_roles": ["９５０"]}, {}, "not a numeric id"),
        ({"admins": [1]}, {}, "unknown keys"),
        ({}, {"telegram_chats": [-1.5]}, "not a numeric id"),
        ({}, {"channels": [1]}, "unknown keys"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(moderators: dict[str, Any], announce: dict[str, Any], problem: str) -> None:
    with pytest.raises(AnnounceConfigError, match=problem):
        parse_announce(moderators, announce)


def test_configuration_reads_ids_of_both_platforms() -> None:
    config = parse_announce({"telegram": [7001], "discord": ["940000000000000009"], "discord_roles": [5]},
                            {"telegram_chats": [-100777], "discord_channels": [920000000000000077]})
    assert config.is_moderator("telegram", "7001") and not config.is_moderator("discord", "7001")
    assert config.is_moderator("discord", "940000000000000009")
    assert config.chats == [("telegram", "-100777"), ("discord", "920000000000000077")]
    assert config.discord_roles == frozenset({"5"})


NOON = 1767268800  # 2026-01-01 12:00 UTC


@pytest.mark.parametrize(
    ("words", "zone", "expected"),
    [
        (("18:30",), "UTC", NOON + 6 * 3600 + 1800),
        (("11:00",), "UTC", NOON + 23 * 3600),  # passed today: tomorrow
        (("20:00",), "Asia/Shanghai", NOON + 24 * 3600),  # 20:00 in Shanghai is 12:00 UTC: just passed, tomorrow
        (("2026-01-02", "08:15"), "UTC", NOON + 20 * 3600 + 900),
        (("2025-12-31", "08:00"), "UTC", NOON - 28 * 3600),  # in the past: returned, refused by the caller
        (("24:00",), "UTC", None),
        (("7pm",), "UTC", None),
        (("2026-02-30", "10:00"), "UTC", None),
        (("2026-01-02",), "UTC", None),
        (("18:30", "extra"), "UTC", None),
        ((), "UTC", None),
    ],
)
def test_times_are_read_in_the_moderators_zone(words: tuple[str, ...], zone: str, expected: int | None) -> None:
    assert parse_when(words, zone, NOON) == expected


# -- who may announce ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "kw"),
    [
        ("7009", {}),  # private chat, not configured
        ("7009", {"chat": GROUP, "admin": False}),  # a member of the group
        ("7009", {"chat": GROUP}),  # a group whose adapter gave no standing
        ("940000000000000008", {"platform": "discord", "chat": CHANNEL, "admin": False, "roles": frozenset({"1"})}),
        ("940000000000000008", {"platform": "discord"}),  # a Discord DM: no server to manage
        (MOD, {"platform": "discord"}),  # the Telegram moderator's id means nothing on Discord
    ],
)
async def test_everyone_else_is_refused_politely_and_audited(bot: App, user: str, kw: dict[str, Any]) -> None:
    outcome = await say(bot, "/announce Free tokens!", user, **kw)
    assert outcome.rendered.text == text(bot, "announce.refused")
    assert await rows(bot, "SELECT COUNT(*) FROM announcements") == [(0,)]
    trail = await service(bot).rows.audit_trail()
    assert [(action, detail["user"], detail["what"]) for _, action, detail in trail] == [("announce.refused", user, "Free tokens!")]
    assert trail[0][2]["chat"] == (kw.get("chat") or f"dm{user}")
    assert trail[0][0] is not None  # the user's row id


async def test_rights_are_asked_on_every_use(bot: App) -> None:
    asked: list[bool] = []
    answers = iter([True, False])

    async def check() -> Standing:
        asked.append(True)
        return Standing(admin=next(answers))

    base = request("/announce Hi group", "7009", chat=GROUP)
    first = await bot.router.handle(Request(**{**base.__dict__, "standing": check}), PlainMarkup())
    assert text(bot, "announce.preview.title", id=1) in first.rendered.text
    token = first.rendered.buttons[0][0].token
    pressed = await bot.router.handle(Request(**{**request("", "7009", chat=GROUP, token=token).__dict__, "standing": check}), PlainMarkup())
    assert pressed.rendered.text == text(bot, "announce.refused")  # no longer an admin when pressing Send
    assert len(asked) == 2
    assert await rows(bot, "SELECT state FROM announcements") == [("draft",)]


async def test_a_discord_role_or_manage_server_moderates_its_own_server(bot: App) -> None:
    by_role = await say(bot, "/announce Server news", "940000000000000008", platform="discord", chat=CHANNEL, admin=False,
                        roles=frozenset({ROLE, "3"}))
    assert text(bot, "announce.preview.title", id=1) in by_role.rendered.text
    by_permission = await say(bot, "/announce More news", "940000000000000007", platform="discord", chat=CHANNEL, admin=True)
    assert text(bot, "announce.preview.title", id=2) in by_permission.rendered.text
    assert await rows(bot, "SELECT scope, origin_chat FROM announcements ORDER BY id") == [
        ("discord:910000000000000001", CHANNEL), ("discord:910000000000000001", CHANNEL)]


# -- bad input changes nothing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "params"),
    [
        ("/announce", "error.announce.usage", {"usage": Msg("usage.announce")}),
        ("/announce zh_CN", "error.announce.variant_text", {"language": "zh_CN", "usage": Msg("usage.announce")}),
        ("/announce zh-cn 你好", "error.announce.no_draft", {}),
        ("/announce at 25:00", "error.announce.time", {"value": "25:00", "zone": "UTC"}),
        ("/announce at tomorrow", "error.announce.time", {"value": "tomorrow", "zone": "UTC"}),
        ("/announce at 18:00", "error.announce.no_draft", {}),
        ("/announce status", "error.announce.none", {}),
        ("/announce status x1", "error.announce.id", {"value": "x1"}),
        ("/announce status 1 2", "error.args.extra", {"usage": Msg("usage.announce")}),
        ("/announce status 99", "error.announce.not_found", {"id": 99}),
        ("/announce cancel 99", "error.announce.not_found", {"id": 99}),
        ("/announce cancel", "error.announce.none", {}),
    ],
)
async def test_bad_input_says_what_is_valid_and_changes_nothing(bot: App, line: str, key: str, params: dict[str, Any]) -> None:
    outcome = await say(bot, line)
    assert outcome.rendered.text == bot.services.catalogs.render_msg(Msg(key, params), "en", str)
    assert await rows(bot, "SELECT COUNT(*) FROM announcements") == [(0,)]
    assert await rows(bot, "SELECT COUNT(*) FROM outbox") == [(0,)]


async def test_a_time_in_the_past_is_refused_and_the_draft_stays(bot: App) -> None:
    await say(bot, "/announce Soon")
    outcome = await say(bot, "/announce at 2020-01-01 10:00")
    assert outcome.rendered.text == text(bot, "error.announce.past", when=When(1577872800))  # 2020-01-01 10:00 UTC
    assert await rows(bot, "SELECT state, send_at FROM announcements") == [("draft", None)]
    assert service(bot).schedule.names("announce:") == []


async def test_a_community_admin_cannot_manage_everyones_announcement(bot: App) -> None:
    await say(bot, "/announce For all")  # the configured moderator's, id 1
    outcome = await say(bot, "/announce cancel 1", "7009", chat=GROUP, admin=True)
    assert outcome.rendered.text == text(bot, "error.announce.not_found", id=1)
    assert await rows(bot, "SELECT state FROM announcements") == [("draft",)]


# -- drafting, preview, sending -----------------------------------------------------------------------------


async def test_preview_shows_each_language_and_the_send_reaches_everyone_in_their_language(bot: App) -> None:
    await subscribers(bot)
    telegram, discord = platforms(bot)
    await say(bot, "/announce Maintenance at <b>noon</b>")
    preview = await say(bot, "/announce zh_CN 中午维护")
    shown = preview.rendered.text
    assert text(bot, "announce.preview.variant", language="English", header=text(bot, "announce.header"),
                text="Maintenance at <b>noon</b>") in shown
    assert text(bot, "announce.preview.variant", language=bot.services.catalogs.language_name("zh_CN"),
                header=text(bot, "announce.header", "zh_CN"), text="中午维护") in shown
    assert text(bot, "announce.preview.reach", **reached(Reach(4, 2))) in shown  # 7004 switched announcements off
    assert [b.label for b in preview.rendered.buttons[0]] == [text(bot, "button.announce_send"), text(bot, "button.cancel")]

    sent = await press(bot, preview, text(bot, "button.announce_send"))
    assert sent.rendered.text == text(bot, "announce.sending", id=1, **reached(Reach(4, 2)))
    assert sent.rendered.edit
    await until(lambda: len(telegram.sent) == 4 and len(discord.sent) == 2)
    got = {chat: body for chat, body, _ in telegram.sent + discord.sent}
    english = f"{text(bot, 'announce.header')}\nMaintenance at <b>noon</b>"
    assert got == {
        f"dm{MOD}": english,
        "dm7002": f"{text(bot, 'announce.header', 'zh_CN')}\n中午维护",
        "dm7003": english,
        "dm940000000000000005": english,
        "-100777": english,
        CHANNEL: english,
    }
    assert await rows(bot, "SELECT state FROM announcements") == [("done",)]
    again = await press(bot, preview, text(bot, "button.announce_send"))  # a second press sends nothing more
    assert again.rendered.text == text(bot, "error.announce.not_draft", id=1)
    status = await say(bot, "/announce status")
    assert status.rendered.text == bot.services.catalogs.render_msg(Msg("announce.status", {
        "id": 1, "state": Msg("announce.state.done"), "sent": 6, "pending": 0, "blocked": 0, "failed": 0, "unknown": 0,
        "cancelled": 0}), "en", str)
    actions = [(action, detail.get("id")) for _, action, detail in await service(bot).rows.audit_trail()]
    assert actions == [("announce.draft", 1), ("announce.variant", 1), ("announce.send", 1)]


async def test_a_group_admin_reaches_the_group_and_its_members_only(bot: App) -> None:
    await subscribers(bot)
    await say(bot, "/quote", "7003", chat=GROUP)  # 7003 uses the bot in the group; 7002 never did
    await say(bot, "/help", "7003", chat=GROUP)  # seen again: one membership
    telegram, discord = platforms(bot)
    preview = await say(bot, "/announce Meetup tonight", "7009", chat=GROUP, admin=True)
    assert text(bot, "announce.preview.reach", **reached(Reach(1, 3))) in preview.rendered.text  # 7003; 2 configured + the group
    await press(bot, preview, text(bot, "button.announce_send"), "7009", chat=GROUP, admin=True)
    await until(lambda: len(telegram.sent) == 3 and len(discord.sent) == 1)
    assert sorted(chat for chat, _, _ in telegram.sent) == ["-100555", "-100777", "dm7003"]
    assert await rows(bot, "SELECT platform, community, COUNT(*) FROM community_members GROUP BY 1, 2") == [
        ("telegram", GROUP, 2)]  # 7003 and the admin 7009 (who has no private chat, so gets nothing)
    assert await rows(bot, "SELECT scope FROM announcements") == [(f"telegram:{GROUP}",)]


async def test_cancel_stops_what_is_not_yet_sent(bot: App) -> None:
    await subscribers(bot)  # nothing attached: every message stays pending
    preview = await say(bot, "/announce Oops")
    await press(bot, preview, text(bot, "button.announce_send"))
    assert await rows(bot, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == [(6,)]
    async with bot.db.transaction() as tx:  # one went out already, one is in flight
        await tx.execute("UPDATE outbox SET state = 'sent' WHERE id = (SELECT MIN(id) FROM outbox)")
        await tx.execute("UPDATE outbox SET state = 'sending' WHERE id = (SELECT MAX(id) FROM outbox)")
    outcome = await say(bot, "/announce cancel 1")
    assert outcome.rendered.text == text(bot, "announce.cancelled", id=1, count=Count(4))
    assert await rows(bot, "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state") == [
        ("cancelled", 4), ("sending", 1), ("sent", 1)]
    again = await say(bot, "/announce cancel 1")
    assert again.rendered.text == text(bot, "error.announce.cancelled", id=1)
    status = await say(bot, "/announce status 1")
    assert status.rendered.text == bot.services.catalogs.render_msg(Msg("announce.status", {
        "id": 1, "state": Msg("announce.state.cancelled"), "sent": 1, "pending": 1, "blocked": 0, "failed": 0, "unknown": 0,
        "cancelled": 4}), "en", str)


async def test_the_preview_cancel_button_drops_the_draft(bot: App) -> None:
    preview = await say(bot, "/announce Never mind")
    outcome = await press(bot, preview, text(bot, "button.cancel"))
    assert outcome.rendered.text == text(bot, "announce.cancelled", id=1, count=Count(0))
    assert await rows(bot, "SELECT state FROM announcements") == [("cancelled",)]
    assert (await say(bot, "/announce zh_CN 算了")).rendered.text == text(bot, "error.announce.no_draft")


async def test_a_fan_out_interrupted_by_a_crash_resumes_without_duplicates(bot: App) -> None:
    await subscribers(bot)
    announcements = service(bot)
    draft = await announcements.rows.create(1, "telegram", "all", None, "Resumed")
    assert await announcements.rows.move(draft.id, ("draft",), "sending")
    async with bot.db.transaction() as tx:  # the crash: one user's message was stored (and sent) before it
        await tx.execute("""INSERT INTO outbox (platform, chat_id, user_id, kind, priority, dedupe, payload, announcement_id,
                                                due_at, state, created_at)
                            SELECT platform, dm_chat, id, 'announcement', 2, 'announce:1:' || id, '{}', 1, 0, 'sent', 0
                            FROM users WHERE platform_user_id = '7002'""")
    await announcements.restore()  # what start-up runs
    assert await rows(bot, "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM outbox WHERE user_id IS NOT NULL") == [(4, 4)]
    assert await rows(bot, "SELECT COUNT(*) FROM outbox WHERE user_id IS NULL") == [(2,)]
    assert await rows(bot, "SELECT state FROM announcements") == [("done",)]
    assert await announcements.rows.fan_out(draft.id, "all", "{}") == 0  # and again: nothing new


async def test_scheduled_announcements_are_jobs_recreated_at_start_up(bot: App) -> None:
    await subscribers(bot)
    await say(bot, "/timezone Asia/Shanghai")
    await say(bot, "/announce Later")
    outcome = await say(bot, "/announce at 2099-01-01 08:00")
    when = 4070908800  # 2099-01-01 08:00 in Shanghai is 00:00 UTC
    assert outcome.rendered.text == bot.services.catalogs.render_msg(
        Msg("announce.scheduled", {"id": 1, "when": When(when)}), "en", str, "Asia/Shanghai")
    announcements = service(bot)
    assert announcements.schedule.names("announce:") == [job_name(1)]
    job = announcements.schedule.scheduler.get_job(job_name(1))
    assert int(job.trigger.run_date.timestamp()) == when and job.args == (1,)
    assert await rows(bot, "SELECT state, send_at FROM announcements") == [("scheduled", when)]

    fresh = Schedule(None, bot.config.points.snapshot_at)  # a restart: a new scheduler, the same database
    restarted = Announcements(announcements.rows, bot.outbox, fresh, CONFIG)
    await restarted.restore()
    assert fresh.names("announce:") == [job_name(1)]

    await restarted.send_due(1)  # the job runs
    assert await rows(bot, "SELECT state FROM announcements") == [("done",)]
    assert await rows(bot, "SELECT COUNT(*) FROM outbox WHERE announcement_id = 1") == [(6,)]
    await restarted.send_due(1)  # a second run sends nothing more
    assert await rows(bot, "SELECT COUNT(*) FROM outbox WHERE announcement_id = 1") == [(6,)]


async def test_a_scheduled_announcement_is_not_sent_once_its_author_is_no_longer_a_moderator(bot: App) -> None:
    await subscribers(bot)
    await say(bot, "/announce Later")
    await say(bot, "/announce at 2099-01-01 08:00")
    announcements = service(bot)
    demoted = Announcements(announcements.rows, bot.outbox, announcements.schedule, replace(CONFIG, telegram_moderators=frozenset()))
    await demoted.send_due(1)  # the job fires after the moderator was removed from the configuration
    assert await rows(bot, "SELECT state FROM announcements") == [("cancelled",)]
    assert await rows(bot, "SELECT chat_id, kind FROM outbox") == [(f"dm{MOD}", "moderation")]  # only the author is told
    audited = await rows(bot, "SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1")
    assert audited[0][0] == "announce.refused" and "no longer a moderator" in audited[0][1]


async def test_cancelling_a_scheduled_announcement_removes_its_job(bot: App) -> None:
    await say(bot, "/announce Later")
    await say(bot, "/announce at 23:59")
    assert service(bot).schedule.names("announce:") == ["announce:1"]
    outcome = await say(bot, "/announce cancel")
    assert outcome.rendered.text == text(bot, "announce.cancelled", id=1, count=Count(0))
    assert service(bot).schedule.names("announce:") == []
    await service(bot).send_due(1)  # a job that fired anyway sends nothing
    assert await rows(bot, "SELECT COUNT(*) FROM outbox") == [(0,)]


async def test_membership_is_written_once_per_user_and_community(bot: App) -> None:
    writes: list[tuple[str, str, int]] = []
    rows_ = service(bot).rows
    real = rows_.join

    async def join(platform: str, community: str, user_id: int) -> None:
        writes.append((platform, community, user_id))
        await real(platform, community, user_id)

    rows_.join = join  # type: ignore[method-assign]
    for _ in range(3):
        await say(bot, "/help", "7003", chat=GROUP)
    await say(bot, "/help", "7003", chat="-100556")
    await say(bot, "/help", "7003")  # private: no community
    assert [w[:2] for w in writes] == [("telegram", GROUP), ("telegram", "-100556")]
