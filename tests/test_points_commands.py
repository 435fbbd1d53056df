"""The points commands through the router on the devnet: /points (and its chart), /leaderboard, /name, /invite,
/referrals and /start with an invite code, each checked against the ledger and the stored state."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from PIL import Image
from test_points_ledger import pts, stake_as
from auxil.chain import mint
from auxil.trading import funded_user, say

import handlers.leaderboard
from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.messages import Count, Day, Msg, When
from bot.core.request import Request
from bot.core.router import Outcome
from bot.points.public import anonymous_tag, leaderboard_name, next_snapshot
from handlers.points import shown
from auxil.catalog import text as line

DAY = date(2026, 11, 20)
UNIT = 10**8
PNG = b"\x89PNG\r\n\x1a\n"


async def said(app: App, text: str, user: str = "u1", platform: str = "console", display_name: str = "") -> Outcome:
    """`text` from `user` (as `platform` names them) in their private chat."""
    return await say(app, text, user, platform=platform, display_name=display_name)


async def holder(app: App, handle: str, display_name: str, units: int) -> int:
    """A console user (as the platform names them) whose new wallet holds `units` of MAG7.ssi; their user id."""
    await said(app, "/start", handle, display_name=display_name)
    uid = (await app.services.users.seen("console", handle)).id
    address = await app.services.wallets.create(uid)
    await mint(app, app.profile.index("MAG7.ssi").token.address, address, units)
    return uid


def next_snapshot_text(app: App, zone: str = "UTC") -> str:
    when = When(next_snapshot(pts(app).config, time.time()))
    return app.services.catalogs.format_param(when, "en", str, zone)


async def test_points_before_any_snapshot_say_how_to_earn_and_when_the_next_snapshot_is(app: App) -> None:
    got = (await say(app, "/points")).rendered.text
    assert got == "\n".join([line(app, "points.none"), line(app, "points.next", when=next_snapshot_text(app))])
    await say(app, "/timezone Asia/Shanghai")
    assert next_snapshot_text(app, "Asia/Shanghai") in (await say(app, "/points")).rendered.text  # in the user's zone


async def test_points_show_the_ledgers_numbers(app: App) -> None:
    mag7 = app.profile.index("MAG7.ssi")
    assert mag7.staking is not None
    big, address = await funded_user(app, "big")
    await mint(app, mag7.token.address, address, 3 * UNIT)
    await stake_as(app, (await app.services.wallets.account(big)).key.hex(), mag7.staking.address, mag7.token.address, UNIT)
    small = await holder(app, "small", "", UNIT // 2)
    await pts(app).snapshot.run(DAY)
    ledger = pts(app).ledger

    for handle, uid, rank in (("big", big, 1), ("small", small, 2)):
        standing = await ledger.standing(uid, "1")
        day = await ledger.day_breakdown(uid, DAY)
        text = (await say(app, "/points", handle)).rendered.text.splitlines()
        assert text[0] == line(app, "points.title", epoch="1")
        assert text[1] == line(app, "points.balance", epoch=shown(standing.points))
        assert text[2] == line(app, "points.all_time", all_time=shown(standing.all_time))
        assert text[3] == line(app, "points.rank", rank=rank, ranked=2) == f"Rank #{rank} of 2"
        assert text[4] == line(app, "points.day", day=Day(date(2026, 11, 20)))
        parts = [line(app, f"points.source.{s}", points=shown(day[s])) for s in ("held", "staked") if s in day]
        assert text[5:-1] == parts and standing.points == sum(day.values())
        assert text[-1] == line(app, "points.next", when=next_snapshot_text(app))
    assert len((await say(app, "/points", "big")).rendered.text.splitlines()) == 8  # held and staked
    assert "Staked" not in (await say(app, "/points", "small")).rendered.text  # only non-zero sources


async def test_points_chart_is_a_png_and_text_without_points(app: App) -> None:
    empty = (await say(app, "/points chart")).rendered
    assert empty.image is None and line(app, "points.chart.none") in empty.text
    await holder(app, "u1", "", UNIT)
    await pts(app).snapshot.run(DAY)
    chart = (await say(app, "/points chart")).rendered
    assert chart.image is not None and chart.image.startswith(PNG)
    with Image.open(BytesIO(chart.image)) as picture:
        assert picture.format == "PNG" and picture.size[0] > 0 and picture.size[1] > 0
    assert chart.text == line(app, "points.chart.caption", epoch="1", count=Count(1))
    assert (await say(app, "/points pie")).rendered.text == line(app, "error.args.extra", usage=Msg("usage.points"))


async def test_leaderboard_ranks_and_anonymizes(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    first = await holder(app, "handle-alice", "Alice Secret", 3 * UNIT)
    second = await holder(app, "handle-bob", "Bob Secret", 2 * UNIT)
    third = await holder(app, "handle-carol", "Carol Secret", 1 * UNIT)
    await pts(app).snapshot.run(DAY)
    assert (await say(app, "/name Bobby B", "handle-bob")).rendered.text == line(app, "name.set", name="Bobby B")

    board = (await say(app, "/leaderboard", "handle-alice")).rendered.text
    leaders = await pts(app).ledger.leaders("1")
    assert [x.user_id for x in leaders] == [first, second, third]
    anonymous = [line(app, "leaderboard.anonymous", tag=anonymous_tag(uid)) for uid in (first, third)]
    assert board.splitlines()[1:7] == [  # a card each: rank and name, then the points under them
        line(app, "leaderboard.row.you", rank=1, name=anonymous[0]), line(app, "leaderboard.points", points=shown(leaders[0].points)),
        line(app, "leaderboard.row", rank=2, name="Bobby B"), line(app, "leaderboard.points", points=shown(leaders[1].points)),
        line(app, "leaderboard.row", rank=3, name=anonymous[1]), line(app, "leaderboard.points", points=shown(leaders[2].points)),
    ]
    for private in ("Alice Secret", "Bob Secret", "Carol Secret", "handle-"):
        assert private not in board
    assert anonymous[0].startswith("Holder #") and anonymous[0] != anonymous[1]

    monkeypatch.setattr(handlers.leaderboard, "TOP", 2)
    below = (await say(app, "/leaderboard", "handle-carol")).rendered.text
    assert "Carol" not in below and line(app, "leaderboard.you", rank=3, ranked=3, points=shown(leaders[2].points)) in below
    assert line(app, "leaderboard.you.none") in (await say(app, "/leaderboard", "nobody")).rendered.text


async def test_leaderboard_before_any_points(app: App) -> None:
    text = (await say(app, "/leaderboard")).rendered.text
    assert line(app, "leaderboard.empty", when=next_snapshot_text(app)) in text


BAD_NAMES = ["a", "x" * 25, "bob@home", "@bob", "www.scam", "scam.com", "visit scam.io now", "http://x.y", "<b>hi</b>",
             "...", "name!", "me #1", "a/b"]


@pytest.mark.parametrize("typed", BAD_NAMES)
def test_leaderboard_name_rules_refuse(typed: str) -> None:
    from bot.core.errors import UserError

    with pytest.raises(UserError) as err:
        leaderboard_name(typed)
    assert err.value.key == "error.name.invalid"


@pytest.mark.parametrize(("typed", "stored"), [("Bob", "Bob"), ("  J.R.  Smith ", "J.R. Smith"), ("李雷", "李雷"),
                                               ("x_y-z 9", "x_y-z 9"), ("a" * 24, "a" * 24)])
def test_leaderboard_name_rules_accept(typed: str, stored: str) -> None:
    assert leaderboard_name(typed) == stored


async def test_name_sets_shows_clears_and_bad_input_changes_nothing(app: App) -> None:
    users = app.services.users
    uid = (await users.seen("console", "u1")).id
    anonymous = line(app, "leaderboard.anonymous", tag=anonymous_tag(uid))
    assert (await say(app, "/name")).rendered.text.splitlines() == [line(app, "name.show", name=anonymous), line(app, "name.hint.set")]
    await say(app, "/name Crypto Cat")
    refusal = line(app, "error.name.invalid", min=2, count=Count(24))
    for typed in BAD_NAMES:
        assert (await say(app, f"/name {typed}")).rendered.text == refusal, typed
        assert await users.leaderboard_name(uid) == "Crypto Cat", typed
    assert (await say(app, "/name")).rendered.text.splitlines() == [line(app, "name.show", name="Crypto Cat"), line(app, "name.hint.off")]
    assert (await say(app, "/name OFF")).rendered.text == line(app, "name.cleared", name=anonymous)
    assert await users.leaderboard_name(uid) is None


async def test_invite_on_each_platform(app: App) -> None:
    points = pts(app)
    console = (await said(app, "/invite", "c1")).rendered
    code = await points.referrals.code_of((await app.services.users.seen("console", "c1")).id)
    assert console.text.splitlines()[1:] == [
        line(app, "invite.code", code=code), line(app, "invite.usage", code=code), line(app, "invite.both"),
        line(app, "invite.rewards", share="10%", bonus=shown(points.config.welcome_bonus)),
    ]
    assert "Telegram and Discord" in console.text and not console.buttons

    app.front_ends.attach("telegram", invite_link="https://t.me/some_bot?start=ref_{code}")
    telegram = (await said(app, "/invite", "t1", "telegram")).rendered.text
    tcode = await points.referrals.code_of((await app.services.users.seen("telegram", "t1")).id)
    assert line(app, "invite.link.telegram", link=f"https://t.me/some_bot?start=ref_{tcode}") in telegram

    app.front_ends.attach("discord", invite_link="https://discord.gg/indexbot")
    discord = await said(app, "/invite", "d1", "discord")
    dcode = await points.referrals.code_of((await app.services.users.seen("discord", "d1")).id)
    assert line(app, "invite.usage", code=dcode) in discord.rendered.text
    assert line(app, "invite.link.discord", link="https://discord.gg/indexbot") in discord.rendered.text
    [[button]] = discord.rendered.buttons
    press = Request("discord", "d1", "d1", "private", "en", button_token=button.token, message_ref="m1")
    assert (await app.router.handle(press, PlainMarkup())).rendered.text == dcode  # the bare code, to copy
    assert len({code, tcode, dcode}) == 3


async def test_start_with_an_invite_code_each_outcome_keeps_the_welcome(app: App) -> None:
    referrals = pts(app).referrals
    welcome = line(app, "start.body", indexes=app.services.all_index_list())
    await say(app, "/invite", "ref")
    code = await referrals.code_of((await app.services.users.seen("console", "ref")).id)

    def note(outcome: Outcome) -> list[str]:
        lines = outcome.rendered.text.splitlines()  # the welcome, then the home screen
        assert lines[0] == line(app, "start.title") and welcome in lines and lines[-1] == line(app, "home.body")
        return lines[1:lines.index(welcome)]

    joined = note(await say(app, f"/start ref_{code}", "friend"))
    assert joined == [line(app, "start.ref.joined", bonus=pts(app).config.welcome_bonus)]
    friend = (await app.services.users.seen("console", "friend")).id
    assert await referrals.referrer_of(friend) == (await app.services.users.seen("console", "ref")).id
    assert note(await say(app, f"/start ref_{code}", "friend")) == [line(app, "start.ref.already")]
    assert note(await said(app, f"/start {code.lower()}", "d-friend", "discord")) == joined  # Discord: /start code:<code>
    assert note(await say(app, "/start ref_ZZZZZZZZ", "stranger")) == [line(app, "start.ref.unknown")]
    assert note(await say(app, "/start bad!", "typo")) == [line(app, "start.ref.unknown")]
    assert note(await say(app, "/start", "plain")) == []
    assert note(await say(app, f"/start ref_{code}", "plain")) == [line(app, "start.ref.already")]  # first /start counts

    await say(app, "/invite", "loner")
    own = await referrals.code_of((await app.services.users.seen("console", "loner")).id)
    assert note(await say(app, f"/start {own}", "loner")) == [line(app, "start.ref.self")]
    friend_code = await referrals.code_of(friend)
    assert note(await say(app, f"/start ref_{friend_code}", "ref")) == [line(app, "start.ref.cycle")]
    assert await referrals.referrer_of((await app.services.users.seen("console", "ref")).id) is None


async def test_referrals_agree_with_the_ledger(app: App) -> None:
    empty = (await say(app, "/referrals", "ref")).rendered.text
    assert line(app, "referrals.friends", joined=0, active=0) in empty
    ref = await holder(app, "ref", "", UNIT)
    code = await pts(app).referrals.code_of(ref)
    await said(app, f"/start ref_{code}", "friend")
    await said(app, f"/start ref_{code}", "idle")
    friend = (await app.services.users.seen("console", "friend")).id
    await mint(app, app.profile.index("MAG7.ssi").token.address, await app.services.wallets.create(friend), 2 * UNIT)
    await pts(app).snapshot.run(DAY)

    summary = await pts(app).ledger.referral_summary(ref, "1")
    assert (summary.joined, summary.active) == (2, 1) and summary.total_points > 0
    text = (await say(app, "/referrals", "ref")).rendered.text.splitlines()
    assert text[1:] == [
        line(app, "referrals.friends", joined=2, active=1),
        line(app, "referrals.points", epoch="1", epoch_points=shown(summary.epoch_points), total=shown(summary.total_points)),
        line(app, "referrals.share", share="10%"),
    ]
    assert summary.epoch_points == (await pts(app).ledger.day_breakdown(ref, DAY))["referral"]
    points = (await say(app, "/points", "ref")).rendered.text
    assert line(app, "points.source.referral", points=shown(summary.epoch_points)) in points
    assert Decimal(0) < summary.epoch_points
