"""The Discord adapter through the real discord.py code paths; only the network edge is replaced.

- Prefix commands go through dpytest (its fake HTTP client and fake gateway state) and, where the test must
  see the components and allowed mentions that dpytest drops, through `parse_message_create` with a
  loopback REST fake.
- Slash commands and button presses are real INTERACTION_CREATE payloads fed to
  `client._connection.parse_interaction_create`, so discord.py's own command tree, option parsing,
  dynamic-item matching and interaction-response code run; its REST calls (callback, follow-up webhook,
  channel messages, command sync) land on `tests.discord_fake.FakeDiscord` on 127.0.0.1.
"""

from __future__ import annotations

from types import SimpleNamespace

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_render import DiscordMarkup, chunks
from bot.frontends.adapters.discord_commands import CatalogTranslator, build_command, ordered_args
from bot.app import App
from bot.core.messages import Button, Msg, Rendered, RenderedButton, Reply
from bot.core.request import Caller
from bot.i18n import Catalogs
from devnet import operator
from devnet.harness import Devnet
from discord_fake import (  # tests/ is on sys.path (rootdir conftest)
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    Call,
    FakeDiscord,
    dispatched,
    message_dict,
    user_dict,
)
from auxil.discord import ALICE, BOB, dm_press, dm_slash, last_sent, press, shown, slash

BUTTON_ID = re.compile(r"^b:[A-Za-z0-9_-]+$")
DEFERRED_WITH_THINKING = 5
CHANNEL_MESSAGE = 4
UPDATE_MESSAGE = 7
EPHEMERAL = 64


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
async def dpy(app: App) -> AsyncIterator[DiscordFrontend]:
    """The adapter on dpytest's backend; dpytest needs the members intent to build its fake members."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    front = DiscordFrontend(app, "unused", intents=intents)
    await front.bot._async_setup_hook()
    dpytest.configure(front.bot)
    try:
        yield front
    finally:
        await dpytest.empty_queue()


def reply_message(call: Call) -> dict[str, Any]:
    """The message a sent reply became, as the pressed message of a later button press."""
    body = call.body.get("data", call.body)
    return message_dict(body["content"], user_dict(APP_ID, "indexbot", bot=True), CHANNEL_ID, guild_id=GUILD_ID, components=body.get("components"))


def button_message(*custom_ids: str) -> dict[str, Any]:
    """A message of the bot's carrying buttons with these custom_ids, as a press payload quotes it."""
    row = {"type": 1, "components": [{"type": 2, "style": 2, "label": "x", "custom_id": c} for c in custom_ids]}
    return message_dict("x", user_dict(APP_ID, "indexbot", bot=True), CHANNEL_ID, guild_id=GUILD_ID, components=[row])


def assert_quote(text: str, block_from: int, block_to: int) -> None:
    assert "Buy quote: MAG7.ssi" in text
    assert "NAV $" in text
    block = int(re.search(r"Computed at block (\d+)\.", text).group(1))  # type: ignore[union-attr]
    assert block_from <= block <= block_to


# -- without a chain: markup, splitting, option order, translator ------------------------------------------


def test_markup_escapes_markdown_and_mentions_and_styles_lines() -> None:
    assert DiscordMarkup.escape("**x**_y @everyone") == "\\*\\*x\\*\\*\\_y @\u200beveryone"
    assert DiscordMarkup.style("title", "T") == "**T**"
    assert DiscordMarkup.style("code", "c") == "`c`"
    assert DiscordMarkup.style("text", "t") == "t"


def test_long_replies_split_on_lines_under_the_limit() -> None:
    parts = chunks("\n".join(["x" * 900] * 5))
    assert [len(p) for p in parts] == [1801, 1801, 900]
    assert chunks("y" * 4100) == ["y" * 2000, "y" * 2000, "y" * 100]


