"""A member whose DMs are closed to the bot misses nothing meant for them: what Discord refused (50007) is kept and
shown to them, only them, under the interaction they next make, once (bot/frontends/adapters/discord_kept.py),
through the real front end and the loopback stand-in for Discord's REST API (tests/discord_fake.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.app import App
from bot.core.messages import Msg, Reply
from bot.delivery.outbox import codec
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_kept import KEPT_SECONDS
from bot.storage.outbox import NewMessage
from conftest import make_config
from devnet.harness import Devnet
from discord_fake import CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, FakeDiscord, dispatched, message_dict, user_dict
from auxil.catalog import entry as text
from auxil.discord import Interactions, attached_front, shown  # noqa: F401 (attached_front: the fixture `front`)

ALICE = user_dict(940000000000000021, "alice")
alice = Interactions(ALICE)
CANNOT_DM = 50007
EPHEMERAL = 64
FILLED = Msg("cooldown.alert.hint", {"symbol": "MAG7"})  # "Press Claim, or type /claim MAG7."
LATER = Msg("alert.goes_private")  # "Alerts are sent to your private chat with the bot."


async def user_id_of(app: App) -> int:
    row = await app.db.fetch_one("SELECT id FROM users WHERE platform_user_id = :user", {"user": ALICE["id"]})
    assert row is not None
    return int(row[0])


async def settled(app: App, message_id: int, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await app.outbox.rows.state_of(message_id)
        assert state is not None
        if state[0] not in ("pending", "sending"):
            return state[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} still pending after {timeout}s")


async def refused_twice(app: App, front: DiscordFrontend, rest: FakeDiscord) -> list[int]:
    """Alice, known from the server only, with her DMs closed: an alert refused (50007), then one more while the bot
    knows her DMs are closed. Both kept, one request to Discord."""
    await alice.slash(front, "help")
    user_id = await user_id_of(app)
    rest.refuse("POST", "/messages", 403, CANNOT_DM, "Cannot send messages to this user")
    first = await app.outbox.put(user_id, Reply.of(FILLED), "cooldown")
    assert first is not None and await settled(app, first) == "blocked"
    for _ in range(100):  # the outbox marks the message, then its user
        if (await app.db.fetch_one("SELECT blocked_at FROM users WHERE id = :id", {"id": user_id}) or [None])[0] is not None:
            break
        await asyncio.sleep(0.02)
    second = await app.outbox.put(user_id, Reply.of(LATER), "price")
    assert second is not None and await settled(app, second) == "blocked"  # kept, not dropped
    assert len(rest.where("POST", "/messages")) == 1  # the second never asked Discord: her DMs are known closed
    return [first, second]


def kept_shown(app: App, rest: FakeDiscord, since: int, *, hidden: bool = True) -> list[str]:
    """The kept messages the follow-ups of Alice's interaction from `since` on showed, after the line that says why
    (none when there was no such line); each only she sees when `hidden`, none when not."""
    hooks = [c for c in rest.calls[since:] if c.method == "POST" and c.path.startswith("/webhooks/") and c.content]
    intro = text(app, "kept.intro", "en")
    said = [shown(c.content) for c in hooks]
    if intro not in said:
        return []
    kept = hooks[said.index(intro):]
    assert all(bool(c.flags & EPHEMERAL) == hidden for c in kept), [c.body for c in kept]
    return said[said.index(intro) + 1:]


async def test_what_closed_dms_refused_is_shown_only_to_her_at_her_next_command_once(
        app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    kept = await refused_twice(app, front, rest)
    since = len(rest.calls)
    await alice.slash(front, "help")  # in the server's channel
    said = kept_shown(app, rest, since)
    assert len(said) == 2 and said[0].endswith("Press Claim, or type /claim MAG7.")
    assert said[1].endswith(text(app, "alert.goes_private", "en"))
    assert said[0].startswith("<t:")  # when it was meant for her, in her own time zone
    posted = [c for c in rest.calls[since:] if c.method == "POST" and c.path.startswith("/channels/")]
    assert posted == []  # nothing in the server's channel for all to read, nothing tried in her DMs
    assert [(await app.outbox.rows.state_of(k) or ("",))[0] for k in kept] == ["sent", "sent"]

    since = len(rest.calls)
    await alice.slash(front, "help")  # once: the next command shows nothing more
    assert kept_shown(app, rest, since) == []
    assert not [c for c in rest.calls[since:] if "Press Claim" in c.content]


async def test_when_she_writes_in_her_dm_they_are_shown_there_and_stay(app: App, front: DiscordFrontend,
                                                                     rest: FakeDiscord) -> None:
    await refused_twice(app, front, rest)
    rest.refusals.clear()  # she opened her DMs, and uses the bot there
    since = len(rest.calls)
    await alice.slash(front, "help", guild_id=None)
    assert len(kept_shown(app, rest, since, hidden=False)) == 2  # her DM keeps them


async def test_a_bang_command_shows_them_in_her_dm_and_never_in_the_servers_channel(
        app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    await refused_twice(app, front, rest)
    rest.refusals.clear()
    intro = text(app, "kept.intro", "en")
    since = len(rest.calls)
    payload = message_dict("!help", ALICE, CHANNEL_ID, guild_id=GUILD_ID)  # in the server: no way to tell her alone
    await dispatched(lambda: front.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
    assert rest.calls[since:] and not [c for c in rest.calls[since:] if intro in shown(c.content) or "Press Claim" in c.content]

    rest.open_dm(DM_CHANNEL_ID, ALICE)  # she opened her DMs and types there
    since = len(rest.calls)
    payload = message_dict("!help", ALICE, DM_CHANNEL_ID)
    await dispatched(lambda: front.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
    said = [shown(c.content) for c in rest.calls[since:] if c.method == "POST" and c.path == f"/channels/{DM_CHANNEL_ID}/messages"]
    assert intro in said and said[said.index(intro) + 1].endswith("Press Claim, or type /claim MAG7.")
    assert len(said[said.index(intro):]) == 3


async def test_only_those_of_the_last_week_are_shown(app: App, front: DiscordFrontend, rest: FakeDiscord) -> None:
    await refused_twice(app, front, rest)
    rows = app.outbox.rows
    stale = Reply.of(Msg("cooldown.alert.hint", {"symbol": "OLD1"}))
    old = await rows.add(NewMessage("discord", f"user:{ALICE['id']}", await user_id_of(app), "cooldown", 1,
                                    codec.dumps(stale)), now=int(time.time()) - KEPT_SECONDS - 60)
    assert old is not None
    await rows.drop_blocked([old])  # refused a week and a minute ago
    since = len(rest.calls)
    await alice.slash(front, "help")
    said = kept_shown(app, rest, since)
    assert len(said) == 2 and not any("OLD1" in s for s in said)
    assert (await rows.state_of(old) or ("",))[0] == "failed"  # no longer kept either


async def test_the_kept_ones_survive_a_restart(chain: Devnet, tmp_path: Path, rest: FakeDiscord) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    try:
        front = DiscordFrontend(first, "test-token", guild_id=GUILD_ID)
        await front.bot.login("test-token")
        first.notices.attach(front)
        try:
            await refused_twice(first, front, rest)
        finally:
            await first.notices.detach(front)
            await front.bot.close()
    finally:
        await first.stop()

    again = await App.start(config)  # the same database
    try:
        front = DiscordFrontend(again, "test-token", guild_id=GUILD_ID)
        await front.bot.login("test-token")
        try:
            since = len(rest.calls)
            await alice.slash(front, "help")
            said = kept_shown(again, rest, since)
            assert len(said) == 2 and said[0].endswith("/claim MAG7.")
        finally:
            await front.bot.close()
    finally:
        await again.stop()


async def test_a_refusal_its_sender_tells_her_of_at_once_is_not_kept(app: App, front: DiscordFrontend,
                                                                    rest: FakeDiscord) -> None:
    """A connected wallet's signing link that cannot reach her is abandoned and she is told so there and then
    (handlers/shared/confirm.py): that link is not shown again later; a trade's outcome told the same way is."""
    await alice.slash(front, "help")
    user_id = await user_id_of(app)
    rest.refuse("POST", "/messages", 403, CANNOT_DM, "Cannot send messages to this user")
    dm = f"user:{ALICE['id']}"
    assert await app.notices.tell(user_id, "discord", dm, Reply.of(Msg("cooldown.alert.hint", {"symbol": "LINK"})),
                                  keep=False) is None
    assert await app.notices.tell(user_id, "discord", dm, Reply.of(FILLED)) is None
    since = len(rest.calls)
    await alice.slash(front, "help")
    said = kept_shown(app, rest, since)
    assert len(said) == 1 and said[0].endswith("/claim MAG7.")
