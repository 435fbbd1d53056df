"""Chat-level rules of issue 15, through the real router, handlers, devnet and SQLite: what is private stays
private and no group hint asks for a private key, commands for other bots are left alone, an index suffix
that does not exist is refused, only ASCII digits are ids, /name is unique and no look-alike, community
announcements name their community and re-check their author, and unused rows are purged."""

from __future__ import annotations

import asyncio
import html
import io
import json
import time
from dataclasses import replace
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tomli_w

from bot.frontends.adapters.base import PlainMarkup
from bot.frontends.adapters.console import ConsoleFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.delivery.announce.when import parse_when
from bot.app import App
from bot.cli import build_parser
from bot.config import ConfigError, load_config
from bot.delivery.housekeeping import DAY, PURGE_JOB, Housekeeping, Retention
from bot.delivery.schedule.durable import NAME_INDEX, DurableSchedule
from bot.jobs.engine import Jobs, cancelled
from bot.storage.db import Database
from bot.storage.purge import PurgeRows
from bot.storage.repositories import ButtonRows, UserRows
from bot.core.amounts import parse_id
from bot.core.messages import Msg
from bot.delivery.announce.service import job_name
from bot.core.request import Request, Standing, for_another_bot, split_command
from bot.core.router import GROUP_FORM, Outcome
from bot.i18n import Catalogs
from telegram_emulator import BotApiEmulator  # tests/ is on sys.path (rootdir conftest)
from auxil.catalog import starts
from auxil.requests import Console

# A group is the one chat -100777, and the request's community, as the Telegram adapter sets it.
say = Console(chat=lambda user, chat_type: user if chat_type == "private" else "-100777", group_is_community=True).say

CATALOGS = Catalogs()
EN = CATALOGS.entries["en"]
QUIET = 0.3  # how long to watch for a message that must not come


# -- 1. /positions is private; no group hint suggests /wallet import <private key> --------------------------


def test_every_entry_suggesting_an_import_has_a_group_form_without_it() -> None:
    for locale, entries in CATALOGS.entries.items():
        suggesting = [k for k, text in entries.items() if "/wallet import" in text]
        assert suggesting, locale  # the scan finds them (usage.wallet, wallet.none.body, ...)
        for key in suggesting:
            assert key + GROUP_FORM in entries, f"{locale}: {key} has no group form"
            assert "import" not in entries[key + GROUP_FORM], f"{locale}: {key}{GROUP_FORM} suggests an import"


async def test_positions_in_a_group_is_refused_and_shows_no_address(app: App) -> None:
    await say(app, "/wallet new")
    address = await app.services.wallets.address_of((await app.services.users.seen("console", "u1")).id)
    assert address is not None
    out = await say(app, "/positions", chat_type="group")
    assert out.rendered.text == EN["error.private_only"]
    assert address not in out.rendered.text
    private = await say(app, "/positions")
    assert address in private.rendered.text  # in private it still works


GROUP_WITHOUT_WALLET = ["/help", "/positions", "/buy MAG7.ssi 10", "/sell MAG7.ssi all", "/faucet", "/stake MAG7 1", "/wallet",
                        "/wallet import 0x1234"]


@pytest.mark.parametrize("text", GROUP_WITHOUT_WALLET)
async def test_no_reply_in_a_group_suggests_importing_a_key(app: App, text: str) -> None:
    for locale in CATALOGS.locales:
        out = await say(app, text, user="nowallet", chat_type="group", locale=locale)
        assert "import" not in out.rendered.text, (locale, out.rendered.text)


# -- 2. a command for another bot is not ours, in private chats too -------------------------------------------


