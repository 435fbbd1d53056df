"""Discord as a first-class front end, through the real discord.py code paths (payloads fed to its gateway parser,
its REST calls answered by `tests.discord_fake.FakeDiscord` on loopback):

- screens past Discord's five component rows keep their first rows of buttons and offer the rest in a select menu:
  /alerts' sixth switch (Announcements) and a price alert past the fifth, each chosen and acted on;
- options autocompleted from the router's suggestions: index symbols, the user's holdings, "all" with its amount;
- /help without stray markdown escapes; an announcement's preview only its author sees;
- what the command sync tells Discord: moderators' commands for Manage Server only, every command installable by a
  user and usable in servers, DMs and group DMs (moderators' by a server's install only);
- buy, sell and stake in a DM (ordinary messages) and in a server (every personal answer ephemeral).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bot.app import App
from bot.core.amounts import from_base_units
from bot.core.messages import Msg
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_render import DiscordMarkup
from discord_fake import (
    APP_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    Call,
    FakeDiscord,
    autocomplete_payload,
    choice_payload,
    dispatched,
    message_dict,
    press_payload,
    user_dict,
)
from auxil.catalog import text
from auxil.discord import Interactions, shown

ALICE = user_dict(940000000000000031, "alice")
slash = Interactions(ALICE).slash
EPHEMERAL = 64
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MANAGE_GUILD = 1 << 5
GUILD_INSTALL, USER_INSTALL = 0, 1
IN_GUILD, IN_BOT_DM, IN_PRIVATE_CHANNEL = 0, 1, 2


@pytest.fixture
async def global_sync(app: App, rest: FakeDiscord) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """The commands a global sync sent Discord, by name."""
    front = DiscordFrontend(app, "test-token")
    try:
        await front.bot.login("test-token")
        [sync] = rest.where("PUT", f"/applications/{APP_ID}/commands")
        yield {c["name"]: c for c in sync.body}
    finally:
        await front.bot.close()


def answers(rest: FakeDiscord, since: int = 0) -> list[Call]:
    """What the bot said through interactions (callbacks, follow-ups, edits) from `since` on, those with content."""
    return [c for c in rest.calls[since:] if c.method in ("POST", "PATCH") and c.content
            and c.path.startswith(("/interactions/", "/webhooks/"))]


def shown_message(call: Call, *, guild: bool) -> dict[str, Any]:
    """The message an answer became, as a later press quotes it (ephemeral when it was)."""
    body = call.body.get("data", call.body)
    channel = CHANNEL_ID if guild else DM_CHANNEL_ID
    return message_dict(body["content"], user_dict(APP_ID, "indexbot", bot=True), channel, guild_id=GUILD_ID if guild else None,
                        components=body.get("components"), flags=call.flags & EPHEMERAL)


def buttons(call: Call) -> dict[str, str]:
    body = call.body.get("data", call.body)
    return {b["label"]: b["custom_id"] for row in body.get("components") or [] for b in row["components"] if b.get("type") == 2}


def menu_options(call: Call) -> dict[str, tuple[str, str]]:
    """Each select menu choice's label -> (the menu's custom_id, the choice's value)."""
    return {o["label"]: (m["custom_id"], o["value"]) for m in call.menus for o in m["options"]}


async def choose(front: DiscordFrontend, call: Call, label: str, *, guild: bool) -> None:
    custom_id, value = menu_options(call)[label]
    payload = choice_payload(custom_id, value, shown_message(call, guild=guild), ALICE, guild_id=GUILD_ID if guild else None)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]


async def complete(front: DiscordFrontend, rest: FakeDiscord, name: str, focused: str, *, guild: bool = False,
                   **options: str) -> list[tuple[str, str]]:
    """ALICE typing the option `focused` of `/name`: the (name, value) choices the bot's autocomplete answered."""
    payload = autocomplete_payload(name, options, focused, ALICE, guild_id=GUILD_ID if guild else None,
                                   channel_id=CHANNEL_ID if guild else DM_CHANNEL_ID)
    since = len(rest.calls)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    [answer] = [c for c in rest.calls[since:] if c.path.endswith("/callback")]
    assert answer.body["type"] == AUTOCOMPLETE_RESULT
    return [(c["name"], c["value"]) for c in answer.body["data"]["choices"]]


