"""/withdraw typed alone, asked step by step, end to end on the devnet: asset, amount (Max, or above the balance),
address (a bad checksum, or a recent one), the summary, the PIN (its message deleted, whatever it holds), Confirm;
through the console's next line, Telegram's ForceReply over the Bot API emulator, and Discord's modal."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from auxil.catalog import html_text
from auxil.discord import ALICE, press, slash
from auxil.console import console_lines
from auxil.issuance import hours_app  # noqa: F401  (a fixture)
from auxil.telegram import force_reply, to_chat
from auxil.trading import PIN, funded_user, token_balance
from bot.app import App
from bot.core.messages import Amount, Count, Msg
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from devnet.operator import fund
from discord_fake import DM_CHANNEL_ID, Call as DiscordCall, FakeDiscord, dispatched, message_dict, snowflake
from telegram_emulator import BotApiEmulator, Call

TO = to_checksum_address("0x" + "5a" * 4 + "c3" * 16)
BAD_CHECKSUM = TO[:2] + TO[2:].swapcase()[:3] + TO[5:]  # mixed case, wrong: one letter's case changed
MODAL = 9  # Discord's interaction callback type that opens a modal


def plain(app: App, key: str, **params: Any) -> str:
    return app.services.catalogs.render_msg(Msg(key, params), "en", lambda t: t)


# -- the console ---------------------------------------------------------------------------------------------


async def test_two_profiles_on_one_chain_list_each_asset_once(hours_app: tuple[App, object]) -> None:
    """The devnet's stock index lives on the same chain as the home profile (one anvil, one USDC): its ETH and USDC
    are the home chain's, offered once (they were offered twice, each button withdrawing the same coins)."""
    app, _ = hours_app
    assert {p.chain_id for p in (app.profile, *app.services.companions)} == {app.profile.chain_id}
    await funded_user(app, "g1", usdc=Decimal(100))
    labels = [ln.split("] ", 1)[1] for ln in (await console_lines(app, "g1")("/withdraw")).splitlines() if "] " in ln]
    assert "ETH" in labels and "USDC" in labels and len(labels) == len(set(labels)), labels


async def test_guided_withdraw_in_the_console(app: App) -> None:
    await funded_user(app, "g1", usdc=Decimal(100))
    line = console_lines(app, "g1")

    assets = await line("/withdraw")
    assert plain(app, "withdraw.ask.asset") in assets and "] USDC" in assets and "] ETH" in assets
    amount = await line("USDC")  # the label presses that button
    assert plain(app, "withdraw.ask.amount", asset="USDC", balance=Amount(Decimal(100), 8)) in amount
    assert "] Max" in amount and "] Cancel" in amount
    above = await line("500")
    assert plain(app, "withdraw.error.above_balance", amount=Amount(Decimal(500), 8), balance=Amount(Decimal(100), 8),
                 asset="USDC") in above and "] Max" in above  # Max offered again
    assert plain(app, "error.amount.format", value="ten") in await line("ten")
    where = await line("1")  # while a question waits a number is its answer, not button [1]
    assert plain(app, "withdraw.ask.address", what=Msg("withdraw.what", {"amount": Amount(Decimal(1), 8), "asset": "USDC"})) in where
    assert plain(app, "error.address.checksum", value=BAD_CHECKSUM) in await line(BAD_CHECKSUM)
    summary = await line(TO)
    assert plain(app, "withdraw.guided.summary", what=Msg("withdraw.what", {"amount": Amount(Decimal(1), 8), "asset": "USDC"}),
                 to=TO) in summary and plain(app, "withdraw.ask.pin") in summary
    assert plain(app, "error.pin.length", min=4, count=Count(8)) in await line("12")
    offer = await line(PIN)
    assert PIN not in offer and "Withdraw 1 USDC to " + TO in offer and "] Confirm" in offer
    done = await line("Confirm")
    assert "sent 1 USDC to" in done, done
    assert await token_balance(app, app.profile.usdc.address, TO) == 10**6

    again = await line("/withdraw")  # the address withdrawn to is offered next time
    await line("USDC")
    recent = await line("Max")
    assert f"] {TO[:8]}…{TO[-6:]}" in recent


# (what is typed after /withdraw but the PIN, what the summary says is sent, the USDC that leaves the wallet)
TYPED_WITHOUT_PIN = [
    (f"USDC 2.5 {TO}", Msg("withdraw.what", {"amount": Amount(Decimal("2.5"), 8), "asset": "USDC"}), 2_500_000),
    (f"usdc all {TO.lower()}", Msg("withdraw.what.all", {"asset": "USDC"}), 100 * 10**6),
    (f"USDC 1 {TO} devnet", Msg("withdraw.what", {"amount": Amount(Decimal(1), 8), "asset": "USDC"}), 10**6),
]


