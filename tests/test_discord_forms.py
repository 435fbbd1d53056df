"""A question's form (Discord's modal, opened by the Answer button) answered in any process, through discord.py's real
code paths (tests/discord_fake.py): nothing of the form is kept in memory; its custom_id names the question, and the
submit is answered from the question stored in the database.

- /pin in a server: the form opened before a restart is sent after it, to the next run, and the PIN is set; no PIN
  is ever logged;
- a form whose question is no longer the open one (cancelled, another asked) changes nothing and says so;
- a guided withdrawal in a server, every value through a form, the PIN last: only Alice sees any of it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from auxil.discord import MODAL, Interactions, answered, in_server, shown
from auxil.trading import token_balance
from bot.app import App
from bot.frontends.adapters.discord import DiscordFrontend
from conftest import make_config
from devnet.harness import Devnet
from devnet.operator import fund
from discord_fake import APP_ID, CHANNEL_ID, GUILD_ID, Call, FakeDiscord, dispatched, message_dict, press_payload, snowflake, user_dict

ALICE = user_dict(940000000000000051, "alice")
acts = Interactions(ALICE)
EPHEMERAL = 64
BOT = user_dict(APP_ID, "indexbot", bot=True)
PIN = "739146"
TO = to_checksum_address("0x" + "5b" * 4 + "c4" * 16)


def shown_in_server(answer: Call) -> dict[str, Any]:
    """The ephemeral message `answer` became in the server's channel."""
    body = answer.body.get("data", answer.body)
    return message_dict(body.get("content") or "", BOT, CHANNEL_ID, guild_id=GUILD_ID, components=body.get("components"),
                        flags=EPHEMERAL)


async def press_on(front: DiscordFrontend, rest: FakeDiscord, answer: Call, label: str) -> Call:
    body = answer.body.get("data", answer.body)
    assert body.get("components"), body
    custom_id = next(c["custom_id"] for row in body["components"] for c in row["components"] if c.get("label") == label)
    since = len(rest.calls)
    payload = press_payload(custom_id, rest.ephemeral(shown_in_server(answer)), ALICE)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    return answered(rest, since)


