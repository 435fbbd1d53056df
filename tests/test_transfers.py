"""Transfers in and out of a wallet, detected from its balances, on the devnet: index tokens minted to a custodial
wallet are a transfer in at their market value in /history (console, the Telegram emulator, the Discord fake) and
in /positions' cost basis, with the rule named; a /withdraw of them is a transfer out at average cost that realizes
nothing; a buy mined but not yet in the ledger is not taken for a transfer; staking is no transfer; detection run
twice (the job, the views) records once. The cost basis rule itself, replayed from fills."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from bot.app import App
from bot.frontends.adapters.discord import DiscordFrontend
from bot.market.positions import Positions
from bot.portfolio.fill import Fill
from bot.portfolio.pnl import TRANSFER_IN, TRANSFER_OUT, pnl_of
from bot.portfolio.transfers import JOB
from auxil.chain import mint
from auxil.discord import ALICE, dm_slash, shown
from auxil.telegram import ask
from auxil.trading import PIN, click, custodial_user, funded_user, mined_buy, say, token_balance
from discord_fake import FakeDiscord
from telegram_emulator import BotApiEmulator

INDEX = "MAG7.ssi"
UNIT = 10**8  # MAG7.ssi's decimals
OUTSIDE = "0x" + "cd" * 20


def fill(kind: str, tokens: str, usd: str = "0", price: str = "0", btc: str = "50000") -> Fill:
    """A trade (buy, sell: `usd` paid or received) or a transfer (`price` a token when seen) of `tokens` INDEX."""
    units = int(Decimal(tokens).scaleb(8))
    cash = int(Decimal(usd).scaleb(6))
    adds = kind in ("buy", TRANSFER_IN)
    usdc = "" if kind.startswith("transfer") else "USDC"
    paid, got = ((usdc, cash if usdc else 0, 6), (INDEX, units, 8)) if adds else ((INDEX, units, 8), (usdc, cash if usdc else 0, 6))
    return Fill(None if usdc == "" else 1, 1, 1, kind, INDEX, *paid, *got, Decimal(price), 0, Decimal(0), Decimal(btc), "", 1, 1)


def test_a_transfer_in_enters_at_market_value_and_a_transfer_out_leaves_at_average_cost() -> None:
    """Bought 1 at 100, 1 came in worth 300: 2 tokens cost 400. One goes out at the average (200), realizing nothing;
    selling the last at 250 realizes 50."""
    ledger = [fill("buy", "1", "100"), fill(TRANSFER_IN, "1", price="300")]
    pnl = pnl_of(ledger, {INDEX: Decimal(250)}, None)[INDEX]
    assert (pnl.tokens, pnl.cost, pnl.invested, pnl.realized, pnl.transferred) == (2, 400, 400, 0, True)
    ledger.append(fill(TRANSFER_OUT, "1", price="250"))
    pnl = pnl_of(ledger, {INDEX: Decimal(250)}, Decimal(50000))[INDEX]
    assert (pnl.tokens, pnl.cost, pnl.invested, pnl.realized, pnl.unrealized) == (1, 200, 200, 0, 50)
    assert pnl.btc_worth == 200  # half the BTC the same money bought left with the token that left
    ledger.append(fill("sell", "1", "250"))
    pnl = pnl_of(ledger, {}, None)[INDEX]
    assert (pnl.tokens, pnl.cost, pnl.realized, pnl.uncosted) == (0, 0, 50, 0)
    assert not pnl_of([fill("buy", "1", "100")], {}, None)[INDEX].transferred


def test_tokens_sold_before_their_transfer_was_seen_are_uncosted_until_it_is() -> None:
    """3 tokens sold for 900 with one bought at 100: two are unexplained (uncosted, no PnL) until the transfer that
    brought them is seen at 250 a token; then they realize 2 x (300 - 250) and nothing stays uncosted or held."""
    ledger = [fill("buy", "1", "100"), fill("sell", "3", "900")]
    before = pnl_of(ledger, {}, None)[INDEX]
    assert (before.uncosted, before.realized) == (2, 200)
    after = pnl_of([*ledger, fill(TRANSFER_IN, "2", price="250")], {INDEX: Decimal(300)}, None)[INDEX]
    assert (after.uncosted, after.tokens, after.cost, after.realized, after.invested) == (0, 0, 0, 300, 600)


async def test_a_transfer_in_shows_in_history_and_positions_at_its_market_value(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    uid, address = await funded_user(app)
    rows = app.services.ledger.rows
    await mint(app, app.profile.index(INDEX).token.address, address, 2 * UNIT)
    await app.head.poll_once()
    text = (await say(app, "/history")).rendered.text
    [got] = await rows.all(uid)
    price = (await app.services.market.snapshot()).indexes[INDEX].price
    assert (got.kind, got.intent_id, got.wallet, got.received_units, got.paid_units) == (TRANSFER_IN, None, address, 2 * UNIT, 0)
    assert got.price_usd == price and got.block == app.head.head
    assert f"Transfer in: {INDEX}" in text and "Came in: 2" in text and "Cost basis: its market value when seen" in text, text
    assert f"Seen at block {got.block:,}" in text and "Buy " not in text

    positions = (await say(app, "/positions")).rendered.text
    pnl = pnl_of(await rows.all(uid), {}, None)[INDEX]
    assert pnl.cost == 2 * got.price_usd and pnl.realized == 0
    assert "by average cost" in positions and "transfers: in at market value when seen, out at average cost" in positions, positions

    # detection again, by the job and by every view: recorded once
    await app.start_schedule()
    assert app.services.schedule.names("portfolio:") == [JOB]
    assert await app.services.transfers.sweep() == 0
    reads: list[str] = []
    real = app.services.positions.read

    async def counted(wallet: str) -> Positions:
        reads.append(wallet)
        return await real(wallet)

    monkeypatch.setattr(app.services.positions, "read", counted)
    asked: list[int] = []  # the ledger asked whether the wallet is settled, at these blocks
    reconcile = rows.reconcile

    async def counted_reconcile(chain_id: int, wallet: str, block: int, *rest: object) -> object:
        asked.append(block)
        return await reconcile(chain_id, wallet, block, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(rows, "reconcile", counted_reconcile)
    await say(app, "/pnl")
    await say(app, "/history")
    assert reads == [] and await rows.count(uid) == 1  # /positions' read was at the head: reused
    assert asked == []  # and /positions settled the wallet at that block: no query for the views after it
    await mint(app, app.profile.index(INDEX).token.address, address, 1)  # a new block, one more base unit
    await app.head.poll_once()
    await say(app, "/pnl")
    settled_by_pnl = len(asked)
    await say(app, "/history")
    assert reads == [address]  # one read at the new block for both views
    assert settled_by_pnl and len(asked) == settled_by_pnl and set(asked) == {app.head.head}  # /history asks nothing more
    assert [f.received_units for f in await rows.all(uid)] == [2 * UNIT, 1]
    assert await app.services.transfers.sweep() == 0
    rows_csv = list(csv.DictReader(io.StringIO((await rows_of_csv(app)).decode())))
    assert [(r["side"], r["received"], r["paid"], r["block"]) for r in rows_csv][0] == (
        TRANSFER_IN, "2.00000000", "0", str(got.block))

    # staking moves nothing out of the user's hands: no transfer
    staked = await click(app, await say(app, f"/stake {INDEX} 1"), "Confirm")
    assert "Confirmed in block" in staked.rendered.text, staked.rendered.text
    assert await app.services.transfers.sweep() == 0 and await rows.count(uid) == 2


async def rows_of_csv(app: App) -> bytes:
    sent = (await say(app, "/history csv")).rendered.file
    assert sent is not None and sent.name == "history.csv"
    return sent.content


async def test_a_withdraw_is_a_transfer_out_at_average_cost_realizing_nothing(app: App) -> None:
    uid, address = await funded_user(app)
    rows = app.services.ledger.rows
    await mined_buy(app, INDEX, "100")
    held = await token_balance(app, app.profile.index(INDEX).token.address, address)
    half = Decimal(held // 2).scaleb(-8)
    offer = await say(app, f"/withdraw {INDEX} {half:f} {OUTSIDE} {PIN}")
    assert "Confirmed in block" in (await click(app, offer, "Confirm")).rendered.text
    before = pnl_of(await rows.all(uid), {}, None)[INDEX]
    assert before.tokens == Decimal(held).scaleb(-8)  # the ledger does not know yet

    assert await app.services.transfers.sweep() == 1
    ledger = await rows.all(uid)
    out = ledger[-1]
    assert (out.kind, out.paid_units, out.received_units, out.wallet) == (TRANSFER_OUT, held // 2, 0, address)
    after = pnl_of(ledger, {}, None)[INDEX]
    assert after.tokens == Decimal(held - held // 2).scaleb(-8) and after.realized == 0
    assert after.cost == before.cost - before.cost * Decimal(held // 2) / Decimal(held)  # at the average cost
    text = (await say(app, "/history")).rendered.text
    assert f"Transfer out: {INDEX}" in text and "Left at average cost: no PnL realized" in text, text
    assert await app.services.transfers.sweep() == 0 and await rows.count(uid) == 2


async def test_a_trade_mined_but_not_yet_recorded_is_no_transfer(app: App) -> None:
    uid, address = await funded_user(app)
    desk, ledger = app.services.desks.home, app.services.ledger
    desk.mined_hooks.remove(ledger.on_mined)  # the fill's hook has not run yet (a crash, or still on its way)
    try:
        intent_id = await mined_buy(app, INDEX, "50")
        assert await token_balance(app, app.profile.index(INDEX).token.address, address) > 0
        waits = REGISTRY.get_sample_value("indexbot_transfer_waits_total") or 0
        assert await app.services.transfers.sweep() == 0
        # operators see the wallet wait (a fill that can never be read would keep it there sweep after sweep)
        assert REGISTRY.get_sample_value("indexbot_transfer_waits_total") == waits + 1
        assert REGISTRY.get_sample_value("indexbot_transfer_waiting_wallets") == 1
        assert "No fills yet" in (await say(app, "/history")).rendered.text  # the views wait too
        assert await ledger.rows.count(uid) == 0
    finally:
        desk.mined_hooks.append(ledger.on_mined)
    assert await ledger.sweep(desk.intents) == 1  # the fill, once recorded, explains the balance
    assert await app.services.transfers.sweep() == 0
    assert REGISTRY.get_sample_value("indexbot_transfer_waiting_wallets") == 0
    assert [(f.kind, f.intent_id) for f in await ledger.rows.all(uid)] == [("buy", intent_id)]


async def test_telegram_history_shows_a_transfer_in(app: App, emulator: BotApiEmulator, telegram: object) -> None:
    user = 5301
    _, address = await custodial_user(app, str(user), pin=None, platform="telegram")
    await mint(app, app.profile.index(INDEX).token.address, address, 3 * UNIT)
    await app.head.poll_once()
    shown = str((await ask(emulator, user, user, "/history")).params["text"])
    assert f"Transfer in: {INDEX}" in shown and "Came in: 3" in shown and "market value when seen" in shown, shown


async def test_discord_history_shows_a_transfer_in(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    _, address = await custodial_user(app, ALICE["id"], pin=None, platform="discord")
    await mint(app, app.profile.index(INDEX).token.address, address, UNIT // 2)
    await app.head.poll_once()
    text = shown((await dm_slash(frontend, rest, "history")).content)
    assert f"Transfer in: {INDEX}" in text and "Came in: 0.5" in text and "Seen at block" in text, text