@pytest.mark.parametrize("chat", [4001, -100400], ids=["private", "group"])
async def test_a_command_for_another_bot_is_ignored_on_telegram(app: App, emulator: BotApiEmulator,
                                                                 telegram: TelegramFrontend, chat: int) -> None:
    kind = "private" if chat > 0 else "supergroup"
    since = emulator.mark()
    emulator.send_text(4001, chat, "/quote@otherbot MAG7.ssi 100", chat_type=kind)
    emulator.send_text(4001, chat, "/help@OtherBot", chat_type=kind)
    await asyncio.sleep(QUIET)
    assert emulator.calls_to("sendMessage", since) == []
    emulator.send_text(4001, chat, "/help@INDEXBOT_test_bot", chat_type=kind)  # our own name, any case
    answer = await emulator.wait_for("sendMessage", lambda c: c.chat_id == chat, since=since)
    assert answer.params["text"].startswith("<b>" + CATALOGS.text("help.title", "en") + "</b>")


@pytest.mark.parametrize(("text", "me", "other"), [
    ("/quote@otherbot MAG7 1", "indexbot", True),
    ("/quote@IndexBot MAG7 1", "indexbot", False),
    ("/quote MAG7 1", "indexbot", False),
    ("/quote@someone", None, True),  # a name that cannot be checked is not ours
    ("quote@otherbot", "indexbot", False),  # not a command
    ("", "indexbot", False),
])
def test_for_another_bot(text: str, me: str | None, other: bool) -> None:
    assert for_another_bot(text, me) is other


# -- 3. an explicit suffix that does not exist is refused, never mapped to another index ----------------------

NO_SUCH_SUFFIX = [
    "/quote MEME.nex 100", "/quote MAG7.scam 100 tokens", "/buy MEME.nex 10", "/sell MAG7.scam all",
    "/dca MEME.nex 10 daily 4821", "/dca MAG7.scam 10 weekly at 09:00 4821", "/alert MEME.nex above 100",
    "/alert MAG7.scam premium 2", "/stake MEME.nex 1", "/unstake MAG7.scam 1", "/claim MEME.nex", "/claim MAG7.scam 1",
    "/indexes MEME.nex",
]