async def user_key(app: App) -> int:
    return (await app.services.users.seen("discord", ALICE["id"])).id


# -- more than five rows: select menus -----------------------------------------------------------------------------


async def test_alerts_offers_the_switches_past_five_rows_in_a_menu_and_the_choice_switches(app: App, frontend: DiscordFrontend,
                                                                                           rest: FakeDiscord) -> None:
    await slash(frontend, "alerts")
    [overview] = answers(rest)[-1:]
    announcements = text(app, "alerts.button.off", kind=Msg("alerts.kind.announcement"))
    offered = [*buttons(overview), *menu_options(overview)]
    kinds = ("rebalance", "digest", "cooldown", "price", "dca", "announcement")
    assert sorted(offered) == sorted([text(app, "alerts.button.prices"),  # the price alerts themselves, first
                                      *(text(app, "alerts.button.off", kind=Msg(f"alerts.kind.{k}")) for k in kinds),
                                      text(app, "alerts.button.on", kind=Msg("alerts.kind.reserves"))])  # opt-in
    assert announcements in menu_options(overview)  # the sixth: in the menu, not lost
    rows = overview.body["data"]["components"]
    assert len(rows) == 5 and overview.flags & EPHEMERAL

    since = len(rest.calls)
    await choose(frontend, overview, announcements, guild=True)
    [edit] = answers(rest, since)
    assert edit.body["type"] == UPDATE_MESSAGE  # the screen edited in place
    assert text(app, "alerts.button.on", kind=Msg("alerts.kind.announcement")) in menu_options(edit)
    settings = await app.services.alert_settings.get(await user_key(app))
    assert settings.switches["announcement"] is False and settings.switches["dca"] is True