def test_options_become_args_in_declared_order() -> None:
    assert ordered_args("quote", {"unit": "tokens", "index": "MAG7", "amount": "2"}) == ("MAG7", "2", "tokens")
    assert ordered_args("quote", {"index": "MAG7", "amount": None, "unit": None}) == ("MAG7",)
    assert ordered_args("quote", {"index": "MAG7", "amount": None, "unit": "tokens"}) == ("MAG7", "", "tokens")
    assert ordered_args("not-in-the-table", {"args": " 10  sMAG7 "}) == ("10", "sMAG7")  # free-text fallback


async def test_translator_gives_each_discord_language_its_catalog() -> None:
    catalogs = Catalogs()
    translator = CatalogTranslator(catalogs)
    described = app_commands.locale_str("Quote", key="cmd.quote")
    ctx: app_commands.TranslationContextTypes = app_commands.TranslationContext(app_commands.TranslationContextLocation.other, None)
    assert await translator.translate(described, discord.Locale.chinese, ctx) == catalogs.text("cmd.quote", "zh_CN")
    assert "报价" in (await translator.translate(described, discord.Locale.chinese, ctx) or "")
    for locale in (discord.Locale.american_english, discord.Locale.french, discord.Locale.japanese, discord.Locale.taiwan_chinese):
        shipped = catalogs.match(locale.value) or "en"  # English for a language not shipped (French)
        assert await translator.translate(described, locale, ctx) == catalogs.text("cmd.quote", shipped)
    assert await translator.translate(app_commands.locale_str("quote"), discord.Locale.chinese, ctx) is None


# -- command tree -----------------------------------------------------------------------------------------


async def test_commands_synced_to_the_guild_one_per_router_command(app: App, rest: FakeDiscord) -> None:
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    try:
        await front.bot.login("test-token")
        syncs = rest.where("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
        assert len(syncs) == 1
        commands = {c["name"]: c for c in syncs[0].body}
        assert list(commands) == list(app.router.commands)
        quote = commands["quote"]
        options = {o["name"]: o for o in quote["options"]}
        assert list(options) == ["index", "amount", "unit"]
        assert options["index"]["required"] is True and not options["amount"].get("required")
        assert options["index"]["autocomplete"] is True and not options["index"].get("choices")  # Router.suggest
        assert not options["amount"].get("autocomplete")
        assert [c["value"] for c in options["unit"]["choices"]] == ["usdc", "tokens"]
        lang_codes = [c["value"] for c in commands["lang"]["options"][0]["choices"]]
        assert lang_codes == [*app.services.catalogs.locales, "auto"]
        assert quote["description"] == app.services.catalogs.text("cmd.quote", "en")
        assert quote["description_localizations"]["zh-CN"] == app.services.catalogs.text("cmd.quote", "zh_CN")
        assert commands["help"]["description_localizations"]["en-GB"] == app.services.catalogs.text("cmd.help", "en")
    finally:
        await front.bot.close()


async def test_start_syncs_globally_keeps_connecting_and_stop_closes(app: App, rest: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []
    real_connect = DiscordWebSocket.from_client

    async def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append("connect")
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL("ws://127.0.0.1:9/"))  # nobody listens there
    monkeypatch.setattr(DiscordWebSocket, "from_client", counted)
    front = DiscordFrontend(app, "test-token")
    await front.start()
    try:
        assert len(rest.where("PUT", f"/applications/{APP_ID}/commands")) == 1
        assert rest.where("PUT", "/guilds/") == []
        for _ in range(100):  # a second attempt needs our retry (discord.py ends on its AttributeError); backoff is random
            if len(attempts) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(attempts) >= 2 and front._gateway is not None and not front._gateway.done()
        assert app.services.points is not None and front.bot.user is not None
        assert front.bot.user.name in app.services.points.bot_names  # no /name may look like the bot's
        assert app.services.announcements is not None and "discord" in app.services.announcements.standings
    finally:
        await asyncio.wait_for(front.stop(), timeout=10)
    assert front.bot.is_closed()


# -- slash commands ---------------------------------------------------------------------------------------


async def test_slash_quote_defers_then_follows_up_with_a_live_quote(frontend: DiscordFrontend, rest: FakeDiscord, app: App) -> None:
    before = await app.chain.block_number()
    await slash(frontend, "quote", index="MAG7.ssi", amount="100")
    after = await app.chain.block_number()
    callback, followup = rest.sent()
    assert callback.path.endswith("/callback") and callback.body["type"] == DEFERRED_WITH_THINKING
    assert followup.method == "POST" and followup.path.startswith(f"/webhooks/{APP_ID}/")
    assert_quote(followup.content, before, after)
    assert followup.custom_ids and all(BUTTON_ID.match(c) for c in followup.custom_ids)
    assert followup.allowed_mentions == {"parse": []}


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("-5", "The amount cannot be negative (-5)."), ("NaN", '"NaN" is not an amount.'), ("", "Please give an amount of USDC")],
)
async def test_slash_quote_bad_amount_gets_the_localized_error(frontend: DiscordFrontend, rest: FakeDiscord, amount: str, expected: str) -> None:
    options = {"index": "MAG7.ssi", "amount": amount} if amount else {"index": "MAG7.ssi", "unit": "usdc"}
    await slash(frontend, "quote", **options)
    reply = last_sent(rest)
    assert expected in shown(reply.content)
    assert "Buy quote" not in reply.content and not reply.custom_ids