@pytest.mark.parametrize(("typed", "what", "sent"), TYPED_WITHOUT_PIN)
async def test_a_withdrawal_typed_without_its_pin_asks_for_it(app: App, typed: str, what: Msg, sent: int) -> None:
    """The one-line form but for the PIN: each word checked, then the guided form's summary and PIN question (it was
    answered with the usage); a PIN of no PIN's shape costs no try; the right one leads to Confirm."""
    await funded_user(app, "g1", usdc=Decimal(100))
    line = console_lines(app, "g1")
    summary = await line(f"/withdraw {typed}")
    assert plain(app, "withdraw.guided.summary", what=what, to=TO) in summary, summary
    assert plain(app, "withdraw.ask.pin") in summary, summary
    assert plain(app, "error.pin.length", min=4, count=Count(8)) in await line("12")
    offer = await line(PIN)
    assert PIN not in offer and "] Confirm" in offer, offer
    done = await line("Confirm")
    assert "sent" in done, done
    assert await token_balance(app, app.profile.usdc.address, TO) == sent


@pytest.mark.parametrize(("typed", "key", "params"), [
    (f"USDC ten {TO}", "error.amount.format", {"value": "ten"}),
    (f"USDC 1 {BAD_CHECKSUM}", "error.address.checksum", {"value": BAD_CHECKSUM}),
    (f"DOGE 1 {TO}", "error.withdraw.asset", None),
    (f"USDC 1 {TO} mars", "error.withdraw.chain", None),
])
async def test_a_bad_word_in_a_withdrawal_without_its_pin_is_said_before_any_question(
        app: App, typed: str, key: str, params: dict[str, Any] | None) -> None:
    await funded_user(app, "g1", usdc=Decimal(100))
    said = await console_lines(app, "g1")(f"/withdraw {typed}")
    if params is not None:
        assert plain(app, key, **params) in said, said
    assert plain(app, "withdraw.ask.pin") not in said and "PIN:" not in said, said
    assert await token_balance(app, app.profile.usdc.address, TO) == 0


# (the step's answers before the bad one, the bad answer, what the reply says, whether a button offers Max)
BAD_ANSWERS = [
    ("above the balance", (), "60", "withdraw.error.above_balance",
     {"amount": Amount(Decimal(60), 8), "balance": Amount(Decimal(50), 8), "asset": "USDC"}, True),
    ("not a number", (), "ten", "error.amount.format", {"value": "ten"}, True),
    ("a bad checksum", ("5",), BAD_CHECKSUM, "error.address.checksum", {"value": BAD_CHECKSUM}, False),
    ("not an address", ("5",), "0x1234", "error.address.format", {"value": "0x1234"}, False),
    ("a PIN of the wrong length", ("5", TO), "12", "error.pin.length", {"min": 4, "count": Count(8)}, False),
    ("a wrong PIN", ("5", TO), "135792", "error.pin.wrong", {"count": Count(4)}, False),
]


@pytest.mark.parametrize(("before", "bad", "key", "params", "max_offered"), [b[1:] for b in BAD_ANSWERS],
                         ids=[b[0] for b in BAD_ANSWERS])
async def test_a_bad_answer_is_explained_asked_again_and_changes_nothing(
        app: App, before: tuple[str, ...], bad: str, key: str, params: dict[str, Any], max_offered: bool) -> None:
    uid, _ = await funded_user(app, "b1", usdc=Decimal(50))
    line = console_lines(app, "b1")
    for typed in ("/withdraw", "USDC", *before):
        await line(typed)
    said = await line(bad)
    assert said.startswith(plain(app, key, **params)) and ("] Max" in said) is max_offered, said
    if key.startswith("error.pin"):
        assert bad not in said  # a PIN is never echoed
    assert await app.services.desks.home.intents.of_user(uid) == []  # nothing quoted, nothing sent
    answers = [await line(typed) for typed in ("5", TO, PIN)[len(before):]]  # the question is still open: they go on
    assert any("Withdraw 5 USDC to " + TO in said for said in answers)


async def test_a_command_typed_instead_ends_the_question_in_the_console(app: App) -> None:
    await funded_user(app, "g2", usdc=Decimal(10))
    line = console_lines(app, "g2")
    await line("/withdraw")
    await line("USDC")
    assert (await line("/help")).startswith(plain(app, "prompt.ended"))
    said = await line("5")  # no question now: no amount taken
    assert plain(app, "withdraw.ask.address", what=Msg("withdraw.what", {"amount": Amount(Decimal(5), 8), "asset": "USDC"})) \
        not in said


# -- Telegram --------------------------------------------------------------------------------------------------