async def test_a_price_alert_past_the_fifth_is_deleted_from_the_menu(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    for value in range(201, 208):
        await slash(frontend, "alert", guild_id=None, index="MAG7.ssi", condition="above", value=str(value))
    mine = await app.services.price_alerts.of_user(await user_key(app))
    assert len(mine) == 7
    await slash(frontend, "alert", guild_id=None)
    listing = answers(rest)[-1]
    assert len(buttons(listing)) == 4 and len(menu_options(listing)) == 4  # alerts 5 to 7, and New alert
    seventh = text(app, "alert.button.delete", id=mine[-1].id)
    await choose(frontend, listing, seventh, guild=False)
    assert [a.id for a in await app.services.price_alerts.of_user(await user_key(app))] == [a.id for a in mine[:-1]]
    assert f"#{mine[-1].id}" in shown(answers(rest)[-1].content)


def test_a_row_of_more_than_five_and_more_than_25_overflowing_buttons_still_fit() -> None:
    from bot.core.messages import RenderedButton
    from bot.frontends.adapters.discord_render import layout

    many = tuple((RenderedButton(f"b{i}", f"tok{i:03d}"),) for i in range(60))
    rows, menus = layout(many)
    assert len(rows) + len(menus) == 5 and all(len(m) <= 25 for m in menus)
    assert [b.token for row in rows for b in row] + [b.token for m in menus for b in m] == [f"tok{i:03d}" for i in range(60)]
    wide = (tuple(RenderedButton(f"b{i}", f"t{i}") for i in range(7)),)
    assert [len(r) for r in layout(wide)[0]] == [5, 2] and layout(wide)[1] == []


# -- autocomplete ------------------------------------------------------------------------------------------------------


async def test_index_options_are_completed_with_every_index_and_its_chain(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    everything = await complete(frontend, rest, "quote", "index", index="")
    assert [value for _, value in everything] == [ref.symbol for ref in app.services.all_indexes]
    assert ("MAG7.ssi · Base", "MAG7.ssi") in everything
    assert await complete(frontend, rest, "buy", "index", guild=True, index="mag7.s") == [("MAG7.ssi · Base", "MAG7.ssi")]
    assert await complete(frontend, rest, "buy", "index", index="nothing-like-it") == []
    # no wallet yet: selling offers every index, and "all" with nothing to say how much
    assert len(await complete(frontend, rest, "sell", "index", index="")) == len(app.services.all_indexes)
    assert await complete(frontend, rest, "sell", "amount", index="MAG7.ssi", amount="") == [("all: everything you have", "all")]


async def test_holdings_and_all_are_completed_from_what_the_wallet_holds(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await journey_start(frontend, rest, guild=False)
    await act_and_confirm(frontend, rest, "buy", guild=False, index="MAG7.ssi", amount="100")
    home = app.services.desks.home
    address = (await home.sender(await user_key(app))).address
    mag7 = next(ref for ref in app.services.profile.indexes if ref.symbol == "MAG7.ssi")
    held = from_base_units(await home.balance(address, mag7.token), mag7.token.decimals)
    assert held > 0

    offered = await complete(frontend, rest, "sell", "index", index="")
    assert [value for _, value in offered] == ["MAG7.ssi"]  # only what she holds
    label, _ = offered[0]
    assert label.startswith("MAG7.ssi · you hold ") and Decimal(label.rsplit(" ", 1)[1].replace(",", "")) == held.quantize(Decimal("1e-8"))
    [(all_label, value)] = await complete(frontend, rest, "sell", "amount", guild=True, index="mag7.ssi", amount="a")
    amount = re.fullmatch(r"all \(([0-9.,]+) MAG7\.ssi\)", all_label)
    assert value == "all" and amount is not None and Decimal(amount.group(1).replace(",", "")) == held.quantize(Decimal("1e-8"))
    assert await complete(frontend, rest, "sell", "amount", index="MAG7.ssi", amount="5") == []  # typing a number: nothing

    assert [v for _, v in await complete(frontend, rest, "stake", "asset", asset="")] == ["MAG7.ssi"]
    withdrawable = [v for _, v in await complete(frontend, rest, "withdraw", "asset", asset="")]
    assert "USDC" in withdrawable and "MAG7.ssi" in withdrawable


# -- text, previews, what Discord is told --------------------------------------------------------------------------


def test_a_list_marker_inside_a_line_is_escaped_where_discord_reads_it() -> None:
    assert DiscordMarkup.escape(" - ") == " \\- "
    assert DiscordMarkup.escape("- x") == "\\- x"
    assert "\\ " not in DiscordMarkup.escape("  - two\n - three")


async def test_help_shows_no_stray_escapes(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(frontend, "help", guild_id=None)
    content = "\n".join(answer.content for answer in answers(rest) if answer.content)  # a long answer comes in pieces
    assert not re.search(r"\\\s", content), content  # a backslash before a blank is shown as typed
    seen = shown(content)
    for name in app.router.commands:
        assert f"/{name} - {text(app, f'cmd.{name}')}" in seen


async def test_an_announcements_preview_is_seen_by_its_author_only(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(frontend, "announce", text="Maintenance tonight")  # the default member may Manage Server
    preview = answers(rest)[-1]
    assert "Maintenance tonight" in shown(preview.content) and preview.flags & EPHEMERAL and buttons(preview)
    since = len(rest.calls)
    await slash(frontend, "announce", text="Maintenance tonight", permissions="0")  # no rights: refused, privately too
    [refusal] = answers(rest, since)
    assert refusal.flags & EPHEMERAL and "Maintenance tonight" not in refusal.content


async def test_moderators_commands_are_for_manage_server_and_every_command_installs_anywhere(
        app: App, global_sync: dict[str, dict[str, Any]]) -> None:
    moderators = {name for name, cmd in app.router.commands.items() if cmd.moderator}
    assert moderators == {"announce"}
    for name, command in global_sync.items():
        assert sorted(command["contexts"]) == [IN_GUILD, IN_BOT_DM, IN_PRIVATE_CHANNEL], name
        if name in moderators:
            assert int(command["default_member_permissions"]) == MANAGE_GUILD
            assert command["integration_types"] == [GUILD_INSTALL]
        else:
            assert command["default_member_permissions"] is None, name
            assert sorted(command["integration_types"]) == [GUILD_INSTALL, USER_INSTALL], name


# -- journeys: a DM, a server ----------------------------------------------------------------------------------------


async def act(front: DiscordFrontend, rest: FakeDiscord, name: str, *, guild: bool, **options: str) -> Call:
    since = len(rest.calls)
    await slash(front, name, guild_id=GUILD_ID if guild else None, **options)  # type: ignore[arg-type]
    said = answers(rest, since)
    assert said, f"/{name} got no answer"
    if guild:
        for call in said:  # every answer only Alice sees (an edit of a deferral keeps the deferral's flag)
            assert call.method == "PATCH" or call.flags & EPHEMERAL, f"/{name} in the server: {call.body}"
        assert any(c.flags & EPHEMERAL for c in rest.calls[since:] if c.path.endswith("/callback")) or all(
            c.flags & EPHEMERAL for c in said)
    else:
        assert not any(c.flags & EPHEMERAL for c in said), f"/{name} in the DM was hidden"
    return said[-1]


async def press(front: DiscordFrontend, rest: FakeDiscord, call: Call, label: str, *, guild: bool) -> Call:
    message = shown_message(call, guild=guild)
    if message["flags"] & EPHEMERAL:  # Discord's channel routes do not reach it
        rest.ephemeral(message)
    payload = press_payload(buttons(call)[label], message, ALICE, guild_id=GUILD_ID if guild else None)
    since = len(rest.calls)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    said = answers(rest, since)
    assert said, f"{label} got no answer"
    if guild:
        assert all(c.flags & EPHEMERAL or c.body.get("type") == UPDATE_MESSAGE or c.method == "PATCH" for c in said)
    return said[-1]


async def act_and_confirm(front: DiscordFrontend, rest: FakeDiscord, name: str, *, guild: bool, **options: str) -> Call:
    return await press(front, rest, await act(front, rest, name, guild=guild, **options), "Confirm", guild=guild)


async def journey_start(front: DiscordFrontend, rest: FakeDiscord, *, guild: bool) -> None:
    created = await act(front, rest, "wallet", guild=guild, action="new")
    assert "Your new wallet" in shown(created.content)
    assert shown((await act(front, rest, "pin", guild=guild, pin="4821")).content).startswith("PIN set")
    assert "10,000 USDC" in shown((await act(front, rest, "faucet", guild=guild)).content)


@pytest.mark.parametrize("guild", [False, True], ids=["dm", "server"])
async def test_buy_sell_and_stake_with_personal_answers_hidden_in_a_server(app: App, frontend: DiscordFrontend, rest: FakeDiscord,
                                                                           guild: bool) -> None:
    await journey_start(frontend, rest, guild=guild)
    bought = await act_and_confirm(frontend, rest, "buy", guild=guild, index="MAG7.ssi", amount="100")
    assert shown(bought.content).startswith("Confirmed in block") and "for 100 USDC" in shown(bought.content)
    sold = await act_and_confirm(frontend, rest, "sell", guild=guild, index="MAG7.ssi", amount="0.5")
    assert shown(sold.content).startswith("Confirmed in block") and "0.5 MAG7.ssi" in shown(sold.content)
    staked = await act_and_confirm(frontend, rest, "stake", guild=guild, asset="MAG7.ssi", amount="0.2")
    assert "staked 0.2 MAG7.ssi" in shown(staked.content)
    positions = await act(frontend, rest, "positions", guild=guild)
    assert "MAG7.ssi" in shown(positions.content)
    if guild:  # nothing of it in the channel for all to read
        assert not [c for c in rest.calls if c.method == "POST" and c.path == f"/channels/{CHANNEL_ID}/messages"]
