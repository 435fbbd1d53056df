"""Messages nobody asked for right now, sent by the outbox through the real Discord front end to the loopback
stand-in for Discord's REST API (tests/discord_fake.py): what a refusal means, DMs opened when first needed,
and limits discord.py leaves to us.

- A 403/404 from a server channel is about the channel: the user is never marked as having blocked the bot;
  the channel rests and the moderators are told. Only 50007 on a DM means the user closed their DMs.
- A user known only from a server gets their alerts: the DM channel is opened once (POST /users/@me/channels),
  its id stored, and every DM after is one request; /alert says at once when their DMs are closed.
- A 429 discord.py raises (Cloudflare's, a global limit) holds every send for Retry-After, doubling when it
  comes again, and every invalid request is counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.frontends.adapters import discord as discord_adapter
from bot.frontends.adapters.discord import SENDS_AT_ONCE, DiscordFrontend
from bot.frontends.adapters.discord_limits import Backoff
from bot.delivery.announce.config import AnnounceConfig
from bot.app import App
from bot.core.messages import Msg, Reply
from bot.metrics import INVALID_REQUESTS
from conftest import make_config
from devnet.harness import Devnet
from discord_fake import CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, GUILD_NAME, GUILD_OWNER_ID, FakeDiscord, user_dict
from auxil.catalog import entry as text  # the bare entry, unfilled
from auxil.discord import Interactions, dm_press, dm_slash, attached_front, shown  # noqa: F401 (attached_front: the fixture `front`)

ALICE = user_dict(940000000000000011, "alice")
# This file's Alice; her slash commands come from the server's channel even outside a server, as its copy had it.
slash = Interactions(ALICE, dm_channel=CHANNEL_ID).slash
MODERATOR = 940000000000000099
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
CANNOT_DM = 50007


@pytest.fixture
async def app(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """The app with one configured Discord moderator."""
    bot = await App.start(make_config(chain, tmp_path, announce=AnnounceConfig(discord_moderators=frozenset({str(MODERATOR)}))))
    try:
        yield bot
    finally:
        await bot.stop()


async def user_row(app: App) -> tuple[int, str | None, int | None]:
    row = await app.db.fetch_one("SELECT id, dm_chat, blocked_at FROM users WHERE platform_user_id = :user", {"user": ALICE["id"]})
    assert row is not None
    return int(row[0]), row[1], row[2]


async def settled(app: App, message_id: int, timeout: float = 15.0) -> str:
    """The message's final state once the outbox decided it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await app.notices.outbox.rows.state_of(message_id)
        assert state is not None
        if state[0] not in ("pending", "sending"):
            return state[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} still {state[0]} after {timeout}s")


# -- a channel's refusal is the channel's, a DM's 50007 is the user's ------------------------------------------


