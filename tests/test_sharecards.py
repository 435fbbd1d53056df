"""Share cards: /pnl draws the owner's PnL card (a PNG, 800 × 450) on the console (a path), Telegram (a photo
through the Bot API emulator) and Discord (a file through discord.py's REST path); its Share button posts the card
with the owner's invite, on Discord publicly only when pressed (the /pnl answer itself stays ephemeral in a server),
and answers no one but the owner; bad input is refused in the user's language and changes nothing; the card draws
every shipped language without a missing glyph."""

from __future__ import annotations

import json
import re
import time
import warnings
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from auxil.pictures import size_of
from auxil.catalog import text as line
from auxil.console import console_lines
from auxil.discord import ALICE, EPHEMERAL, DiscordJourney, answered
from auxil.sharing import INDEX, mined_buy, fills_moved_to, inline
from auxil.trading import click, funded_user, say
from bot.app import App
from bot.cards import Card, render_card
from bot.core.messages import Msg
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.market.history import NavSample
from bot.portfolio.pnl import IndexPnl, pnl_of, total_of
from bot.storage.schema import fills
from handlers.shared import cards
from discord_fake import FakeDiscord, dispatched, press_payload
from telegram_emulator import BotApiEmulator

PNG = b"\x89PNG\r\n\x1a\n"


async def test_the_console_draws_the_card_to_a_path_and_share_adds_the_invite(app: App) -> None:
    uid = await mined_buy(app, "carol")
    typed = console_lines(app, "carol")
    shown = await typed("/pnl")
    assert shown.startswith(f"Your PnL on {INDEX}."), shown
    path = Path(re.search(r"^(/\S+\.png)$", shown, re.M).group(1))  # type: ignore[union-attr]
    assert size_of(path.read_bytes()) == (800, 450)
    code = await app.services.points.referrals.code_of(uid)
    shared = await typed("1")  # the Share button
    assert f"My PnL on {INDEX}" in shared and f"Buy {INDEX} in indexbot: start it with /start {code}" in shared
    assert re.search(r"^/\S+\.png$", shared, re.M)