async def send_form(front: DiscordFrontend, rest: FakeDiscord, modal: Call, value: str) -> Call:
    """A MODAL_SUBMIT of the form `modal` opened, `value` in its one field, from Alice in the server's channel, as the
    gateway delivers it to `front` (whichever process that is)."""
    assert modal.body["type"] == MODAL
    data = modal.body["data"]
    field = data["components"][0]["components"][0]
    payload = press_payload("unused", message_dict("", BOT, CHANNEL_ID, guild_id=GUILD_ID), ALICE)
    del payload["message"]
    payload.update(type=5, id=snowflake(), token=f"itoken-{snowflake()}", data={
        "custom_id": data["custom_id"],
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": value}]}]})
    since = len(rest.calls)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    return answered(rest, since)


async def answer_by_form(front: DiscordFrontend, rest: FakeDiscord, question: Call, value: str) -> Call:
    return await send_form(front, rest, await press_on(front, rest, question, "Answer"), value)


async def logged_in(app: App, rest: FakeDiscord) -> DiscordFrontend:
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    await front.bot.login("test-token")
    return front


async def test_a_form_opened_before_a_restart_is_answered_after_it(chain: Devnet, tmp_path: Path, rest: FakeDiscord,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """/pin in a server asks the new PIN; Answer opens its form; the process stops. The next run takes the form's
    PIN (the question and the form's custom_id say which it answers), asks it again and sets it."""
    caplog.set_level(logging.DEBUG)
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    front = await logged_in(first, rest)
    try:
        question = await in_server(acts, front, rest, "pin")
        assert question.flags & EPHEMERAL or question.method == "PATCH"
        modal = await press_on(front, rest, question, "Answer")
        assert modal.body["data"]["components"][0]["components"][0]["label"] == "PIN"
        assert modal.body["data"]["custom_id"] == "f:pin.new"
        assert not front.bot._connection._view_store._modals  # nothing of it kept in this process
    finally:
        await front.bot.close()
        await first.stop()
    second = await App.start(config)
    again = await logged_in(second, rest)
    try:
        repeat = await send_form(again, rest, modal, PIN)
        assert shown(repeat.content).startswith("Send the new PIN once more"), repeat.content
        done = await answer_by_form(again, rest, repeat, PIN)
        assert shown(done.content).startswith("PIN set")
        user = await second.services.users.seen("discord", ALICE["id"])
        await second.services.pins.check_pin(user.id, PIN)  # raises unless it is the PIN
        assert all(PIN not in c.content for c in rest.calls)
        assert not [c for c in rest.calls if c.path.startswith(f"/channels/{CHANNEL_ID}")]
    finally:
        await again.bot.close()
        await second.stop()
    assert PIN not in caplog.text


@pytest.mark.parametrize("meanwhile", ["Cancel", "another question"])
async def test_a_form_whose_question_is_no_longer_open_changes_nothing(app: App, rest: FakeDiscord, meanwhile: str) -> None:
    """The PIN's form sent after its question was cancelled, or after another was asked (a withdrawal's amount): it
    answers neither; the other question stays open for its own answer."""
    user = await app.services.users.seen("discord", ALICE["id"])
    await fund(app.profile, await app.services.wallets.create(user.id), usdc=Decimal(20), eth=Decimal(1))
    await app.services.pins.set_pin(user.id, PIN)
    front = await logged_in(app, rest)
    try:
        question = await in_server(acts, front, rest, "pin")  # the current PIN first
        modal = await press_on(front, rest, question, "Answer")
        if meanwhile == "Cancel":
            await press_on(front, rest, question, "Cancel")
        else:  # a command ends the question; this one asks another
            await press_on(front, rest, await in_server(acts, front, rest, "withdraw"), "USDC")
        refused = await send_form(front, rest, modal, "4821")  # no amount of USDC either
        assert shown(refused.content).startswith("That question is closed already"), refused.content
        assert refused.flags & EPHEMERAL or refused.method == "PATCH"
        await app.services.pins.check_pin(user.id, PIN)  # unchanged
        still = await app.router.questions.peek(user.id, str(CHANNEL_ID))
        assert (still.prompt if still is not None else None) == (None if meanwhile == "Cancel" else "withdraw.amount")
    finally:
        await front.bot.close()


async def test_guided_withdraw_in_a_server_with_every_value_and_the_pin_in_forms(app: App, rest: FakeDiscord) -> None:
    user = await app.services.users.seen("discord", ALICE["id"])
    address = await app.services.wallets.create(user.id)
    await app.services.pins.set_pin(user.id, PIN)
    await fund(app.profile, address, usdc=Decimal(20), eth=Decimal(1))
    front = await logged_in(app, rest)
    try:
        assets = await in_server(acts, front, rest, "withdraw")
        amount = await press_on(front, rest, assets, "USDC")
        where = await answer_by_form(front, rest, amount, "7")
        assert "Where should 7 USDC go?" in shown(where.content)
        summary = await answer_by_form(front, rest, where, TO)
        assert f"Withdraw 7 USDC to {TO}" in shown(summary.content)
        offer = await answer_by_form(front, rest, summary, PIN)
        assert "Withdraw 7 USDC to" in shown(offer.content)
        done = await press_on(front, rest, offer, "Confirm")
        assert "7 USDC" in shown(done.content)
        assert await token_balance(app, app.profile.usdc.address, TO) == 7 * 10**6
        assert all(PIN not in c.content for c in rest.calls)
        assert not [c for c in rest.calls if c.path.startswith(f"/channels/{CHANNEL_ID}")]  # nothing in the channel
    finally:
        await front.bot.close()
