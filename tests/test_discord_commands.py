"""The slash-command tree as Discord receives it, and personal answers kept to their user.

- Every command, option and choice passes Discord's rules (unique names and values, at most 25 choices, names
  lowercase and of Discord's pattern, lengths) in the default text and in EVERY localization Discord gets;
  a sync Discord refuses is logged and the bot runs on with the commands Discord had.
- Personal answers (quotes, /positions, /faucet, /points, /wallet new ...) typed in a server are ephemeral:
  deferred ephemerally and followed up ephemerally, and a button pressed on such a message answers the same way.
  In a DM nothing changes; a Telegram group gets personal answers privately (tests/test_telegram_groups.py).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yarl
from discord.gateway import DiscordWebSocket

from bot.frontends.adapters.base import PlainMarkup
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_commands import command_problems
from bot import cli
from bot.app import App
from bot.config import Secret
from bot.roles import ALL
from bot.core.request import Request
from conftest import make_config
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator
from discord_fake import APP_ID, CHANNEL_ID, GUILD_ID, Call, FakeDiscord, dispatched, message_dict, press_payload, user_dict
from auxil.discord import Interactions, synced

ALICE = user_dict(940000000000000021, "alice")
slash = Interactions(ALICE, dm_channel=920000000000000077).slash  # this file's Alice, whose DM is channel ...77
DEFERRED_WITH_THINKING = 5
EPHEMERAL = 64
INVALID_FORM_BODY = 50035


@pytest.fixture
async def front(app: App, rest: FakeDiscord) -> AsyncIterator[DiscordFrontend]:
    frontend = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    try:
        await frontend.bot.login("test-token")
        yield frontend
    finally:
        await frontend.bot.close()


# -- the command tree -------------------------------------------------------------------------------------------


async def test_the_synced_tree_breaks_none_of_discords_rules_in_any_language(front: DiscordFrontend, rest: FakeDiscord) -> None:
    commands = synced(rest)
    assert command_problems(commands) == []
    alerts = next(c for c in commands if c["name"] == "alerts")
    values = [choice["value"] for choice in alerts["options"][0]["choices"]]
    assert values.count("digest") == 1 and {"price", "quiet", "digest"} <= set(values)
    localized = {locale for c in commands for locale in c.get("description_localizations", {})}
    assert {"zh-CN", "en-US", "fr"} <= localized  # every Discord language was looked at, not just the default


async def test_the_check_finds_every_kind_of_problem(front: DiscordFrontend, rest: FakeDiscord) -> None:
    """The same check fed broken copies of the real payload: each fault is named (so the test above can fail)."""
    good = synced(rest)

    def broken(change: Any) -> list[str]:
        commands = copy.deepcopy(good)
        change(commands)
        return command_problems(commands)

    def command(commands: list[dict[str, Any]], name: str) -> dict[str, Any]:
        return next(c for c in commands if c["name"] == name)

    def choices(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = command(commands, "alerts")["options"][0]["choices"]
        return found

    assert any("'digest' appears more than once" in p for p in broken(lambda cs: choices(cs).append({"name": "digest", "value": "digest"})))
    assert any("'x' appears more than once" in p for p in broken(
        lambda cs: command(cs, "alerts")["options"][0].__setitem__("choices", choices(cs) + [{"name": "x", "value": "x"}] * 2)))
    assert any("choices, at most 25" in p for p in broken(
        lambda cs: command(cs, "alerts")["options"][0].__setitem__("choices", [{"name": f"c{i}", "value": f"c{i}"} for i in range(26)])))
    assert any("appears more than once" in p for p in broken(lambda cs: cs.append(copy.deepcopy(command(cs, "help")))))
    assert any("not a valid Discord name" in p for p in broken(lambda cs: command(cs, "help").__setitem__("name", "Help")))
    assert any("(zh-CN)" in p and "not a valid" in p for p in broken(
        lambda cs: command(cs, "help").setdefault("name_localizations", {}).__setitem__("zh-CN", "帮助 命令")))
    assert any("(fr)" in p and "1 to 100" in p for p in broken(
        lambda cs: command(cs, "help")["description_localizations"].__setitem__("fr", "x" * 101)))
    assert any("choice (de)" in p for p in broken(lambda cs: choices(cs)[0].__setitem__("name_localizations", {"de": ""})))
    assert any("option 'index' appears more than once" in p for p in broken(
        lambda cs: command(cs, "quote")["options"].append(copy.deepcopy(command(cs, "quote")["options"][0]))))
    assert any("required option follows" in p for p in broken(
        lambda cs: command(cs, "quote")["options"][2].__setitem__("required", True) or command(cs, "quote")["options"][1].__setitem__("required", False)))


async def test_a_refused_sync_is_logged_and_the_bot_runs_on(app: App, rest: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    rest.refuse("PUT", "/commands", 400, INVALID_FORM_BODY, "Invalid Form Body")
    frontend = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    try:
        with caplog.at_level(logging.ERROR, logger="bot.frontends.adapters.discord"):
            await frontend.bot.login("test-token")  # what `start()` awaits before the gateway: it raised here
        assert any("not synced" in r.getMessage() and "50035" in r.getMessage() for r in caplog.records)
        await slash(frontend, "help")  # the commands Discord had still reach the bot
        assert any("**Commands**" in c.content for c in rest.sent())  # /help takes more than one message
    finally:
        await frontend.bot.close()


async def test_indexbot_run_serves_telegram_while_discord_refuses_the_command_sync(
        chain: Devnet, tmp_path: Any, rest: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """`indexbot run` with both tokens: Discord refuses the sync (it raised CommandSyncFailure out of `run`, which
    then stopped Telegram too); now Telegram answers and the run goes on."""
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL("ws://127.0.0.1:9/"))  # no gateway needed
    rest.refuse("PUT", "/commands", 400, INVALID_FORM_BODY, "Invalid Form Body")
    async with BotApiEmulator() as emulator:
        config = make_config(chain, tmp_path, telegram_token=Secret(emulator.token), telegram_api_url=emulator.url,
                             discord_token=Secret("test-token"), discord_guild_id=GUILD_ID)
        run = asyncio.create_task(cli._run(config, ALL))
        try:
            await emulator.wait_for("getUpdates", timeout=60)
            emulator.send_text(4343, 4343, "/quote MAG7.ssi 100")
            sent = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 4343, timeout=30)
            assert "Buy quote: MAG7.ssi" in sent.params["text"]
            assert rest.where("PUT", "/commands") and not run.done()
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)


# -- personal answers ------------------------------------------------------------------------------------------


def answers(rest: FakeDiscord) -> tuple[Call, Call]:
    """The interaction's deferral (or direct answer) and its last message."""
    [first] = [c for c in rest.calls if c.path.endswith("/callback")]
    return first, rest.sent()[-1]