async def rows(app: App, table: str) -> int:
    row = await app.db.fetch_one(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else -1


@pytest.mark.parametrize("text", NO_SUCH_SUFFIX)
async def test_a_suffix_that_does_not_exist_is_refused_with_the_valid_choices(app: App, text: str) -> None:
    for locale in ("en", "zh_CN"):
        out = await say(app, text, locale=locale)
        typed = text.split()[1]
        assert out.rendered.text.startswith(starts("error.index.unknown", CATALOGS.entries[locale])), out.rendered.text
        assert typed in out.rendered.text and "MEME.ssi" in out.rendered.text and "MAG7.ssi" in out.rendered.text
        assert out.rendered.buttons == ()  # no choice offered between indexes it never named
    for table in ("dca_plans", "price_alerts", "intents"):
        assert await rows(app, table) == 0, table


@pytest.mark.parametrize("text", ["/withdraw MEME.nex 1 {to} 4821", "/withdraw MAG7.scam all {to} 4821",
                                  "/withdraw meme.NEX 1 {to} 4821 ethereum"])
async def test_a_withdrawal_of_an_asset_that_does_not_exist_is_refused(app: App, text: str) -> None:
    await say(app, "/wallet new")
    await say(app, "/pin 4821")
    to = "0x000000000000000000000000000000000000dEaD"
    for locale in ("en", "zh_CN"):
        out = await say(app, text.format(to=to), locale=locale)
        assert out.rendered.text.startswith(starts("error.withdraw.asset", CATALOGS.entries[locale])), out.rendered.text
        assert text.split()[1] in out.rendered.text and "MAG7.nex" in out.rendered.text  # the valid assets of that chain
    assert await rows(app, "intents") == 0


@pytest.mark.parametrize(("typed", "symbols"), [
    ("meme", ["MEME.ssi"]), ("MEME.SSI", ["MEME.ssi"]), ("mag7", ["MAG7.ssi", "MAG7.nex"]), ("MAG7.nex", ["MAG7.nex"]),
    ("ussi", ["USSI"]), ("MEME.nex", []), ("MAG7.scam", []), ("mag7.", []), (".ssi", []),
])
async def test_index_names_resolve_in_one_place(app: App, typed: str, symbols: list[str]) -> None:
    assert [ref.symbol for ref in app.services.find_indexes(typed)] == symbols
    home = [s for s in symbols if s in {ref.symbol for ref in app.services.profile.indexes}]
    found = app.services.find_index(typed)
    assert (found.symbol if found else None) == (home[0] if home else None)


# -- 4. only ASCII digits are ids and amounts -----------------------------------------------------------------

NOT_ASCII = [
    ("/dca pause ²", "dca.error.plan"),
    ("/dca resume ١٢", "dca.error.plan"),
    ("/dca cancel #١", "dca.error.plan"),
    ("/dca cancel １２", "dca.error.plan"),  # fullwidth
    ("/alert delete ²", "alert.error.id"),
    ("/alert delete ١٢", "alert.error.id"),
    ("/alert delete #۳", "alert.error.id"),  # Extended Arabic-Indic
    ("/quote MAG7.ssi ١٠٠", "error.amount.format"),
    ("/quote MAG7.ssi ²", "error.amount.format"),
    ("/buy MAG7.ssi ١٠", "error.amount.format"),
    ("/sell MAG7.ssi ١", "error.amount.format"),
    ("/stake MAG7 ١", "error.amount.format"),
    ("/slippage ١", "error.slippage.format"),
    ("/alert MAG7 above ١٠٠", "error.amount.format"),
    ("/alert MAG7 premium ٢", "alert.error.percent_format"),
    ("/alerts quiet ٢٢:٠٠-٠٧:٠٠", "alerts.error.quiet"),
    ("/dca MAG7 10 daily at ٠٩:٠٠ 4821", "dca.error.time"),
    ("/dca MAG7 ١٠ daily 4821", "error.amount.format"),
]


@pytest.mark.parametrize(("text", "key"), NOT_ASCII)
async def test_only_ascii_digits_are_ids_and_amounts(app: App, text: str, key: str) -> None:
    await say(app, "/wallet new")
    await say(app, "/pin 4821")
    out = await say(app, text)
    assert out.rendered.text.startswith(starts(key)), out.rendered.text
    for table in ("dca_plans", "price_alerts", "intents"):
        assert await rows(app, table) == 0, table


@pytest.mark.parametrize("text", ["/announce status ١", "/announce cancel ²", "/announce status １", "/announce cancel ۱"])
async def test_a_moderator_names_announcements_by_ascii_digits_only(app: App, text: str) -> None:
    await in_group(app, "/announce Meetup on Friday")  # announcement 1, a draft
    out = await in_group(app, text)
    assert out.rendered.text == CATALOGS.render_msg(Msg("error.announce.id", {"value": text.split()[-1]}), "en", str)
    state = await app.db.fetch_one("SELECT state FROM announcements WHERE id = 1")
    assert state is not None and state[0] == "draft"


@pytest.mark.parametrize("typed", ["١", "۱", "１", "¹"])
async def test_a_console_button_is_pressed_by_ascii_digits_only(app: App, typed: str) -> None:
    out = io.StringIO()
    console = ConsoleFrontend(app.router, stdout=out)
    await console.handle_line("/quote MAG7 100")  # [1] MAG7.ssi on Base, [2] MAG7.nex on Ethereum
    shown = out.tell()
    await console.handle_line(typed)
    assert out.getvalue()[shown:].strip() == CATALOGS.render_msg(Msg("error.command.unknown", {"command": typed}), "en", str)
    shown = out.tell()
    await console.handle_line("1")  # ASCII: the button
    pressed = out.getvalue()[shown:]
    assert "MAG7.ssi" in pressed and not pressed.startswith(starts("error.command.unknown")), pressed


@pytest.mark.parametrize(("typed", "expected"), [
    ("12", 12), ("#12", 12), ("007", 7), ("²", None), ("١٢", None), ("１２", None), ("1²", None), ("", None),
    ("-1", None), ("1" * 13, None), ("1" * 12, int("1" * 12)),
])
def test_parse_id(typed: str, expected: int | None) -> None:
    assert parse_id(typed) == expected


@pytest.mark.parametrize(("typed", "expected"), [
    ("12", 12), ("#12", 12), ("١٢", None), ("²", None), ("１２", None), ("-1", None), ("12.0", None), ("", None),
])
def test_the_operator_releases_an_intent_by_ascii_digits_only(typed: str, expected: int | None,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    if expected is not None:
        assert parser.parse_args(["intents", "--release", typed]).release == expected
        return
    with pytest.raises(SystemExit) as refused:  # `indexbot intents --release ١٢` released intent 12
        parser.parse_args(["intents", "--release", typed])
    assert refused.value.code == 2
    assert f"{typed!r} is not an intent id (ASCII digits, e.g. 12)" in capsys.readouterr().err


@pytest.mark.parametrize("words", [("١٨:٣٠",), ("²:00",), ("٢٠٢٧-٠١-٠١", "10:00"), ("2027-01-01", "١٠:٠٠")])
def test_announcement_times_take_ascii_digits_only(words: tuple[str, ...]) -> None:
    assert parse_when(words, "UTC", 1_800_000_000) is None
    assert parse_when(("18:30",), "UTC", 1_800_000_000) is not None


async def test_an_arabic_indic_plan_number_is_not_that_plan(app: App) -> None:
    await say(app, "/wallet new")
    await say(app, "/pin 4821")
    created = await say(app, "/dca MAG7 10 daily 4821")
    assert created.rendered.text.startswith(starts("dca.created")), created.rendered.text
    [plan] = await app.services.dca.of_user((await app.services.users.seen("console", "u1")).id)  # type: ignore[union-attr]
    for typed in (f"/dca pause {chr(0x660 + plan.id)}", f"/dca cancel {chr(0x6F0 + plan.id)}", f"/dca pause {chr(0xFF10 + plan.id)}"):
        out = await say(app, typed)
        assert out.rendered.text.startswith(starts("dca.error.plan")), out.rendered.text
    [still] = await app.services.dca.of_user(plan.user_id)  # type: ignore[union-attr]
    assert still.state == "active"


# -- 5. /name is unique and no look-alike of another user's name, the bot's name or a role word -------------

LOOK_ALIKES = ["satoshi", "SATOSHI", "Sat0shi", "SATOSHl", "Ｓａｔｏｓｈｉ", "Ѕаtoshі", "sato_shi", "Sato-shi", "S a t o s h i",
               "𝐒𝐚𝐭𝐨𝐬𝐡𝐢"]


@pytest.mark.parametrize("typed", LOOK_ALIKES)
async def test_a_name_like_another_users_is_taken(app: App, typed: str) -> None:
    assert (await say(app, "/name Satoshi", user="first")).rendered.text == CATALOGS.render_msg(
        Msg("name.set", {"name": "Satoshi"}), "en", str)
    out = await say(app, f"/name {typed}", user="second")
    assert out.rendered.text.startswith(starts("error.name.taken")), out.rendered.text
    second = (await app.services.users.seen("console", "second")).id
    assert await app.services.users.leaderboard_name(second) is None
    again = await say(app, f"/name {typed}", user="first")  # their own name, written another way: theirs to take
    assert again.rendered.text.startswith(starts("name.set")), again.rendered.text


RESERVED = ["Admin", "AdmIn", "adm1n", "ΑDΜΙΝ", "Mod", "m0d", "rnod", "Mods", "Support Team", "ѕupport", "0fficial",
            "The Official One", "IndexBot", "Index_B0t", "Moderator Bob", "AdminBob", "Staff", "SoSoValue", "S0soHelperBot"]


@pytest.mark.parametrize("typed", RESERVED)
async def test_role_words_and_the_bots_name_are_reserved(app: App, typed: str) -> None:
    assert app.services.points is not None
    app.front_ends.attach("telegram", bot_name="@SosoHelperBot")
    for locale in ("en", "zh_CN"):
        out = await say(app, f"/name {typed}", locale=locale)
        assert out.rendered.text == CATALOGS.render_msg(Msg("error.name.reserved", {"name": " ".join(typed.split())}), locale, str)
    assert await app.services.users.leaderboard_name((await app.services.users.seen("console", "u1")).id) is None


@pytest.mark.parametrize("typed", ["Badminton", "Model", "Modesty", "Crypto Cat", "李雷", "Satoshi2"])
async def test_ordinary_names_stay_free(app: App, typed: str) -> None:
    await say(app, "/name Satoshi", user="first")
    out = await say(app, f"/name {typed}")
    assert out.rendered.text.startswith(starts("name.set")), out.rendered.text


async def test_the_telegram_bots_username_is_reserved(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    out = await say(app, "/name Indexb0t_Test_Bot_")
    assert out.rendered.text.startswith(starts("error.name.reserved")), out.rendered.text
    assert app.services.points is not None and "indexbot_test_bot" in app.services.points.bot_names


async def test_names_chosen_before_keys_keep_the_first_and_block_look_alikes(app: App) -> None:
    users = app.services.users
    old, older = (await users.seen("console", "old")).id, (await users.seen("console", "older")).id
    async with app.db.transaction() as tx:  # as a database from before migration 0016 holds them
        await tx.execute("UPDATE users SET leaderboard_name = :name WHERE id = :id", {"name": "Vitalik", "id": old})
        await tx.execute("UPDATE users SET leaderboard_name = :name WHERE id = :id", {"name": "VITAL1K", "id": older})
    out = await say(app, "/name Vitallk", user="newcomer")
    assert out.rendered.text.startswith(starts("error.name.taken")), out.rendered.text
    assert await users.leaderboard_name(old) == "Vitalik" and await users.leaderboard_name(older) == "VITAL1K"


# -- 6. a community announcement names its community and re-checks its author when due -----------------------

GROUP = "-100555"
ADMIN = "7101"


def group_request(text: str, user: str = ADMIN, admin: bool = True) -> Request:
    async def check() -> Standing:
        return Standing(admin=admin)

    command, args = split_command(text)
    return Request("telegram", user, GROUP, "group", "en", command=command, args=args, text_length=len(text),
                   community=GROUP, community_name="Crypto <Club>", standing=check)


async def in_group(app: App, text: str, **kw: Any) -> Outcome:
    return await app.router.handle(group_request(text, **kw), PlainMarkup())


async def privately(app: App, user: str, text: str = "/help") -> None:
    await app.router.handle(Request("telegram", user, user, "private", "en", command=text[1:], text_length=len(text)),
                            PlainMarkup())


async def outbox_rows(app: App) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await app.db.fetch_all("SELECT chat_id, kind, payload FROM outbox ORDER BY id")]


async def test_a_community_announcement_names_its_community(app: App) -> None:
    await privately(app, ADMIN)
    await privately(app, "7102")
    await in_group(app, "/help", user="7102")  # a member of the group
    preview = await in_group(app, "/announce Meetup on Friday")
    header = CATALOGS.render_msg(Msg("announce.header.community", {"community": "Crypto <Club>"}), "en", str)
    assert header in preview.rendered.text  # the preview shows it as readers will
    press = replace(group_request(""), command=None, button_token=preview.rendered.buttons[0][0].token)
    sent = await app.router.handle(press, PlainMarkup())
    assert sent.rendered.text.startswith(starts("announce.sending")), sent.rendered.text
    announcements = app.services.announcements
    assert announcements is not None
    payload = next(json.loads(p) for chat, _, p in await outbox_rows(app) if chat == "7102")
    for locale in ("en", "zh_CN"):
        reply = await announcements.render(payload, None, locale)
        rendered = CATALOGS.render(reply, locale, html.escape, lambda kind, text: text)
        named = CATALOGS.render_msg(Msg("announce.header.community", {"community": "Crypto <Club>"}), locale, html.escape)
        assert rendered.text.splitlines()[0] == named and "Crypto &lt;Club&gt;" in named
        assert rendered.text.splitlines()[1] == "Meetup on Friday"


@pytest.mark.parametrize(("answers", "sent", "told"), [
    ([Standing(admin=True)], True, None),
    ([Standing(admin=False)], False, "announce.due.lost"),
    ([None, None, Standing(admin=True)], True, None),  # Telegram did not answer twice: asked again a minute later
    ([None] * 6, False, "announce.due.unconfirmed"),
], ids=["still-admin", "demoted", "later", "never-confirmed"])
async def test_a_scheduled_community_announcement_rechecks_its_author_when_due(
        app: App, answers: list[Standing | None], sent: bool, told: str | None) -> None:
    await privately(app, ADMIN)
    await privately(app, "7102")
    await in_group(app, "/help", user="7102")
    await in_group(app, "/announce Later")
    scheduled = await in_group(app, "/announce at 2099-01-01 08:00")
    assert scheduled.rendered.text.startswith(starts("announce.scheduled")), scheduled.rendered.text
    announcements = app.services.announcements
    assert announcements is not None
    asked: list[tuple[str, str]] = []
    replies = iter(answers)

    async def standing_of(community: str, user_id: str) -> Standing | None:
        asked.append((community, user_id))
        return next(replies)

    app.front_ends.attach("telegram", standing_of=standing_of)
    attempt = 0
    while True:  # the job, then each re-check it plans
        await announcements.send_due(1, attempt)
        job = announcements.schedule.scheduler.get_job(job_name(1))
        if job is None or len(job.args) < 2 or job.args[1] == attempt:
            break
        attempt = job.args[1]
    assert asked == [(GROUP, ADMIN)] * len(answers)
    state = await app.db.fetch_one("SELECT state FROM announcements WHERE id = 1")
    assert state is not None and state[0] == ("done" if sent else "cancelled")
    rows = await outbox_rows(app)
    to_member = [r for r in rows if r[0] == "7102" and r[1] == "announcement"]
    assert len(to_member) == (1 if sent else 0)
    to_author = [json.loads(r[2]) for r in rows if r[0] == ADMIN and r[1] == "moderation"]
    assert len(to_author) == (0 if told is None else 1)
    if told is not None:
        assert told in json.dumps(to_author[0])
        audited = await app.db.fetch_one("SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1")
        assert audited is not None and audited[0] == "announce.refused" and '"scheduled": true' in audited[1]


# -- 7. unused rows are purged on a schedule; refusals are audited once a minute -----------------------------


async def test_unused_rows_are_purged_by_the_scheduled_job(app: App) -> None:
    now = int(time.time())
    user = (await app.services.users.seen("console", "u1")).id
    day = 24 * 3600
    async with app.db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO buttons (token, user_id, action, args, created_at, expires_at) VALUES (:token, :user, 'x', '[]', :at, :until)",
            [{"token": "expired", "user": user, "at": now - 2 * day, "until": now - day},
             {"token": "live", "user": user, "at": now, "until": now + day}])
        await tx.execute_many(
            "INSERT INTO audit_log (at, user_id, action, detail, last_at) VALUES (:at, :user, 'announce.refused', '{}', :last)",
            [{"at": now - 200 * day, "user": user, "last": None}, {"at": now - 200 * day, "user": user, "last": now - 10 * day},
             {"at": now - day, "user": user, "last": None}])
        await tx.execute_many(
            """INSERT INTO outbox (platform, chat_id, user_id, kind, priority, payload, due_at, state, created_at)
               VALUES ('console', 'c', :user, 'price', 1, '{}', :at, :state, :at)""",
            [{"user": user, "at": now - 40 * day, "state": "sent"}, {"user": user, "at": now - 40 * day, "state": "failed"},
             {"user": user, "at": now - 40 * day, "state": "pending"}, {"user": user, "at": now - day, "state": "sent"}])
        await tx.execute_many(  # /connect links: never used and expired over a day ago go; a used one is a record
            """INSERT INTO connect_links (token_hash, user_id, platform, chat_id, nonce, created_at, expires_at, used_at)
               VALUES (:token, :user, 'console', 'c', 'n', :at, :until, :used)""",
            [{"token": "unused-old", "user": user, "at": now - 3 * day, "until": now - 2 * day, "used": None},
             {"token": "used-old", "user": user, "at": now - 3 * day, "until": now - 2 * day, "used": now - 3 * day},
             {"token": "unused-recent", "user": user, "at": now - 2 * 3600, "until": now - 3600, "used": None},
             {"token": "live", "user": user, "at": now, "until": now + 600, "used": None}])
    assert app.schedule is not None
    await app.schedule.start_all()
    job = app.schedule.scheduler.get_job(PURGE_JOB)
    assert job is not None and job.trigger.interval.total_seconds() == 3600
    await job.func(*job.args)  # the job as the scheduler runs it
    assert [r[0] for r in await app.db.fetch_all("SELECT token FROM buttons")] == ["live"]
    assert [tuple(r) for r in await app.db.fetch_all("SELECT at, last_at FROM audit_log ORDER BY id")] == [
        (now - 200 * day, now - 10 * day), (now - day, None)]  # a line counting recent repeats is kept
    assert sorted(tuple(r) for r in await app.db.fetch_all("SELECT state, created_at FROM outbox")) == [
        ("pending", now - 40 * day), ("sent", now - day)]  # never an unsent one
    assert [r[0] for r in await app.db.fetch_all("SELECT token_hash FROM connect_links ORDER BY token_hash")] == [
        "live", "unused-recent", "used-old"]


async def test_on_postgresql_the_purge_is_a_durable_job_that_a_worker_runs(pg_empty_url: str) -> None:
    """A fleet's purge: `purge:rows` is a procrastinate job on the bot's PostgreSQL, run by a real worker when it
    falls due, and its next run is waiting after it."""
    db = await Database.open(pg_empty_url)
    jobs = Jobs(pg_empty_url, stalled=2.0)
    await jobs.open()
    await jobs.ensure_schema(NAME_INDEX)
    schedule = DurableSchedule(jobs, None, dt_time(0, 0))
    worker = None
    try:
        now = int(time.time())
        user = (await UserRows(db).seen("console", "u1")).id
        async with db.transaction() as tx:
            await tx.execute_many(
                "INSERT INTO buttons (token, user_id, action, args, created_at, expires_at) "
                "VALUES (:token, :user, 'x', '[]', :at, :until)",
                [{"token": "expired", "user": user, "at": now - 2 * DAY, "until": now - DAY},
                 {"token": "live", "user": user, "at": now, "until": now + DAY}])
        await Housekeeping(ButtonRows(db), PurgeRows(db), Retention()).plan(schedule)
        assert schedule.names() == [PURGE_JOB]
        with psycopg.connect(jobs.conninfo, autocommit=True) as conn:  # its hour has passed
            conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE queueing_lock = %s", (PURGE_JOB,))
        worker = asyncio.create_task(jobs.work(concurrency=1))
        deadline = time.monotonic() + 30
        while await db.scalar("SELECT COUNT(*) FROM buttons WHERE token = 'expired'"):
            assert time.monotonic() < deadline, "the worker never purged"
            await asyncio.sleep(0.1)
        assert [r[0] for r in await db.fetch_all("SELECT token FROM buttons")] == ["live"]
        with psycopg.connect(jobs.conninfo, autocommit=True) as conn:
            done = conn.execute("SELECT status FROM procrastinate_jobs WHERE args->>'name' = %s ORDER BY id",
                                (PURGE_JOB,)).fetchall()
        assert done[0][0] in ("doing", "succeeded") and done[-1][0] == "todo", done  # the run, then its next one
        assert schedule.names() == [PURGE_JOB]  # the next run waits
    finally:
        if worker is not None:
            await cancelled(worker)
        await schedule.stop()
        await jobs.close()
        await db.close()


@pytest.mark.parametrize(("table", "problem"), [
    ({"audit_days": 0}, "above 0"), ({"outbox_days": "30"}, "whole number"), ({"audit_days": 1.5}, "whole number"),
    ({"every_minutes": True}, "whole number"), ({"keep": 3}, "unknown keys"),
])
def test_bad_retention_is_refused(tmp_path: Path, table: dict[str, Any], problem: str) -> None:
    path = tmp_path / "indexbot.toml"
    path.write_text(tomli_w.dumps({"retention": table}))
    with pytest.raises(ConfigError, match=problem):
        load_config({"INDEXBOT_CONFIG": str(path)})


def test_retention_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "indexbot.toml"
    path.write_text(tomli_w.dumps({"retention": {"audit_days": 365, "every_minutes": 15}}))
    assert load_config({"INDEXBOT_CONFIG": str(path)}).retention == Retention(audit_days=365, outbox_days=30, every_minutes=15)


async def test_a_user_hammering_a_refused_command_writes_one_audit_line_a_minute(app: App) -> None:
    for _ in range(20):
        out = await app.router.handle(group_request("/announce Free tokens!", user="7201", admin=False), PlainMarkup())
        assert out.rendered.text == EN["announce.refused"]
    lines = [tuple(r) for r in await app.db.fetch_all("SELECT action, repeats FROM audit_log")]
    assert lines == [("announce.refused", 20)]
    announcements = app.services.announcements
    assert announcements is not None
    user = (await app.services.users.seen("telegram", "7201")).id
    later = int(time.time()) + 61
    assert await announcements.rows.audit_refusal(user, "announce.refused", {}, later)  # a minute on: a new line
    assert not await announcements.rows.audit_refusal(user, "announce.refused", {}, later + 30)
    assert await announcements.rows.audit_refusal(user, "announce.other", {}, later + 30)  # another key: its own line
    assert [tuple(r) for r in await app.db.fetch_all("SELECT action, repeats FROM audit_log ORDER BY id")] == [
        ("announce.refused", 20), ("announce.refused", 2), ("announce.other", 1)]


async def test_on_telegram_the_group_is_named_and_a_demoted_admins_scheduled_announcement_is_not_sent(
        app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    group, admin, member = -100600, 5001, 5002

    async def ask(user: int, chat: int, line: str) -> dict[str, Any]:
        since = emulator.mark()
        emulator.send_text(user, chat, line, chat_type="private" if chat > 0 else "supergroup")
        return (await emulator.wait_for("sendMessage", lambda c: c.chat_id == chat, since=since)).params | {"since": since}

    emulator.set_admin(group, admin)
    await ask(admin, admin, "/help")
    await ask(member, member, "/help")
    await ask(member, group, "/help")  # seen in the group: a member of the community
    preview = await ask(admin, group, "/announce Meetup on Friday")
    assert "reply_markup" in preview, preview
    [send, _] = [b["callback_data"] for b in preview["reply_markup"]["inline_keyboard"][0]]
    since = emulator.mark()
    message_id = emulator.calls_to("sendMessage", preview["since"])[-1].result["message_id"]
    emulator.press(admin, group, message_id, send)
    got = await emulator.wait_for("sendMessage", lambda c: c.chat_id == member, since=since)
    named = CATALOGS.render_msg(Msg("announce.header.community", {"community": f"Group {group}"}), "en", html.escape)
    assert got.params["text"].splitlines()[0] == f"<b>{named}</b>"
    # the group gets the announcement too, through the outbox: waited for here, or it could arrive after the next
    # `ask` began and pass for that command's reply
    await emulator.wait_for("sendMessage", lambda c: c.chat_id == group and "Meetup on Friday" in c.params["text"],
                            since=since)

    await ask(admin, group, "/announce Later")
    await ask(admin, group, "/announce at 2099-01-01 08:00")
    emulator.set_admin(group, admin, admin=False)  # demoted before it falls due
    announcements = app.services.announcements
    assert announcements is not None and announcements.standings["telegram"] == telegram.standing_of
    since = emulator.mark()
    await announcements.send_due(2)  # the job
    told = await emulator.wait_for("sendMessage", lambda c: c.chat_id == admin, since=since)
    assert told.params["text"] == CATALOGS.render_msg(Msg("announce.due.lost", {"id": 2}), "en", html.escape)
    await asyncio.sleep(QUIET)
    assert [c for c in emulator.calls_to("sendMessage", since) if c.chat_id in (member, group)] == []
    assert [int(c.params["chat_id"]) for c in emulator.calls_to("getChatMember", since)] == [group]  # asked when due
