"""The portfolio's ledger on the devnet: a buy is recorded once with its price, pool fee and gas; /history pages it
(console, the Telegram emulator, the Discord fake) and /history csv sends it; a constituent's price moved with the
devnet's operator moves the unrealized PnL of /positions; a sell realizes PnL by average cost; settling again or a
restart's reconciliation records nothing twice; bad input changes nothing."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete

from bot.app import App
from bot.frontends.adapters.discord import DiscordFrontend
from bot.portfolio.fill import Fill
from bot.portfolio.pnl import pnl_of
from bot.storage.schema import fills
from devnet import operator as op
from devnet.fulfil import Fulfiller
from auxil.issuance import hours_app, mag7_nex, steps  # noqa: F401  (hours_app: a fixture)
from auxil.console import console_lines
from auxil.discord import dm_slash, shown
from auxil.telegram import ask, press_and_wait_edit
from auxil.trading import PIN, click, funded_user, say, token_balance
from discord_fake import FakeDiscord
from telegram_emulator import BotApiEmulator

INDEX = "MAG7.ssi"


async def bought(app: App, amount: str = "100", user: str = "u1") -> int:
    """A confirmed, mined /buy through the router; its intent id."""
    quoted = await say(app, f"/buy {INDEX} {amount}", user)
    done = await click(app, quoted, "Confirm", user)
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    uid = (await app.services.users.seen("console", user)).id
    return max(i.id for i in await app.services.desks.home.intents.of_user(uid))


def fill_at(kind: str, usd: str, tokens: str, btc: str, gas: str = "0") -> Fill:
    buys = kind == "buy"
    paid, got = (usd, tokens) if buys else (tokens, usd)
    units = {"USDC": 6, INDEX: 8}
    sym_paid, sym_got = ("USDC", INDEX) if buys else (INDEX, "USDC")
    return Fill(0, 1, 1, kind, INDEX, sym_paid, int(Decimal(paid).scaleb(units[sym_paid])), units[sym_paid], sym_got,
                int(Decimal(got).scaleb(units[sym_got])), units[sym_got], Decimal(0), 3000, Decimal(gas), Decimal(btc),
                "0x", 1, 1)


def test_average_cost_realizes_the_average_and_compares_with_btc() -> None:
    """Two buys at 100 and 200 a token: 2 tokens cost 300, an average of 150; selling one at 300 realizes 150."""
    ledger = [fill_at("buy", "100", "1", "50000"), fill_at("buy", "200", "1", "100000"), fill_at("sell", "300", "1", "100000")]
    pnl = pnl_of(ledger, {INDEX: Decimal(250)}, Decimal(100000))[INDEX]
    assert (pnl.tokens, pnl.cost, pnl.average, pnl.invested) == (1, 150, 150, 300)
    assert (pnl.realized, pnl.unrealized, pnl.total) == (150, 100, 250)
    assert pnl.pct(pnl.realized) == Decimal("0.5")
    # in BTC: 0.002 + 0.002 BTC bought, 0.003 taken out by the sell: 0.001 BTC left ($100) plus $300 out, less $300 in
    assert pnl.btc_pnl == 100 and pnl.btc_worth == 400


def test_tokens_never_seen_bought_realize_nothing() -> None:
    """One token bought at 100, then 3 sold at 300 each (two came in by a transfer the ledger did not see): only the
    one with a known cost realizes (300 - 100); the other two are counted apart, not as $600 of profit."""
    ledger = [fill_at("buy", "100", "1", "50000"), fill_at("sell", "900", "3", "100000")]
    pnl = pnl_of(ledger, {INDEX: Decimal(300)}, Decimal(100000))[INDEX]
    assert (pnl.tokens, pnl.cost, pnl.realized, pnl.proceeds, pnl.uncosted) == (0, 0, 200, 300, 2)
    assert pnl_of([fill_at("sell", "900", "3", "100000")], {}, None)[INDEX].realized == 0  # nothing bought: nothing realized


async def test_a_buy_is_recorded_once_and_history_shows_it(app: App, tmp_path: Path) -> None:
    uid, address = await funded_user(app)
    intent_id = await bought(app)
    intent = await app.services.desks.home.intents.get(intent_id)
    assert intent is not None
    [fill] = await app.services.ledger.rows.all(uid)
    got = await token_balance(app, app.profile.index(INDEX).token.address, address)
    assert (fill.intent_id, fill.kind, fill.paid_symbol, fill.paid_units, fill.received_units) == (intent_id, "buy", "USDC", 100 * 10**6, got)
    assert fill.pool_fee == intent.params["pool_fee"] and fill.gas_usd > 0 and fill.btc_usd and fill.btc_usd > 0
    assert fill.price_usd == Decimal(100) / fill.received and fill.tx_hash == intent.result["tx_hash"]

    text = (await say(app, "/history")).rendered.text
    assert f"Buy {INDEX}" in text and "Paid: 100 USDC" in text and "Pool fee: 0.3%" in text, text
    assert "Price: $" in text and "Gas: $" in text and fill.tx_hash in text

    # settling again (a second follower pass, a restart's reconciliation and sweep) records nothing more
    await app.services.desks.home.follower.check(intent_id)
    await app.reconcile()
    assert await app.services.ledger.sweep(app.services.desks.home.intents) == 0
    assert await app.services.ledger.rows.count(uid) == 1
    # a crash between the outcome and its fill: the next start records it, once
    await app.db.execute(delete(fills))
    await app.reconcile()
    await app.reconcile()
    assert [f.intent_id for f in await app.services.ledger.rows.all(uid)] == [intent_id]

    # the CSV file, through the console: it writes the file and prints where
    line = console_lines(app, "u1")
    printed = await line("/history csv")
    path = Path(printed.strip().splitlines()[-1])
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["side"], r["index"], r["paid"], r["paid_symbol"], r["tx_hash"]) for r in rows] == [
        ("buy", INDEX, "100.000000", "USDC", fill.tx_hash)]
    assert Decimal(rows[0]["received"]) == fill.received  # exact, from base units
    assert Decimal(rows[0]["gas_usd"]) == fill.gas_usd.quantize(Decimal("1e-8"))  # derived: to 8 places
    assert Decimal(rows[0]["price_usd"]) == fill.price_usd.quantize(Decimal("1e-8"))
    assert len(rows[0]["price_usd"].split(".")[1]) == 8
    assert "Your fills" in await line("/history")


async def test_price_moves_unrealized_and_a_sell_realizes_by_average_cost(app: App) -> None:
    uid, address = await funded_user(app)
    await bought(app, "100")
    await bought(app, "300")
    before = (await say(app, "/positions")).rendered.text
    assert "Cost: $4" in before and "by average cost" in before and "Unrealized:" in before and "Same in BTC:" in before
    assert "Left in USDC: $400" in before

    btc = (await app.services.market.snapshot()).prices["BTC"]
    await op.set_price(app.profile, "BTC", btc * 2)  # BTC is in MAG7's basket: its NAV rises
    await app.head.poll_once()
    after = (await say(app, "/positions")).rendered.text
    unrealized = [ln for ln in after.splitlines() if ln.startswith("Unrealized:")]
    assert unrealized and unrealized != [ln for ln in before.splitlines() if ln.startswith("Unrealized:")]
    assert "Same in BTC: $800.00\n  +100%" in after, after  # the $400 in BTC doubled with it

    held = await token_balance(app, app.profile.index(INDEX).token.address, address)
    half = Decimal(held) / 2 / 10**8
    quoted = await say(app, f"/sell {INDEX} {half:.8f}")
    assert "Confirmed in block" in (await click(app, quoted, "Confirm")).rendered.text
    ledger = await app.services.ledger.rows.all(uid)
    assert [f.kind for f in ledger] == ["buy", "buy", "sell"]
    buys, sell = ledger[:2], ledger[2]
    cost = sum(f.usd + f.gas_usd for f in buys)
    average = cost / sum(f.tokens for f in buys)
    expected = sell.usd - sell.gas_usd - average * sell.tokens
    pnl = pnl_of(ledger, {}, None)[INDEX]
    assert abs(pnl.realized - expected) < Decimal("1e-18") and abs(pnl.cost - (cost - average * sell.tokens)) < Decimal("1e-18")
    text = (await say(app, "/positions")).rendered.text
    assert "Realized: " in text and "Realized: none" not in text
    assert "Sell " + INDEX in (await say(app, "/history")).rendered.text
    # the daily digest carries the same PnL, realized and unrealized together
    [line] = await app.services.digests._pnl_lines(uid)
    assert line.key == "digest.pnl" and line.params["index"] == INDEX
    now = pnl_of(ledger, {INDEX: (await app.services.market.snapshot()).indexes[INDEX].price}, None)[INDEX]  # type: ignore[dict-item]
    assert line.params["usd"].value == now.total  # type: ignore[union-attr]


BAD = [
    ("/history 0", 'There is no page "0": choose 1 to 1'),
    ("/history -1", 'There is no page "-1"'),
    ("/history two", 'There is no page "two"'),
    ("/history ²", 'There is no page "²"'),  # a digit to str.isdigit, not to int(): no internal error
    ("/history ١", 'There is no page "١"'),
    ("/history 2", 'There is no page "2": choose 1 to 1, or csv'),
    ("/history csv now", "Too many arguments. Usage: /history [page|csv]"),
    ("/history 1 2", "Too many arguments"),
    ("/positions all", "Too many arguments. Usage: /positions"),
]


@pytest.mark.parametrize(("line", "said"), BAD)
async def test_bad_input_says_what_is_valid_and_changes_nothing(app: App, line: str, said: str) -> None:
    uid, _ = await funded_user(app)
    before = await app.services.ledger.rows.count(uid)
    text = (await say(app, line)).rendered.text
    assert said in text, text
    assert await app.services.ledger.rows.count(uid) == before


async def test_history_pages_newest_first_with_prev_and_next(app: App) -> None:
    uid, _ = await funded_user(app)
    for _ in range(6):
        await bought(app, "10")
    first = await say(app, "/history")
    assert "Page 1 of 2" in first.rendered.text and first.rendered.text.count(f"Buy {INDEX}") == 5
    older = await click(app, first, "Older ›")
    assert older.rendered.edit and "Page 2 of 2" in older.rendered.text and older.rendered.text.count(f"Buy {INDEX}") == 1
    newer = await click(app, older, "‹ Newer")
    assert "Page 1 of 2" in newer.rendered.text


async def test_telegram_history_and_its_csv_document(app: App, emulator: BotApiEmulator, telegram: object) -> None:
    user = 5101
    await funded_user(app, str(user), usdc=Decimal(1000), platform="telegram")
    quoted = await ask(emulator, user, user, f"/buy {INDEX} 50")
    done = await press_and_wait_edit(emulator, user, quoted, "Confirm")
    assert "Confirmed in block" in str(done.params["text"])
    shown_history = await ask(emulator, user, user, "/history")
    assert f"Buy {INDEX}" in shown_history.params["text"] and "Paid: 50 USDC" in shown_history.params["text"]
    since = emulator.mark()
    emulator.send_text(user, user, "/history csv")
    sent = await emulator.wait_for("sendDocument", lambda c: c.chat_id == user, since=since)
    name, content = emulator.documents[(user, int(sent.result["message_id"]))]
    assert name == "history.csv" and content.decode().splitlines()[1].split(",")[1:5] == ["buy", INDEX, "50.000000", "USDC"]


async def test_discord_history_and_its_csv_attachment(frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    empty = await dm_slash(frontend, rest, "history")
    assert "No fills yet" in shown(empty.content)
    sent = await dm_slash(frontend, rest, "history", page="csv")
    body = sent.body.get("data", sent.body) if isinstance(sent.body, dict) else {}
    assert sent.files == 1 and [a["filename"] for a in body.get("attachments", [])] == ["history.csv"]
    bad = await dm_slash(frontend, rest, "history", page="7")
    assert 'There is no page "7"' in shown(bad.content)


async def test_a_factory_fill_is_recorded_once_even_after_a_crash(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    uid, address = await funded_user(app)
    token, _ = mag7_nex(app)
    done = await click(app, await say(app, "/buy MAG7.nex 1000"), "Confirm")
    assert "Issuance request" in done.rendered.text, done.rendered.text
    assert await app.services.ledger.rows.count(uid) == 0  # nothing filled before the factory does
    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
    assert await app.services.issuance.orders.check() == 1
    [fill] = await app.services.ledger.rows.all(uid)
    order = (await app.services.issuance.orders.rows.of_user(uid))[0]
    assert (fill.kind, fill.paid_units, fill.received_units, fill.tx_hash) == ("issue", 1000 * 10**6, await token_balance(app, token, address), order.fill_tx)
    assert fill.buys and fill.price_usd == Decimal(order.price or 0).scaleb(-18) and fill.gas_usd > 0
    nex_chain = app.services.issuance.desk(app.services.issuance.indexes[0]).chain
    mined_in = int((await nex_chain.receipts([order.fill_tx or ""]))[order.fill_tx or ""]["blockNumber"])
    assert fill.block == mined_in > 0  # the block of the factory's fill (its event), as a pool trade's
    await app.db.execute(delete(fills))  # a crash between the fill and its record
    await app.reconcile()
    await app.reconcile()
    assert [(f.intent_id, f.block) for f in await app.services.ledger.rows.all(uid)] == [(order.intent_id, mined_in)]
    assert "Buy MAG7.nex" in (await say(app, "/history")).rendered.text
