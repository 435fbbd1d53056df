"""A trade made in a Discord server is its maker's business, through discord.py's real code paths (tests/discord_fake.py):

- buy, sell and stake confirmed in a server channel whose outcome outlives the inline wait: the outcome reaches the
  user in their DM; nothing is posted or edited in the server's channel, the channel is not rested and no moderator
  (nor the server's owner) is told. Before, the follow-up edited the ephemeral quote through the channel's route,
  Discord answered 404 (only the interaction's webhook reaches an ephemeral message), and the channel was taken
  for lost: rested, its moderators told, and a later trade's news would have been posted there for all;
- the same after a restart: the intent as stored says where its news goes;
- a 404 Unknown Message on an edit is the message's, never the channel's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config
from bot.trading.ports import TradeSettings
from bot.core.messages import Msg, Reply
from bot.delivery.announce.config import AnnounceConfig
from bot.frontends.adapters.discord import DiscordFrontend
from conftest import make_config
from devnet import anvil as anvil_rpc
from devnet.harness import Devnet
from web3 import AsyncWeb3
from discord_fake import APP_ID, CHANNEL_ID, GUILD_ID, Call, FakeDiscord, dispatched, message_dict, press_payload, user_dict
from auxil.discord import Interactions, answered, attached_front, in_server, shown  # noqa: F401 (attached_front: the fixture `front`)

ALICE = user_dict(940000000000000041, "alice")
acts = Interactions(ALICE)
MODERATOR = 940000000000000099
EPHEMERAL = 64
BOT = user_dict(APP_ID, "indexbot", bot=True)


def server_config(chain: Devnet, home: Path) -> Config:
    """One configured Discord moderator, and trades whose outcome always outlives the inline wait (answered
    "submitted", the outcome told after)."""
    return make_config(chain, home, announce=AnnounceConfig(discord_moderators=frozenset({str(MODERATOR)})),
                       trading=TradeSettings(inline_wait_seconds=0.0))


@pytest.fixture
async def app(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """The app with one configured Discord moderator, and trades whose outcome always outlives the inline wait."""
    bot = await App.start(server_config(chain, tmp_path))
    try:
        yield bot
    finally:
        await bot.stop()


async def press_on(front: DiscordFrontend, rest: FakeDiscord, answer: Call, label: str) -> Call:
    """Press `label` on the ephemeral message `answer` became in the server's channel (only Alice sees it)."""
    body = answer.body.get("data", answer.body)
    components = body.get("components") or []
    custom_id = next(b["custom_id"] for row in components for b in row["components"] if b.get("label") == label)
    message = rest.ephemeral(message_dict(body["content"], BOT, CHANNEL_ID, guild_id=GUILD_ID, components=components,
                                          flags=EPHEMERAL))
    since = len(rest.calls)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(press_payload(custom_id, message, ALICE)))  # type: ignore[arg-type]
    return answered(rest, since)


def in_channel(rest: FakeDiscord) -> list[Call]:
    """What reached the server's channel by its own routes (sent, edited, read): never a user's news."""
    return [c for c in rest.calls if c.path.startswith(f"/channels/{CHANNEL_ID}")]


async def told_moderators(app: App) -> list[Any]:
    return list(await app.db.fetch_all("SELECT chat_id, dedupe FROM outbox WHERE kind = 'notice'"))


async def dm_said(rest: FakeDiscord, words: str) -> Call:
    """The DM (a channel the bot opened with Alice) carrying `words`, once it came."""
    def found(c: Call) -> bool:
        channel = c.path.split("/")[2] if c.path.startswith("/channels/") else ""
        return (c.method == "POST" and c.path.endswith("/messages") and rest.dms.get(channel, {}).get("id") == ALICE["id"]
                and words in shown(c.content))

    return await rest.wait_for(found)


async def server_journey_start(front: DiscordFrontend, rest: FakeDiscord) -> None:
    await in_server(acts, front, rest, "wallet", action="new")
    await in_server(acts, front, rest, "pin", pin="4821")
    await in_server(acts, front, rest, "faucet")