async def tg_say(emulator: BotApiEmulator, user: int, line: str, reply_to: int | None = None) -> tuple[int, Call]:
    since = emulator.mark()
    update = emulator.send_text(user, user, line, reply_to=reply_to)
    sent = await emulator.wait_for("sendMessage", to_chat(user), since=since, timeout=30)
    message_id = int(emulator.injected[update]["message"]["message_id"])
    return message_id, sent


def data_of(call: Call, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return str(next(b["callback_data"] for row in rows for b in row if b["text"] == label))


async def test_guided_withdraw_on_telegram(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    user = 7301
    await tg_say(emulator, user, "/wallet new")
    await tg_say(emulator, user, f"/pin {PIN}")
    row = await app.services.users.seen("telegram", str(user))
    address = await app.services.wallets.address_of(row.id)
    assert address is not None
    await fund(app.profile, address, usdc=Decimal(50), eth=Decimal(1))

    _, assets = await tg_say(emulator, user, "/withdraw")
    since = emulator.mark()
    emulator.press(user, user, assets.result["message_id"], data_of(assets, "USDC"))
    edit = await emulator.wait_for("editMessageText", lambda c: int(c.params["message_id"]) == assets.result["message_id"], since=since)
    assert html.unescape(edit.params["text"]).startswith("How much USDC")
    asked = await force_reply(emulator, user, since)
    assert asked.params["reply_markup"]["force_reply"] and asked.params["reply_markup"]["selective"]
    assert asked.params["text"] == html_text(app, "prompt.field.amount")

    since = emulator.mark()
    _, above = await tg_say(emulator, user, "60", reply_to=asked.result["message_id"])
    assert "more than you hold" in above.params["text"] and "Max" in str(above.params["reply_markup"])
    await force_reply(emulator, user, since)
    since = emulator.mark()
    emulator.press(user, user, above.result["message_id"], data_of(above, "Max"))  # all of it
    where = await emulator.wait_for("editMessageText", lambda c: int(c.params["message_id"]) == above.result["message_id"], since=since)
    assert "all your USDC" in html.unescape(where.params["text"])
    asked = await force_reply(emulator, user, since)

    since = emulator.mark()
    _, summary = await tg_say(emulator, user, TO, reply_to=asked.result["message_id"])
    assert f"Withdraw all your USDC to {TO}" in summary.params["text"]
    asked = await force_reply(emulator, user, since)
    assert asked.params["text"] == html_text(app, "prompt.field.pin")

    pin_id, offer = await tg_say(emulator, user, PIN, reply_to=asked.result["message_id"])
    assert (user, pin_id) not in emulator.messages  # the PIN's message is gone
    assert PIN not in offer.params["text"] and "Withdraw 50 USDC to" in html.unescape(offer.params["text"])
    since = emulator.mark()
    emulator.press(user, user, offer.result["message_id"], data_of(offer, "Confirm"))
    await emulator.wait_for("editMessageText", lambda c: "sent 50 USDC" in str(c.params.get("text")), since=since, timeout=60)
    assert await token_balance(app, app.profile.usdc.address, TO) == 50 * 10**6


async def test_a_question_in_a_group_is_answered_by_its_user_only(app: App, emulator: BotApiEmulator,
                                                                  telegram: TelegramFrontend) -> None:
    """A question asked in a group (personal commands answer privately now, so it is stored as a feature asking there
    would store it: /alert's line): another member's reply to its ForceReply is told it is not theirs and changes
    nothing, the asker's reply answers it."""
    group, asker, other = -100777, 7311, 7312
    row = await app.services.users.seen("telegram", str(asker))
    await app.router.questions.open(row.id, str(group), "alert.line", ("MAG7.ssi", "above"), "prompt.field.usd", None, 300)
    question = emulator._new_message(group, text="Price (USD)", reply_markup={"force_reply": True, "selective": True})

    since = emulator.mark()
    emulator.send_text(other, group, "500", chat_type="group", reply_to=question["message_id"])
    said = await emulator.wait_for("sendMessage", lambda c: c.chat_id == group, since=since, timeout=30)
    assert said.params["text"] == html_text(app, "prompt.not_yours")
    assert await app.services.price_alerts.of_user(row.id) == []
    assert await app.router.questions.peek(row.id, str(group)) is not None  # still the asker's to answer

    since = emulator.mark()
    emulator.send_text(asker, group, "500", chat_type="group", reply_to=question["message_id"])
    made = await emulator.wait_for("sendMessage", lambda c: c.chat_id == group, since=since, timeout=30)
    assert "NAV per token at or above $500.00" in html.unescape(made.params["text"])
    assert len(await app.services.price_alerts.of_user(row.id)) == 1


# -- Discord ---------------------------------------------------------------------------------------------------


def component(call: DiscordCall, label: str) -> str:
    body = call.body.get("data", call.body)
    return str(next(c["custom_id"] for row in body["components"] for c in row["components"] if c.get("label") == label))


async def submit(front: DiscordFrontend, modal: DiscordCall, value: str, message: dict[str, Any]) -> None:
    """Send the modal `modal` opened with `value` in its one field, as the gateway delivers a MODAL_SUBMIT."""
    data = modal.body["data"]
    field = data["components"][0]["components"][0]
    payload = {
        "id": snowflake(), "application_id": message["author"]["id"], "type": 5, "token": f"itoken-{snowflake()}", "version": 1,
        "data": {"custom_id": data["custom_id"],
                 "components": [{"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": value}]}]},
        "locale": "en-US", "app_permissions": "2147483647", "entitlements": [], "attachment_size_limit": 10485760,
        "authorizing_integration_owners": {"1": ALICE["id"]}, "channel_id": str(DM_CHANNEL_ID),
        "channel": {"id": str(DM_CHANNEL_ID), "type": 1}, "user": ALICE, "message": message,
    }  # fmt: skip
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]