@pytest.mark.parametrize(("name", "options"), [
    ("quote", {"index": "MAG7.ssi", "amount": "100"}),
    ("buy", {"index": "MAG7.ssi", "amount": "100"}),
    ("positions", {}),
    ("faucet", {}),
    ("points", {}),
    ("orders", {}),
    ("wallet", {"action": "new"}),
    ("alerts", {}),
    ("referrals", {}),
])
async def test_personal_answers_in_a_server_are_ephemeral(front: DiscordFrontend, rest: FakeDiscord, name: str, options: dict[str, str]) -> None:
    rest.calls.clear()
    await slash(front, name, **options)
    first, last = answers(rest)
    assert first.flags & EPHEMERAL, f"/{name} was answered publicly: {first.body}"
    assert last.flags & EPHEMERAL and last.content


async def test_personal_answers_in_a_dm_stay_ordinary_messages(front: DiscordFrontend, rest: FakeDiscord) -> None:
    rest.calls.clear()
    await slash(front, "quote", guild_id=None, index="MAG7.ssi", amount="100")
    first, last = answers(rest)
    assert first.body["type"] == DEFERRED_WITH_THINKING and not first.flags & EPHEMERAL and not last.flags & EPHEMERAL
    rest.calls.clear()
    await slash(front, "help")  # nothing personal: public in a server, as before
    first, _ = answers(rest)
    assert not first.flags & EPHEMERAL


async def test_a_press_on_an_ephemeral_quote_answers_only_the_presser(front: DiscordFrontend, rest: FakeDiscord) -> None:
    await slash(front, "quote", index="MAG7.ssi", amount="100")
    quote = rest.sent()[-1]
    assert quote.flags & EPHEMERAL and quote.custom_ids
    shown = message_dict(quote.content, user_dict(APP_ID, "indexbot", bot=True), CHANNEL_ID, guild_id=GUILD_ID,
                         components=quote.body["components"], flags=EPHEMERAL)
    rest.calls.clear()
    payload = press_payload(quote.custom_ids[0], shown, ALICE)  # Refresh
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    fresh = rest.sent()[-1]
    assert "Buy quote: MAG7.ssi" in fresh.content
    # Refresh edits the message pressed (the callback's UPDATE_MESSAGE): an ephemeral message stays one, and no new
    # message goes out that another member could see
    assert fresh.body["type"] == 7 and fresh.path.endswith("/callback")
    assert [c for c in rest.sent() if c is not fresh] == []


async def test_a_group_without_a_way_to_the_private_chat_gets_personal_answers_as_before(app: App) -> None:
    """No ephemeral replies and no private links (`Request.private_links`, which the Telegram adapter sets: see
    tests/test_telegram_groups.py): a personal command in a group is answered in the group, not refused."""
    group = Request(platform="telegram", user_id="77", chat_id="-100", chat_type="group", locale="en", command="quote",
                    args=("MAG7.ssi", "100"))
    outcome = await app.router.handle(group, PlainMarkup())
    assert "Buy quote: MAG7.ssi" in outcome.rendered.text and not outcome.ephemeral
    assert app.router.commands["quote"].personal and app.router.commands["positions"].personal