@pytest.mark.parametrize("steps", [
    [("buy", {"index": "MAG7.ssi", "amount": "100"}, "for 100 USDC")],
    [("buy", {"index": "MAG7.ssi", "amount": "100"}, "for 100 USDC"),
     ("sell", {"index": "MAG7.ssi", "amount": "0.5"}, "0.5 MAG7.ssi"),
     ("stake", {"asset": "MAG7.ssi", "amount": "0.2"}, "0.2 MAG7.ssi")],
], ids=["buy", "buy-sell-stake"])
async def test_a_trades_outcome_after_the_inline_wait_goes_to_the_users_dm_never_the_servers_channel(
        app: App, front: DiscordFrontend, rest: FakeDiscord, steps: list[tuple[str, dict[str, str], str]]) -> None:
    await server_journey_start(front, rest)
    for name, options, outcome in steps:
        quote = await in_server(acts, front, rest, name, **options)
        submitted = await press_on(front, rest, quote, "Confirm")
        assert "Confirmed" not in shown(submitted.content)  # the outcome outlived the inline wait
        told = await dm_said(rest, outcome)
        assert shown(told.content).startswith("Confirmed in block") or "staked" in shown(told.content), told.content
    assert in_channel(rest) == []
    assert front._lost == {}
    assert await told_moderators(app) == []
    rows = await app.db.fetch_all("SELECT chat_id, message_ref FROM intents")
    assert {(r[0], r[1]) for r in rows} == {(f"user:{ALICE['id']}", None)}  # as stored: a restart tells the DM too


async def test_a_trade_confirmed_in_a_server_is_told_in_the_dm_after_a_restart(chain: Devnet, w3: AsyncWeb3, tmp_path: Path,
                                                                               rest: FakeDiscord) -> None:
    """The process that confirmed the trade stops while it is not mined yet; the next run reconciles the intent and
    tells its outcome where the intent says: the user's DM, never the server's channel."""
    config = server_config(chain, tmp_path)
    first = await App.start(config)
    front = DiscordFrontend(first, "test-token", guild_id=GUILD_ID)
    try:
        await front.bot.login("test-token")
        await server_journey_start(front, rest)
        quote = await in_server(acts, front, rest, "buy", index="MAG7.ssi", amount="100")
        await anvil_rpc.node_call(w3, "evm_setAutomine", False)
        try:
            submitted = await press_on(front, rest, quote, "Confirm")
            assert "Confirmed" not in shown(submitted.content)
        finally:
            await front.bot.close()
            await first.stop()  # before the block comes
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
    except BaseException:
        await front.bot.close()
        raise
    await anvil_rpc.node_call(w3, "evm_mine")
    second = await App.start(config)
    again = DiscordFrontend(second, "test-token", guild_id=GUILD_ID)
    try:
        await again.bot.login("test-token")
        second.notices.attach(again)
        await second.reconcile()
        told = await dm_said(rest, "for 100 USDC")
        assert shown(told.content).startswith("Confirmed in block")
        assert in_channel(rest) == [] and again._lost == {} and await told_moderators(second) == []
    finally:
        await second.notices.detach(again)
        await again.bot.close()
        await second.stop()


@pytest.mark.parametrize("dm", [False, True], ids=["server-channel", "dm"])
async def test_an_edit_of_an_unknown_message_never_rests_the_channel(app: App, front: DiscordFrontend, rest: FakeDiscord,
                                                                     dm: bool) -> None:
    """An outcome stored before this fix (the server's channel, the ephemeral quote's id): the edit's 404 Unknown
    Message is the message's. In a server's channel nothing is posted instead and the channel stays in use; in a DM
    the news goes as a new message."""
    ephemeral = rest.ephemeral(message_dict("quote", BOT, CHANNEL_ID, guild_id=GUILD_ID, flags=EPHEMERAL))
    chat = str(CHANNEL_ID)
    if dm:
        rest.open_dm(CHANNEL_ID, ALICE)  # the same id, now Alice's DM
        front.bot.dm_channels.add(chat)
    delivery = await front.post(chat, app.services.catalogs.render(Reply.of(Msg("error.trade.expired")), "en",
                                                                   front.markup.escape, front.markup.style),
                                ephemeral["id"])
    [edit] = rest.where("PATCH", f"/channels/{CHANNEL_ID}/messages/{ephemeral['id']}")
    assert edit.status == 404
    sent = rest.where("POST", f"/channels/{CHANNEL_ID}/messages")
    assert (delivery.status, len(sent)) == (("sent", 1) if dm else ("failed", 0))
    assert front._lost == {} and await told_moderators(app) == []