async def test_slash_quote_in_chinese_for_zh_cn(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(frontend, "quote", index="MAG7.ssi", amount="100", locale="zh-CN")
    text = last_sent(rest).content
    assert "**买入报价：MAG7.ssi**" in text and "计算于区块" in text and "净值" in text


async def test_slash_start_is_answered_directly_with_buttons(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(frontend, "start")
    (callback,) = rest.sent()
    assert callback.path.endswith("/callback") and callback.body["type"] == CHANNEL_MESSAGE
    assert "**Welcome to indexbot**" in callback.content
    assert len(callback.custom_ids) == 10 and all(BUTTON_ID.match(c) for c in callback.custom_ids)  # the home screen


async def test_slash_in_a_dm_is_a_private_chat(frontend: DiscordFrontend, rest: FakeDiscord, app: App) -> None:
    await slash(frontend, "lang", code="zh_CN", guild_id=None)
    assert "中文" in last_sent(rest).content
    await slash(frontend, "help", guild_id=None)
    assert "全部命令" in last_sent(rest).content  # the stored choice now wins over the client's en-US


async def test_a_new_router_command_and_an_editing_button_need_no_adapter_change(app: App, rest: FakeDiscord) -> None:
    async def echo(caller: Caller) -> Reply:
        button = Button(Msg("button.refresh"), "test.edit")
        return Reply.of(Msg("error.args.extra", {"usage": "+".join(caller.request.args)}), buttons=((button,),))

    async def edit(caller: Caller, args: tuple[str, ...]) -> Reply:
        return Reply.of(Msg("help.title", style="title"), edit=True)

    app.router.command("echo", echo)
    app.router.action("test.edit", edit)
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    try:
        await front.bot.login("test-token")
        (sync,) = rest.where("PUT", "/commands")
        assert [o["name"] for o in next(c for c in sync.body if c["name"] == "echo")["options"]] == ["args"]
        rest.calls.clear()
        await slash(front, "echo", args=" a  b ")
        deferred, reply = rest.sent()
        assert deferred.body["type"] == DEFERRED_WITH_THINKING and "Usage: a+b" in reply.content
        rest.calls.clear()
        await press(front, reply.custom_ids[0], reply_message(reply))
        (update,) = rest.sent()
        assert update.path.endswith("/callback") and update.body["type"] == UPDATE_MESSAGE
        assert update.content == "**Commands**" and update.custom_ids == []
    finally:
        await front.bot.close()


# -- buttons ----------------------------------------------------------------------------------------------


async def test_owner_press_gives_a_fresh_quote(frontend: DiscordFrontend, rest: FakeDiscord, app: App) -> None:
    await slash(frontend, "quote", index="MAG7.ssi", amount="100")
    first = last_sent(rest)
    rest.calls.clear()
    before = await app.chain.block_number()
    await press(frontend, first.custom_ids[0], reply_message(first))
    after = await app.chain.block_number()
    fresh = last_sent(rest)
    assert_quote(fresh.content, before, after)
    assert not fresh.flags & EPHEMERAL
    assert fresh.custom_ids and fresh.custom_ids != first.custom_ids


async def test_someone_elses_press_is_refused_to_them_only(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(frontend, "start")
    first = last_sent(rest)
    rest.calls.clear()
    await press(frontend, first.custom_ids[0], reply_message(first), user=BOB)
    (refusal,) = rest.sent()
    assert refusal.path.endswith("/callback") and refusal.body["type"] == CHANNEL_MESSAGE
    assert refusal.flags & EPHEMERAL
    assert "These buttons belong to someone else." in refusal.content


async def test_unknown_token_is_expired_and_forged_ids_are_ignored(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await press(frontend, "b:doesnotexist", button_message("b:doesnotexist"))
    (expired,) = rest.sent()
    assert expired.flags & EPHEMERAL and "This button has expired." in expired.content
    rest.calls.clear()
    for forged in ("b:" + "x" * 65, "b:a/b", "quote.show:MAG7", "b:", "B:doesnotexist"):
        await press(frontend, forged, button_message(forged))
    assert rest.sent() == []


# -- prefix commands --------------------------------------------------------------------------------------


async def test_prefix_quote_in_a_server_is_answered_in_the_dm(dpy: DiscordFrontend, app: App) -> None:
    """A quote is personal: asked with `!` in a server channel, it goes to the asker's DM; the channel reads only
    that it went."""
    before = await app.chain.block_number()
    await dpytest.message("!quote MAG7.ssi 100")
    after = await app.chain.block_number()
    quote, told = dpytest.get_message(), dpytest.get_message()
    assert isinstance(quote.channel, discord.DMChannel) and not isinstance(told.channel, discord.DMChannel)
    assert_quote(quote.content, before, after)
    assert "I sent you the answer in a private message: <https://discord.com/users/" in told.content
    assert "MAG7" not in told.content
    assert dpytest.verify().message().nothing()


async def test_prefix_in_a_dm_through_dpytest(dpy: DiscordFrontend) -> None:
    member = dpytest.get_config().members[0]
    dm = await member.create_dm()
    await dpytest.message("!quote MAG7.ssi -5", channel=dm)
    reply = dpytest.get_message()
    assert "The amount cannot be negative (-5)." in shown(reply.content)
    assert isinstance(reply.channel, discord.DMChannel)


async def test_prefix_command_for_another_bot_is_ignored_in_a_dm_too(dpy: DiscordFrontend) -> None:
    dm = await dpytest.get_config().members[0].create_dm()
    await dpytest.message("!quote@otherbot MAG7.ssi 100", channel=dm)
    await dpytest.message("!help@otherbot")
    assert dpytest.verify().message().nothing()
    assert dpy.bot.user is not None
    await dpytest.message(f"!quote@{dpy.bot.user.name} MAG7.ssi -5", channel=dm)  # its own name: answered
    assert "The amount cannot be negative (-5)." in shown(dpytest.get_message().content)


async def test_a_members_standing_is_asked_of_discord_outside_any_interaction(dpy: DiscordFrontend) -> None:
    config = dpytest.get_config()
    guild, member = config.guilds[0], config.members[0]
    standing = await dpy.bot.standing_of(str(guild.id), str(member.id))
    assert standing is not None
    assert standing.admin == member.guild_permissions.manage_guild
    assert standing.roles == frozenset(str(r.id) for r in member.roles)
    assert member.roles  # @everyone at least: role ids as Discord reports them


async def test_prefix_unknown_index_and_escaped_input_through_dpytest(dpy: DiscordFrontend) -> None:
    await dpytest.message("!quote **FOO**_@everyone 100")
    text, told = dpytest.get_message().content, dpytest.get_message().content  # the refusal in the DM, like a quote
    assert "I sent you the answer in a private message" in told
    assert 'There is no index called "\\*\\*FOO\\*\\*\\_@\u200beveryone"' in text
    await dpytest.message("plain chat, not for the bot")
    await dpytest.message("! quote MAG7")
    assert dpytest.verify().message().nothing()


async def test_prefix_reply_carries_buttons_and_no_mentions(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    """The same `on_message` path fed a raw MESSAGE_CREATE, to see the components dpytest does not keep (the fake
    caches no server: the message is read as a DM's)."""
    payload = message_dict("!quote MAG7.ssi 100", ALICE, CHANNEL_ID, guild_id=GUILD_ID)
    await dispatched(lambda: frontend.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
    (sent,) = rest.sent()
    assert sent.path == f"/channels/{CHANNEL_ID}/messages"
    assert "Buy quote: MAG7.ssi" in sent.content
    assert sent.custom_ids and all(BUTTON_ID.match(c) for c in sent.custom_ids)
    assert sent.allowed_mentions == {"parse": []}


async def test_prefix_quote_in_a_server_with_closed_dms_says_how_to_open_them(dpy: DiscordFrontend,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    async def closed(*_: object, **__: object) -> None:
        response = SimpleNamespace(status=403, reason="Forbidden")  # what discord.py reads of aiohttp's response
        raise discord.Forbidden(response, {"code": 50007, "message": "Cannot send messages to this user"})  # type: ignore[arg-type]

    monkeypatch.setattr(discord.DMChannel, "send", closed)
    await dpytest.message("!quote MAG7.ssi 100")
    told = dpytest.get_message()
    assert not isinstance(told.channel, discord.DMChannel)
    assert "your Discord privacy settings close direct messages" in told.content and "Buy quote" not in told.content
    assert dpytest.verify().message().nothing()


# -- notices ----------------------------------------------------------------------------------------------


async def test_notify_sends_to_the_channel(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    rendered = Rendered("**Alert**\n" + "z" * 2100, buttons=((RenderedButton("Refresh", "tok_1"),),), image=b"\x89PNG")
    await frontend.deliver(str(CHANNEL_ID), rendered)
    sends = rest.where("POST", f"/channels/{CHANNEL_ID}/messages")
    assert [s.content for s in sends] == ["**Alert**", "z" * 2000, "z" * 100]
    assert sends[-1].custom_ids == ["b:tok_1"] and sends[-1].files == 1
    assert all(s.allowed_mentions == {"parse": []} for s in sends)


async def test_deliver_edits_the_bots_message_in_place(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    ref = await frontend.deliver(str(CHANNEL_ID), Rendered("first", buttons=((RenderedButton("Go", "tok_2"),),)))
    assert ref is not None
    again = await frontend.deliver(str(CHANNEL_ID), Rendered("second"), edit_ref=ref)
    [edit] = rest.where("PATCH", f"/channels/{CHANNEL_ID}/messages/{ref}")
    assert again == ref and edit.content == "second" and edit.custom_ids == []
    assert len(rest.where("POST", f"/channels/{CHANNEL_ID}/messages")) == 1


async def test_private_only_slash_command_in_a_server_is_answered_ephemerally(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    async def secret(caller: Caller) -> Reply:
        return Reply.of(Msg("help.title"), delete_after=1)

    app.router.command("testsecret", secret, private_only=True)
    frontend.bot.tree.add_command(build_command(app, "testsecret", frontend.bot.command))
    await slash(frontend, "testsecret")
    answer = last_sent(rest)
    assert answer.content == "Commands" and answer.flags & EPHEMERAL
    assert not [c for c in rest.calls if c.method == "DELETE"]  # not before its time
    await asyncio.sleep(1.5)
    [deleted] = [c.path for c in rest.calls if c.method == "DELETE"]
    assert deleted.startswith(f"/webhooks/{APP_ID}/") and "/messages/" in deleted


async def test_private_only_command_is_deferred_ephemerally_so_its_answer_stays_hidden(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(frontend, "wallet")
    [deferral] = [c for c in rest.calls if c.path.endswith("/callback")]
    assert deferral.body["type"] == DEFERRED_WITH_THINKING and deferral.body["data"]["flags"] & EPHEMERAL
    assert "wallet" in shown(last_sent(rest).content).lower()  # the answer went to the (ephemeral) follow-up


def test_every_router_command_has_a_slash_shape(app: App) -> None:
    from bot.frontends.adapters.discord_commands import SLASH

    assert sorted(set(app.router.commands) - set(SLASH)) == []


async def test_a_link_is_posted_so_that_discord_does_not_embed_it(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    """Discord's embed fetcher opens a link as soon as it is posted, before the user: /connect's single-use link
    goes out as <url>, which Discord never embeds, and nothing else of the message changes."""
    sent = await dm_slash(frontend, rest, "connect")
    content = sent.content
    assert re.search(r"<http://127\.0\.0\.1:\d+/connect/[A-Za-z0-9_-]+>", content), content
    assert not re.search(r"(?<!<)http://", content), content


# -- a new user's whole journey in a DM: wallet, funds, buy, sell, PIN, export ---------------------------------


async def test_new_user_journey_in_a_discord_dm(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    created = await dm_slash(frontend, rest, "wallet", action="new")
    assert "Your new wallet" in shown(created.content) and "/pin <4 to 8 digits>" in shown(created.content)
    assert shown((await dm_slash(frontend, rest, "pin", pin="4821")).content).startswith("PIN set")  # asked for first
    assert "10,000 USDC" in shown((await dm_slash(frontend, rest, "faucet")).content)

    quote = await dm_slash(frontend, rest, "buy", index="MAG7.ssi", amount="100")
    bought = await dm_press(frontend, rest, quote, "Confirm")
    assert shown(bought.content).startswith("Confirmed in block") and "for 100 USDC" in shown(bought.content)

    quote = await dm_slash(frontend, rest, "sell", index="MAG7.ssi", amount="0.5")
    sold = await dm_press(frontend, rest, quote, "Confirm")
    assert shown(sold.content).startswith("Confirmed in block") and "0.5 MAG7.ssi" in shown(sold.content)

    exported = await dm_slash(frontend, rest, "wallet", action="export", value="4821")
    assert "Your private key" in shown(exported.content) and re.search(r"0x[0-9a-f]{64}", exported.content)


async def test_staking_journey_in_a_discord_dm(app: App, chain: Devnet, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    """Stake, unstake, the restart warning with its own button, an early claim refused, the cooldown passed, claim."""
    await dm_slash(frontend, rest, "wallet", action="new")
    await dm_slash(frontend, rest, "pin", pin="4821")
    await dm_slash(frontend, rest, "faucet")
    await dm_press(frontend, rest, await dm_slash(frontend, rest, "buy", index="MAG7.ssi", amount="100"), "Confirm")
    staked = await dm_press(frontend, rest, await dm_slash(frontend, rest, "stake", asset="MAG7.ssi", amount="0.5"), "Confirm")
    assert "staked 0.5 MAG7.ssi" in shown(staked.content)
    await dm_press(frontend, rest, await dm_slash(frontend, rest, "unstake", asset="MAG7.ssi", amount="0.2"), "Confirm")
    second = await dm_slash(frontend, rest, "unstake", asset="MAG7.ssi", amount="0.1")
    assert "restarts the cooldown for the whole pending amount (0.3 MAG7.ssi)" in shown(second.content)
    await dm_press(frontend, rest, second, "Restart cooldown and unstake")
    boost = await dm_slash(frontend, rest, "boost", action="add", amount="100")
    assert "Your boost: no level → level" in shown(boost.content)
    assert "Staked now: 100 sSOSO" in shown((await dm_press(frontend, rest, boost, "Confirm")).content)
    early = await dm_slash(frontend, rest, "claim", asset="MAG7.ssi")
    assert shown(early.content).startswith("0.3 MAG7.ssi is still cooling down") and not early.custom_ids
    await operator.advance(chain.url, 8 * 24 * 3600)
    await app.head.poll_once()
    claimed = await dm_press(frontend, rest, await dm_slash(frontend, rest, "claim", asset="MAG7.ssi"), "Confirm")
    assert shown(claimed.content).startswith("Confirmed in block") and "claimed 0.3 MAG7.ssi" in shown(claimed.content)