def as_message(call: DiscordCall) -> dict[str, Any]:
    body = call.body.get("data", call.body)
    return message_dict(body.get("content") or "", {"id": "900000000000000001", "username": "indexbot", "discriminator": "0",
                                                    "avatar": None, "bot": True}, DM_CHANNEL_ID, components=body.get("components"))


async def test_guided_withdraw_on_discord_with_the_modal(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    row = await app.services.users.seen("discord", ALICE["id"])
    address = await app.services.wallets.create(row.id)
    await app.services.pins.set_pin(row.id, PIN)
    await fund(app.profile, address, usdc=Decimal(20), eth=Decimal(1))

    await slash(frontend, "withdraw", guild=False)
    assets = rest.sent()[-1]
    assets_message = as_message(assets)
    await press(frontend, component(assets, "USDC"), assets_message)
    amount = rest.sent()[-1]
    assert "How much USDC" in amount.content and {"Max", "Answer", "Cancel"} <= {
        c.get("label") for row in amount.body["data"]["components"] for c in row["components"]}
    question = as_message(amount)
    await press(frontend, component(amount, "Answer"), question)
    modal = rest.sent()[-1]
    assert modal.body["type"] == MODAL and modal.body["data"]["components"][0]["components"][0]["label"] == "Amount"
    await submit(frontend, modal, "7", question)
    where = rest.sent()[-1]
    assert "Where should 7 USDC go?" in where.content.replace("\\", "")

    # in a DM a plain message answers too
    dm = message_dict(TO, ALICE, DM_CHANNEL_ID)
    await dispatched(lambda: frontend.bot._connection.parse_message_create(dm))  # type: ignore[arg-type]
    await pin_in_the_modal_then_confirm(frontend, rest, "7")
    assert await token_balance(app, app.profile.usdc.address, TO) == 7 * 10**6


async def pin_in_the_modal_then_confirm(frontend: DiscordFrontend, rest: FakeDiscord, amount: str) -> None:
    """The withdrawal's summary just sent (of `amount` USDC to TO): its Answer opens the PIN's modal; the PIN
    submitted, the offer (no PIN in it) is confirmed."""
    summary = rest.sent()[-1]
    assert f"Withdraw {amount} USDC to {TO}" in summary.content.replace("\\", ""), summary.content
    pin_question = as_message(summary)
    await press(frontend, component(summary, "Answer"), pin_question)
    pin_modal = rest.sent()[-1]
    assert pin_modal.body["type"] == MODAL and pin_modal.body["data"]["components"][0]["components"][0]["label"] == "PIN"
    await submit(frontend, pin_modal, PIN, pin_question)
    offer = rest.sent()[-1]
    assert PIN not in offer.content and f"Withdraw {amount} USDC to" in offer.content.replace("\\", ""), offer.content
    await press(frontend, component(offer, "Confirm"), as_message(offer))


@pytest.mark.parametrize("label", [None, "devnet"])
async def test_a_discord_withdrawal_without_its_pin_option_asks_for_it_in_a_modal(
        app: App, frontend: DiscordFrontend, rest: FakeDiscord, label: str | None) -> None:
    """/withdraw with asset, amount and address (and the chain, or not) but the pin option left out: the summary and
    an Answer button for the PIN's modal, as the guided withdrawal ends; the PIN submitted leads to Confirm."""
    row = await app.services.users.seen("discord", ALICE["id"])
    address = await app.services.wallets.create(row.id)
    await app.services.pins.set_pin(row.id, PIN)
    await fund(app.profile, address, usdc=Decimal(20), eth=Decimal(1))
    options = {"asset": "USDC", "amount": "3", "address": TO} | ({"chain": label} if label else {})
    await slash(frontend, "withdraw", guild=False, **options)
    await pin_in_the_modal_then_confirm(frontend, rest, "3")
    assert await token_balance(app, app.profile.usdc.address, TO) == 3 * 10**6