@pytest.mark.parametrize(("status", "code", "readable"), [
    (403, MISSING_ACCESS, False),  # the bot may no longer see the channel: Discord will not say whose it is
    (404, 10003, False),  # deleted
    (403, MISSING_PERMISSIONS, True),  # seen but not written to: its server, and so its owner, can be asked
])
async def test_a_server_channel_refusing_the_bot_rests_the_channel_tells_moderators_and_never_mutes_the_user(
        app: App, front: DiscordFrontend, rest: FakeDiscord, status: int, code: int, readable: bool) -> None:
    """The front end has no gateway, as a fleet's sender: nothing about the server is cached."""
    await slash(front, "help")  # alice is known from the server only
    user_id, _, _ = await user_row(app)
    rest.refuse("POST", f"/channels/{CHANNEL_ID}/messages", status, code)
    if not readable:
        rest.refuse("GET", f"/channels/{CHANNEL_ID}", status, code)
    invalid = INVALID_REQUESTS.labels(platform="discord", status=str(status))
    before = invalid._value.get()
    outbox = app.notices.outbox
    progress = await outbox.put_chat("discord", str(CHANNEL_ID), Reply.of(Msg("help.title")), "trade", user_id=user_id)
    assert progress is not None and await settled(app, progress) == "failed"
    assert (await user_row(app))[2] is None  # not marked as having blocked the bot

    again = await outbox.put_chat("discord", str(CHANNEL_ID), Reply.of(Msg("help.title")), "trade", user_id=user_id)
    assert again is not None and await settled(app, again) == "failed"
    assert len(rest.where("POST", f"/channels/{CHANNEL_ID}/messages")) == 1  # the channel rests: no second refusal
    asked = [(c.path, c.status) for c in rest.calls if c.method == "GET"]
    assert asked == ([(f"/channels/{CHANNEL_ID}", 200), (f"/guilds/{GUILD_ID}", 200)] if readable else
                     [(f"/channels/{CHANNEL_ID}", status)])  # once, when the channel was lost
    assert invalid._value.get() - before == sum(c.status == 403 for c in rest.calls)  # Discord counts 403s, not 404s

    alert = await outbox.put(user_id, Reply.of(Msg("help.title")), "price")  # the user's own alerts still go
    assert alert is not None and await settled(app, alert) == "sent"
    moderators = {str(MODERATOR), str(GUILD_OWNER_ID)} if readable else {str(MODERATOR)}
    for _ in range(100):  # the moderators' DMs, queued beside it
        if len(rest.where("POST", "/messages")) >= 2 + len(moderators):
            break
        await asyncio.sleep(0.05)
    opened = {str(c.body["recipient_id"]) for c in rest.where("POST", "/users/@me/channels")}
    assert opened == {ALICE["id"], *moderators}
    told = [c for c in rest.where("POST", "/messages") if "can no longer post" in c.content]
    assert {rest.dms[c.path.split("/")[2]]["id"] for c in told} == moderators and len(told) == len(moderators)
    for notice in told:
        where = ("general", GUILD_NAME) if readable else (str(CHANNEL_ID), "?")
        assert all(name in notice.content for name in where) and f"{status} " in notice.content


