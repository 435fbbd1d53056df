"""Transfers in and out of an index a factory issues (MAG7.nex, on the devnet's stock chain), detected from the
wallet's balance read on that chain: tokens sent in are a transfer in at the factory's NAV in /history, once however
often detection runs at a block; tokens sent out are a transfer out; a request to the factory still pending holds that
index's detection up (a redemption's tokens sit in the factory until it fills), and a cancelled one does not."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import REGISTRY

from bot.app import App
from bot.portfolio.pnl import TRANSFER_IN, TRANSFER_OUT
from devnet.fulfil import Fulfiller
from auxil.issuance import hours_app, issued_holder, mag7_nex, steps  # noqa: F401  (hours_app: a fixture)
from auxil.requests import click, say
from auxil.trading import PIN, funded_user, token_balance

INDEX = "MAG7.nex"


async def nav(app: App) -> Decimal:
    assert app.services.issuance is not None
    return (await app.services.issuance.state(app.services.companions[0].index(INDEX))).nav


async def send(app: App, user: str, units: int, to: str) -> None:
    """`user` withdraws `units` of MAG7.nex to `to` (another account sends them)."""
    amount = Decimal(units).scaleb(-18)
    done = await click(app, await say(app, f"/withdraw {INDEX} {amount:f} {to} {PIN}", user), "Confirm", user)
    assert "Confirmed in block" in done.rendered.text, done.rendered.text


async def test_issued_tokens_sent_in_and_out_are_transfers_at_the_factory_nav(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    rows, transfers = app.services.ledger.rows, app.services.transfers
    sender, sender_address, held = await issued_holder(app, fulfiller, "a1")
    user, address = await funded_user(app, "b1")
    await send(app, "a1", held // 4, address)
    await app.head.poll_once()

    text = (await say(app, "/history", "b1")).rendered.text
    [got] = await rows.all(user)
    chain_id = app.services.companions[0].chain_id
    assert (got.kind, got.index, got.chain_id, got.wallet, got.received_units, got.paid_units) == (
        TRANSFER_IN, INDEX, chain_id, address, held // 4, 0)
    assert got.price_usd == await nav(app) and got.block == app.head.head
    assert f"Transfer in: {INDEX}" in text and "Cost basis: its market value when seen" in text, text
    assert f"Seen at block {got.block:,}" in text, text
    assert await transfers.check(user, address) == [] and await transfers.check(user, address) == []  # same block
    assert await transfers.sweep() == 1 and await rows.count(user) == 1  # the sweep: only the sender's transfer out
    positions = (await say(app, "/positions", "b1")).rendered.text
    assert INDEX in positions and "transfers: in at market value when seen" in positions, positions

    [issue, out] = await rows.all(sender)
    assert (issue.kind, out.kind, out.index, out.paid_units, out.received_units, out.wallet) == (
        "issue", TRANSFER_OUT, INDEX, held // 4, 0, sender_address)
    text = (await say(app, "/history", "a1")).rendered.text
    assert f"Transfer out: {INDEX}" in text and "Left at average cost: no PnL realized" in text, text

    # a redemption takes the tokens into the factory until it fills: no transfer out meanwhile, nor after
    await click(app, await say(app, f"/sell {INDEX} {Decimal(held // 4).scaleb(-18):f}", "a1"), "Confirm", "a1")
    assert await token_balance(app, mag7_nex(app)[0], sender_address) == held - 2 * (held // 4)
    assert await transfers.sweep() == 0 and await rows.count(sender) == 2
    assert REGISTRY.get_sample_value("indexbot_transfer_waiting_wallets") == 1
    assert await steps(fulfiller) and await app.services.issuance.orders.check() == 1
    await app.head.poll_once()  # the home chain's read at the fill's block or later (the same chain here)
    assert await transfers.sweep() == 0
    assert [f.kind for f in await rows.all(sender)] == ["issue", TRANSFER_OUT, "redeem"]
    assert REGISTRY.get_sample_value("indexbot_transfer_waiting_wallets") == 0


async def test_a_pending_issuance_holds_its_index_up_until_it_is_cancelled(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    rows = app.services.ledger.rows
    _, _, held = await issued_holder(app, fulfiller, "a1")
    user, address = await funded_user(app, "b1")
    await click(app, await say(app, f"/buy {INDEX} 50", "b1"), "Confirm", "b1")  # pending: the factory has not filled it
    await send(app, "a1", held // 2, address)
    await app.head.poll_once()

    text = (await say(app, "/history", "b1")).rendered.text
    assert "Transfer in" not in text and await rows.count(user) == 0, text
    assert await app.services.transfers.sweep() == 1  # the sender's transfer out; the receiver waits
    assert await rows.count(user) == 0 and REGISTRY.get_sample_value("indexbot_transfer_waiting_wallets") == 1

    listed = await say(app, "/orders", "b1")
    cancel = next(b.label for row in listed.rendered.buttons for b in row if b.label.startswith("Cancel #"))
    assert "cancelled" in (await click(app, listed, cancel, "b1")).rendered.text
    await app.head.poll_once()
    text = (await say(app, "/history", "b1")).rendered.text
    [got] = await rows.all(user)
    assert (got.kind, got.index, got.received_units, got.price_usd) == (TRANSFER_IN, INDEX, held // 2, await nav(app))
    assert f"Transfer in: {INDEX}" in text, text
    assert await app.services.transfers.sweep() == 0 and await rows.count(user) == 1