async def test_the_card_carries_cost_value_and_pnl(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    await mined_buy(app, "dave")
    drawn: list[Card] = []
    monkeypatch.setattr(cards, "render_card", lambda card: drawn.append(card) or PNG)
    reply = await say(app, "/pnl mag7", "dave")
    assert reply.rendered.image == PNG
    [card] = drawn
    assert card.title == f"PnL on {INDEX}" and card.headline.startswith(("$", "-$"))
    text = "\n".join(card.lines)
    for label in ("Cost basis: $", "by average cost", "Value now: $", "Unrealized: ", "Realized: $0.00 (",
                  "Same money in BTC: $", "Left in USDC: $"):
        assert label in text, text


async def test_with_several_indexes_pnl_adds_them_up_on_one_card_and_share_posts_it(app: App,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """PnL on MAG7 and DEFI: /pnl alone (where it used to ask which) draws one card of both added up, every figure
    the sum of each index's from the ledger at today's prices; /pnl DEFI is still DEFI's alone; Share posts the
    total with the invite naming the index the most money is in."""
    uid = await mined_buy(app, "erin", "300")
    quoted = await say(app, "/buy DEFI.ssi 100", "erin")
    assert "Confirmed in block" in (await click(app, quoted, "Confirm", "erin")).rendered.text
    drawn: list[Card] = []
    monkeypatch.setattr(cards, "render_card", lambda card: drawn.append(card) or PNG)
    reply = await say(app, "/pnl", "erin")
    assert reply.rendered.text.startswith("Your PnL on 2 indexes together: MAG7.ssi, DEFI.ssi."), reply.rendered.text
    [card] = drawn
    snap = await app.services.market.snapshot()
    each = pnl_of(await app.services.ledger.rows.all(uid), {s: i.price for s, i in snap.indexes.items() if i.price}, None)
    assert set(each) == {INDEX, "DEFI.ssi"}
    cost = sum((p.cost for p in each.values()), Decimal(0))
    value = sum((p.tokens * snap.indexes[p.index].price for p in each.values()), Decimal(0))  # type: ignore[misc]
    text = "\n".join(card.lines)
    assert card.title == "PnL on your 2 indexes" and f"Cost basis: ${cost:,.2f} (by average cost)" in text, text
    assert f"Value now: ${value:,.2f}" in text and f"Left in USDC: ${cost:,.2f}" in text, text
    assert card.headline.startswith(f"{'-' if value < cost else ''}${abs(value - cost):,.2f} ("), card.headline

    drawn.clear()
    assert "Your PnL on DEFI.ssi." in (await say(app, "/pnl defi", "erin")).rendered.text
    assert drawn[0].title == "PnL on DEFI.ssi"
    shared = await click(app, reply, "Share", "erin")
    code = await app.services.points.referrals.code_of(uid)
    assert shared.rendered.text.startswith("My PnL on 2 indexes") and shared.rendered.image == PNG
    assert f"Buy {INDEX} in indexbot: start it with /start {code}" in shared.rendered.text  # $300 in MAG7, $100 in DEFI


def test_the_total_of_several_indexes_is_unpriced_when_one_is() -> None:
    one = IndexPnl(INDEX, Decimal(2), Decimal(200), Decimal(300), Decimal(10), Decimal(40), 5, Decimal(310), Decimal(90))
    two = IndexPnl("DEFI.ssi", Decimal(1), Decimal(100), Decimal(100), Decimal(-5), Decimal(-20), 3, None, Decimal(0))
    total = total_of([one, two])
    assert (total.cost, total.invested, total.realized, total.unrealized, total.first_at) == (300, 400, 5, 20, 3)
    assert total.value == 320 and total.total == 25 and total.pct(total.total) == Decimal("0.0625")
    assert total.btc_value is None  # DEFI's BTC comparison is unknown: so is the total's, never a partial sum
    assert total_of([one, replace(two, unrealized=None)]).value is None


BAD = [
    ("/pnl", "en", "error.pnl.none", {"valid": "-"}, False),
    ("/pnl NOPE", "zh_CN", "error.index.unknown", {"value": "NOPE", "valid": None}, True),
    ("/pnl DEFI", "ja", "error.pnl.never_held", {"index": "DEFI.ssi", "valid": INDEX}, True),
    ("/pnl MAG7 now", "es", "error.args.extra", {"usage": Msg("usage.pnl")}, True),
    ("/pnl MAG7 7d", "ru", "error.args.extra", {"usage": Msg("usage.pnl")}, True),
]


@pytest.mark.parametrize(("typed", "locale", "key", "params", "holds"), BAD)
async def test_bad_input_says_what_is_valid_and_changes_nothing(app: App, typed: str, locale: str, key: str,
                                                                params: dict, holds: bool) -> None:
    uid = await mined_buy(app, "bad") if holds else (await funded_user(app, "bad"))[0]
    if params.get("valid", "") is None:
        params["valid"] = app.services.all_index_list()
    before = await app.services.ledger.rows.count(uid)
    reply = await say(app, typed, "bad", locale=locale)
    assert reply.rendered.text == line(app, key, locale, **params) and reply.rendered.image is None
    assert await app.services.ledger.rows.count(uid) == before


async def test_another_user_cannot_press_share(app: App) -> None:
    await mined_buy(app, "owner")
    card = await say(app, "/pnl", "owner")
    refused = await click(app, card, "Share", "stranger")
    assert refused.rendered.image is None and "My PnL" not in refused.rendered.text


async def test_telegram_receives_a_photo_and_share_sends_the_deep_link(app: App, emulator: BotApiEmulator,
                                                                      telegram: TelegramFrontend) -> None:
    user = 8811
    uid = await fills_moved_to(app, "telegram", str(user))
    since = emulator.mark()
    emulator.send_text(user, user, "/pnl")
    sent = await emulator.wait_for("sendPhoto", lambda c: c.chat_id == user, since=since)
    assert size_of(sent.params["photo"]) == (800, 450) and f"Your PnL on {INDEX}" in sent.params["caption"]
    markup = sent.params["reply_markup"]
    rows = (json.loads(markup) if isinstance(markup, str) else markup)["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == "Share")
    since = emulator.mark()
    emulator.press(user, user, sent.result["message_id"], data)
    shared = await emulator.wait_for("sendPhoto", lambda c: c.chat_id == user, since=since)
    code = await app.services.points.referrals.code_of(uid)
    assert f"?start=ref_{code}" in shared.params["caption"], shared.params["caption"]


async def test_discord_pnl_is_hidden_in_a_server_and_share_posts_it_publicly(app: App, frontend: DiscordFrontend,
                                                                            rest: FakeDiscord) -> None:
    await fills_moved_to(app, "discord", ALICE["id"])
    me = DiscordJourney(frontend, rest, ALICE, guild=True)
    card = await me.slash("pnl")
    assert me.is_hidden(card) and card.files == 1 and f"Your PnL on {INDEX}" in str(card.body)
    since = len(rest.calls)
    payload = press_payload(me.labels(card)["Share"], me.message(card), ALICE, guild_id=me.guild_id)
    await dispatched(lambda: frontend.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    shared = answered(rest, since)
    assert not shared.flags & EPHEMERAL and shared.files == 1, shared.body
    assert f"My PnL on {INDEX}" in str(shared.body) and "/start " in str(shared.body)


@pytest.mark.parametrize("locale", ["zh_CN", "zh_TW", "ja", "ko", "ru", "vi", "es"])
def test_every_language_draws_without_a_missing_glyph(locale: str) -> None:
    words = {"zh_CN": "盈亏与成本", "zh_TW": "損益與成本", "ja": "含み損益と実現損益", "ko": "미실현 손익",
             "ru": "Нереализованный", "vi": "Lãi/lỗ chưa chốt", "es": "Cotización del índice"}
    card = Card(words[locale], "$12.00 (+3.00%)", "up", (words[locale],) * 6, "indexbot", locale,
                (Decimal(1), Decimal(2), Decimal("1.5")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
        png = render_card(card)
    assert png.startswith(PNG) and size_of(png) == (800, 450)


# -- Telegram's inline mode -------------------------------------------------------------------------------------


async def test_an_inline_quote_card_carries_the_sharers_invite_and_a_friend_starting_from_it_is_credited(
        app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    sharer, friend = 8821, 8822
    sharer_key = (await app.services.users.seen("telegram", str(sharer))).id
    code = await app.services.points.referrals.code_of(sharer_key)
    answer = await inline(emulator, sharer, "mag7")
    [card] = [r for r in answer["results"] if r["id"] == f"quote:{INDEX}"]
    text = card["input_message_content"]["message_text"]
    assert card["type"] == "article" and card["title"] == f"{INDEX} quote card" and answer["is_personal"] in (True, "true")
    assert "NAV $" in text and "24 h change: no 24 h data yet" in text, text
    [[button]] = card["reply_markup"]["inline_keyboard"]
    link = button["url"]
    assert button["text"] == f"Buy {INDEX} in indexbot" and link.endswith(f"?start=ref_{code}") and link in text
    since = emulator.mark()
    emulator.send_text(friend, friend, "/start " + link.split("?start=")[1])  # what Telegram sends on opening the link
    welcome = await emulator.wait_for("sendMessage", lambda c: c.chat_id == friend, since=since)
    assert "invite" in welcome.params["text"].lower() or "bonus" in welcome.params["text"].lower(), welcome.params["text"]
    friend_key = (await app.services.users.seen("telegram", str(friend))).id
    assert await app.services.points.referrals.referrer_of(friend_key) == sharer_key


async def test_inline_pnl_is_the_askers_own_and_no_one_elses(app: App, emulator: BotApiEmulator,
                                                            telegram: TelegramFrontend) -> None:
    owner, other = 8831, 8832
    uid = await fills_moved_to(app, "telegram", str(owner))
    code = await app.services.points.referrals.code_of(uid)
    answer = await inline(emulator, owner, "pnl")
    [card] = answer["results"]
    text = card["input_message_content"]["message_text"]
    assert card["id"] == f"pnl:{INDEX}" and "Cost basis: $" in text and "Same money in BTC" in text
    assert f"?start=ref_{code}" in text
    theirs = await inline(emulator, other, "pnl")  # another user has no fills: nothing of the owner's
    assert theirs["results"] == [] and "Cost basis" not in str(theirs)


NOTHING = ["nope", "mag7 now please", "pnl DEFI", "pnl mag7 30d"]


@pytest.mark.parametrize("typed", NOTHING)
async def test_an_inline_query_that_matches_nothing_gets_a_hint_not_an_error(app: App, emulator: BotApiEmulator,
                                                                           telegram: TelegramFrontend, typed: str) -> None:
    answer = await inline(emulator, 8841, typed)
    assert answer["results"] == []
    assert answer["button"]["start_parameter"] == "private" and answer["button"]["text"].startswith("Type an index (")


async def test_discord_share_under_an_index_posts_its_quote_card_publicly(app: App, frontend: DiscordFrontend,
                                                                         rest: FakeDiscord) -> None:
    me = DiscordJourney(frontend, rest, ALICE, guild=True)
    shown = await me.slash("indexes", index=INDEX)
    assert "Share" in me.labels(shown)
    since = len(rest.calls)
    payload = press_payload(me.labels(shown)["Share"], me.message(shown), ALICE, guild_id=me.guild_id)
    await dispatched(lambda: frontend.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    shared = answered(rest, since)
    body = str(shared.body)
    assert not shared.flags & EPHEMERAL and shared.files == 1 and f"{INDEX} in indexbot" in body
    assert "NAV $" in body and "no 24 h data yet" in body and "/start " in body


async def test_the_quote_card_says_the_24_h_change_once_a_day_of_samples_exists(app: App) -> None:
    await app.services.navs.sample()
    fresh = await click(app, await say(app, f"/indexes {INDEX}"), "Share")
    assert "24 h change: no 24 h data yet" in fresh.rendered.text  # an hour of samples is no day
    ref = app.profile.index(INDEX)
    now = (await app.services.market.snapshot()).indexes[INDEX]
    await app.services.navs._rows.add([NavSample(ref.token.address, 1, int(time.time()) - 86_000, now.nav / 2, None, None,
                                                 (), {})])
    reply = await say(app, f"/indexes {INDEX}")
    shared = await click(app, reply, "Share")
    assert "24 h change: +100%" in shared.rendered.text and size_of(shared.rendered.image or b"") == (800, 450)