async def test_only_50007_on_a_dm_means_the_user_closed_their_dms(app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(front, "help")
    user_id, _, _ = await user_row(app)
    rest.refuse("POST", "/messages", 403, CANNOT_DM, "Cannot send messages to this user")
    first = await app.notices.outbox.put(user_id, Reply.of(Msg("help.title")), "price")
    assert first is not None and await settled(app, first) == "blocked"
    for _ in range(100):  # the outbox marks the message, then its user
        if (await user_row(app))[2] is not None:
            break
        await asyncio.sleep(0.02)
    assert (await user_row(app))[2] is not None
    later = await app.notices.outbox.put(user_id, Reply.of(Msg("help.title")), "price")  # kept for her next interaction,
    assert later is not None and await settled(app, later) == "blocked"  # not tried again (tests/test_discord_kept.py)
    assert len(rest.where("POST", "/messages")) == 1
    assert not [c for c in rest.calls if "can no longer post" in c.content]  # no moderator told of a user's choice


async def test_a_dm_refusing_in_a_later_run_is_no_servers_channel(
        app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    """A refusal other than 50007 from a user's DM, in a process that never saw that DM (the next run, or a fleet's
    sender): neither the user's mark nor a server channel's, so no moderator hears of a lost channel."""
    await slash(front, "help", guild_id=None, channel_id=DM_CHANNEL_ID)  # alice writes to the bot in her DM
    user_id, dm_chat, _ = await user_row(app)
    assert dm_chat == str(DM_CHANNEL_ID)
    await app.notices.detach(front)
    later = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)  # nothing remembered in memory
    await later.bot.login("test-token")
    app.notices.attach(later)
    rest.refuse("POST", f"/channels/{DM_CHANNEL_ID}/messages", 403, MISSING_ACCESS, times=1)
    rest.calls.clear()
    try:
        refused = await app.notices.outbox.put(user_id, Reply.of(Msg("help.title")), "price")
        assert refused is not None and await settled(app, refused) == "failed"
        assert (await user_row(app))[2] is None
        again = await app.notices.outbox.put(user_id, Reply.of(Msg("help.title")), "price")
        assert again is not None and await settled(app, again) == "sent"  # a DM is not rested like a server's channel
        await asyncio.sleep(0.3)  # a moderator's notice, were one queued, would be sent by now
        assert not rest.where("POST", "/users/@me/channels")
        assert not [c for c in rest.calls if "can no longer post" in c.content]
    finally:
        await app.notices.detach(later)
        await later.bot.close()


# -- DMs opened when first needed ----------------------------------------------------------------------------


async def test_a_server_only_user_gets_alerts_through_a_dm_opened_once(app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(front, "alert", index="MAG7.ssi", condition="above", value="500000")
    answer = rest.where("POST", "/webhooks/")[-1]
    assert "Alert #1 set" in answer.content and text(app, "alert.goes_private") in answer.content
    [opened] = rest.where("POST", "/users/@me/channels")
    assert str(opened.body["recipient_id"]) == ALICE["id"]
    dm = next(iter(rest.dms))
    # the first DM: its channel opened, then one send through a partial messageable (no GET of the channel)
    assert [(c.method, c.path) for c in rest.calls if c.path.startswith(("/channels/", "/users/"))] == [
        ("POST", "/users/@me/channels"), ("POST", f"/channels/{dm}/messages")]
    [confirmation] = rest.where("POST", f"/channels/{dm}/messages")
    assert "Alert #1 set" in confirmation.content and text(app, "alert.arrives_here") in confirmation.content
    user_id, dm_chat, blocked = await user_row(app)
    assert dm_chat == dm and blocked is None  # stored for the next run too

    rest.calls.clear()
    alert = await app.notices.outbox.put(user_id, Reply.of(Msg("help.title")), "price")
    assert alert is not None and await settled(app, alert) == "sent"
    assert [(c.method, c.path) for c in rest.calls] == [("POST", f"/channels/{dm}/messages")]  # one request a DM


async def test_a_new_run_sends_to_the_stored_dm_in_one_request(app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(front, "alert", index="MAG7.ssi", condition="above", value="500000")
    dm = next(iter(rest.dms))
    user_id, _, _ = await user_row(app)
    await app.notices.detach(front)
    later = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)  # nothing remembered in memory
    await later.bot.login("test-token")
    app.notices.attach(later)
    rest.calls.clear()
    try:
        alert = await app.notices.outbox.put(user_id, Reply.of(Msg("help.title")), "price")
        assert alert is not None and await settled(app, alert) == "sent"
        assert [(c.method, c.path) for c in rest.calls] == [("POST", f"/channels/{dm}/messages")]
    finally:
        await app.notices.detach(later)
        await later.bot.close()


async def test_alert_in_a_server_says_at_once_when_dms_are_closed_in_the_users_language(
        app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    rest.refuse("POST", "/messages", 403, CANNOT_DM, "Cannot send messages to this user")
    started = time.monotonic()
    await slash(front, "alert", locale="zh-CN", index="MAG7.ssi", condition="above", value="500000")
    assert time.monotonic() - started < 10
    answer = rest.where("POST", "/webhooks/")[-1]
    assert text(app, "alert.dm_closed", "zh_CN") in answer.content
    assert text(app, "alert.goes_private", "zh_CN") not in answer.content
    user_id, _, blocked = await user_row(app)
    assert blocked is not None

    rest.refusals.clear()  # they allowed DMs from the server and ask again: tried once more, and it works
    await slash(front, "alert", locale="zh-CN", index="MAG7.ssi", condition="below", value="1")
    answer = rest.where("POST", "/webhooks/")[-1]
    assert text(app, "alert.goes_private", "zh_CN") in answer.content and (await user_row(app))[2] is None


# -- limits discord.py does not absorb -----------------------------------------------------------------------


def test_backoff_honours_retry_after_doubles_in_a_row_and_holds_everything_only_for_a_global_limit() -> None:
    now = [100.0]
    backoff = Backoff(base=1.0, cap=60.0, clock=lambda: now[0])
    assert backoff.refused(2.5, everything=False) == 2.5 and backoff.until == 0.0
    assert backoff.refused(None, everything=True) == 2.0 and backoff.until == 102.0
    assert backoff.refused(0.5, everything=True) == 4.0 and backoff.until == 104.0
    assert [backoff.refused(None, False) for _ in range(5)] == [8.0, 16.0, 32.0, 60.0, 60.0]
    backoff.passed()
    assert backoff.refused(3.0, everything=False) == 3.0


async def test_a_global_429_holds_every_send_for_retry_after_and_counts_invalid_requests(
        app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    front.backoff = Backoff(base=0.25)
    retry_after = 0.5
    counted = INVALID_REQUESTS.labels(platform="discord", status="429")
    before = counted._value.get()
    rest.rate_limit("POST", "/messages", retry_after, until=time.monotonic() + 1.2)
    outbox = app.notices.outbox
    ids = [await outbox.put_chat("discord", str(CHANNEL_ID + i), Reply.of(Msg("help.title")), "announcement") for i in range(6)]
    assert all(ids)
    states = [await settled(app, i) for i in ids if i is not None]
    assert states == ["sent"] * 6
    sends = rest.where("POST", "/messages")
    limited = [c for c in sends if c.status == 429]
    assert 1 <= len(limited) <= 4, [round(c.at - sends[0].at, 2) for c in limited]  # not one per message and retry
    first = limited[0]
    too_soon = [c for c in sends if c is not first and first.at <= c.at < first.at + retry_after - 0.02]
    # nothing left while the limit held, whichever chat it was for, but the one send already on its way beside it
    assert len(too_soon) <= SENDS_AT_ONCE - 1, [round(c.at - first.at, 3) for c in too_soon]
    assert counted._value.get() - before == len(limited)


@pytest.mark.parametrize(("method", "path", "code", "message"), [
    ("PATCH", "/messages/@original", 10008, "Unknown Message"),  # the quote deleted meanwhile
    ("POST", "/callback", 10062, "Unknown interaction"),  # the press answered too late: the deferral and the edit refused
])
async def test_a_trade_whose_edit_fails_is_told_in_a_new_message(app: App, front: DiscordFrontend, rest: FakeDiscord,
                                                                 monkeypatch: pytest.MonkeyPatch, method: str, path: str,
                                                                 code: int, message: str) -> None:
    """Issue 15 on Discord: when the edit showing a trade's outcome failed (the message deleted meanwhile, the
    interaction too old), the trade went through but the user was never told (the error ended its handling)."""
    await dm_slash(front, rest, "wallet", action="new")
    await dm_slash(front, rest, "pin", pin="4821")
    await dm_slash(front, rest, "faucet")
    quote = await dm_slash(front, rest, "buy", index="MAG7.ssi", amount="100")
    monkeypatch.setattr(discord_adapter, "ANSWER_WITHIN", 0.0)  # deferred at once: the outcome is an edit of @original
    rest.refuse(method, path, 404, code, message)
    failed = await dm_press(front, rest, quote, "Confirm")
    assert failed.status == 404 and failed.method == method and path in failed.path
    told = await rest.wait_for(lambda c: c.method == "POST" and c.path == f"/channels/{DM_CHANNEL_ID}/messages"
                               and "Confirmed in block" in c.content)
    assert "for 100 USDC" in shown(told.content)
    row = await app.db.fetch_one("SELECT id, kind FROM outbox WHERE chat_id = :chat ORDER BY id DESC",
                                 {"chat": str(DM_CHANNEL_ID)})
    assert row is not None and row[1] == "trade"  # stored before it was sent: a restart would not lose it
    assert await settled(app, row[0]) == "sent"
