"""Trades from a connected wallet through the intent pipeline, without a browser: the wallet is an eth-account
key in the test that sends to anvil what the signing link asks for (or something else), and the hashes go to
the app's real `on_hash`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import make_config
from eth_account import Account
from auxil.trading import Recorder, click, funded_user, say, token_balance

from bot.chain import protocol as p
from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.errors import UserError
from bot.core.request import Request
from bot.trading import txs
from bot.trading.executor import Executor
from bot.trading.intents import Intent, State
from devnet import anvil as anvil_rpc
from devnet.harness import Devnet
from devnet.operator import fund
from devnet.rpc import connect
from wallets.connected import short_address
from auxil.catalog import text


def trading(app: App) -> Executor:
    assert app.services.desks.home is not None
    return app.services.desks.home


async def connected_user(app: App, user: str = "w1", account: Any = None) -> tuple[int, Any]:
    """A user whose connected wallet (a fresh key, funded with USDC and ETH) is linked; (user key, account)."""
    account = account or Account.create()
    row = await app.services.users.seen("console", user)
    assert app.services.connected is not None
    links = app.services.connected.connect_links
    token = secrets.token_urlsafe(32)
    await links.issue(token, row.id, "console", user, secrets.token_hex(12), 600)
    assert await links.use_and_link(token, row.id, account.address, int(time.time()))
    await fund(app.profile, account.address, usdc=Decimal(1000), eth=Decimal(1))
    return row.id, account


async def confirmed_buy(app: App, user: str = "w1") -> tuple[Intent, str]:
    """`/buy MAG7.ssi 100` and Confirm for a connected user; (the intent, Confirm's reply)."""
    quoted = await say(app, "/buy MAG7.ssi 100", user)
    reply = await click(app, quoted, "Confirm", user, message_ref="quote-msg")
    uid = (await app.services.users.seen("console", user)).id
    (intent,) = await trading(app).intents.of_user(uid, 1)
    return intent, reply.rendered.text


async def signed(app: App, account: Any, want: dict[str, Any], nonce_offset: int = 0, **change: Any) -> tuple[bytes, str]:
    """The wallet signs step `want` (with fields changed by `change`); (raw bytes, hash)."""
    w3 = app.chain.w3
    block = await w3.eth.get_block("latest")
    fees = txs.fees_from_base(int(block["baseFeePerGas"]), 10**6)
    fields = {
        "type": 2, "chainId": app.profile.chain_id, "to": want["to"], "data": want["data"], "value": int(want["value"]),
        "gas": 400_000, "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
        "nonce": await w3.eth.get_transaction_count(account.address, "pending") + nonce_offset, **change,
    }
    tx = account.sign_transaction(fields)
    return bytes(tx.raw_transaction), "0x" + bytes(tx.hash).hex()


async def send(app: App, account: Any, want: dict[str, Any], **change: Any) -> str:
    raw, tx_hash = await signed(app, account, want, **change)
    await app.chain.send_raw(raw)
    return tx_hash


async def settled(app: App, intent_id: int, told: Recorder | None = None) -> Intent:
    for _ in range(200):
        intent = await trading(app).intents.get(intent_id)
        assert intent is not None
        if intent.state.terminal and (told is None or (told.sent and told.sent[-1][2] == "quote-msg")):
            return intent
        await asyncio.sleep(0.05)
    raise AssertionError(f"intent {intent_id} did not settle")


async def test_a_connected_buy_is_followed_to_confirmed_and_repeated_hashes_change_nothing(app: App) -> None:
    told = Recorder()
    app.notices.attach(told)
    uid, account = await connected_user(app)
    quoted = await say(app, "/buy MAG7.ssi 100", "w1")
    assert text(app, "trade.wallet.connected", address=short_address(account.address)) in quoted.rendered.text
    intent, reply = await confirmed_buy(app)
    assert reply.startswith("Open this link to sign in your wallet: http://127.0.0.1:") and intent.state is State.CONFIRMED
    assert [w["purpose"] for w in intent.params["requests"]] == ["approve", "swap"]
    x = trading(app)

    approve = await send(app, account, intent.params["requests"][0])
    for _ in range(3):  # the page retries a report: one row, one move to `sent`
        await x.on_hash(intent.id, 0, approve)
    assert [(r.step, r.tx_hash) for r in await x.intents.txs(intent.id)] == [(0, approve)]
    assert (await x.intents.get(intent.id)).state is State.SENT  # type: ignore[union-attr]
    with pytest.raises(UserError) as caught:  # another hash for step 0 that nothing shows is a replacement
        await x.on_hash(intent.id, 0, "0x" + "ab" * 32)
    assert caught.value.key == "error.sign.step"
    with pytest.raises(UserError) as caught:  # a step that does not exist
        await x.on_hash(intent.id, 2, "0x" + "ab" * 32)
    assert caught.value.key == "error.sign.step"
    with pytest.raises(UserError) as caught:  # Confirm again: nothing more is asked of the wallet
        await x.confirm(intent.id, uid, "quote-msg", "w1")
    assert caught.value.key == "error.trade.already"

    usdc_before = await token_balance(app, app.profile.usdc.address, account.address)
    swapped = await send(app, account, intent.params["requests"][1])
    await x.on_hash(intent.id, 1, swapped)
    await x.on_hash(intent.id, 1, swapped)
    done = await settled(app, intent.id, told)
    assert done.state is State.MINED and done.result is not None
    assert len(await x.intents.txs(intent.id)) == 2
    assert usdc_before - await token_balance(app, app.profile.usdc.address, account.address) == 100 * 10**6
    assert int(done.result["received"]) >= int(done.params["min_out"])
    assert [t for t in told.sent if t[2] == "quote-msg"][-1][1].startswith("Confirmed in block")
    await x.on_hash(intent.id, 1, swapped)  # a late repeat after the end: still harmless


async def test_a_hash_the_node_does_not_know_is_provisional_and_the_real_one_replaces_it(app: App) -> None:
    """A wallet reports a hash our node never sees (a smart or remote wallet's placeholder). It is not final nor
    failed: while the signing link lives the follower keeps waiting past `wallet_unseen_seconds`, and the real
    hash reported for the same step replaces it; the trade is followed to confirmed. (Old code refused the real
    hash as "another hash for the step" and then dropped the trade as never seen.)"""
    told = Recorder()
    app.notices.attach(told)
    _, account = await connected_user(app)
    intent, _ = await confirmed_buy(app)
    x = trading(app)
    x.settings = replace(x.settings, wallet_unseen_seconds=0.0, retry_seconds=0.1)
    placeholder = "0x" + "5a" * 32
    await x.on_hash(intent.id, 0, placeholder)
    for _ in range(5):  # several follower passes over the unseen hash, blocks going by
        await x.follower.check(intent.id)
        await app.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert (await x.intents.get(intent.id)).state is State.SENT  # type: ignore[union-attr]
    approve = await send(app, account, intent.params["requests"][0])
    await x.on_hash(intent.id, 0, approve)
    assert [(r.tx_hash, r.state) for r in await x.intents.txs(intent.id)] == [(placeholder, "replaced"), (approve, "sent")]
    with pytest.raises(UserError) as caught:  # the real one is known: another hash for its step is refused again
        await x.on_hash(intent.id, 0, "0x" + "5b" * 32)
    assert caught.value.key == "error.sign.step"
    await x.on_hash(intent.id, 1, await send(app, account, intent.params["requests"][1]))
    done = await settled(app, intent.id, told)
    assert done.state is State.MINED, done.result


async def test_a_wallet_sending_something_else_is_refused_or_dropped_never_confirmed(app: App) -> None:
    told = Recorder()
    app.notices.attach(told)
    _, account = await connected_user(app)
    intent, _ = await confirmed_buy(app)
    x = trading(app)
    want = intent.params["requests"][0]
    unlimited = "0x" + p.APPROVE.encode(app.profile.swap_router02, 2**256 - 1).hex()

    # the node already knows it: refused at once, nothing recorded
    known = await send(app, account, want, data=unlimited)
    with pytest.raises(UserError) as caught:
        await x.on_hash(intent.id, 0, known)
    assert caught.value.key == "error.sign.mismatch"
    assert await x.intents.txs(intent.id) == [] and (await x.intents.get(intent.id)).state is State.CONFIRMED  # type: ignore[union-attr]

    # reported before our node saw it (a wallet on another RPC): followed, and dropped once it is mined
    raw, ahead = await signed(app, account, want, data=unlimited)
    await x.on_hash(intent.id, 0, ahead)
    await app.chain.send_raw(raw)
    done = await settled(app, intent.id, told)
    assert done.state is State.DROPPED and done.result == {"reason": "mismatch", "tx_hash": ahead}
    assert told.sent[-1][1].startswith(text(app, "trade.wallet.mismatch"))


async def test_a_hash_from_someone_elses_wallet_or_for_a_custodial_trade_is_refused(app: App) -> None:
    _, _ = await connected_user(app, "w1")
    intent, _ = await confirmed_buy(app, "w1")
    _, stranger = await connected_user(app, "w2")
    theirs = await send(app, stranger, intent.params["requests"][0])  # the very same approval, from another wallet
    x = trading(app)
    with pytest.raises(UserError) as caught:
        await x.on_hash(intent.id, 0, theirs)
    assert caught.value.key == "error.sign.mismatch" and await x.intents.txs(intent.id) == []

    await funded_user(app, "k1")
    custodial = await say(app, "/buy MAG7.ssi 100", "k1")
    uid = (await app.services.users.seen("console", "k1")).id
    (mine,) = await x.intents.of_user(uid, 1)
    assert text(app, "trade.wallet.custodial", address=short_address(mine.address)) in custodial.rendered.text
    with pytest.raises(UserError) as caught:
        await x.on_hash(mine.id, 0, theirs)
    assert caught.value.key == "error.trade.unknown"


async def test_custodial_trades_are_unchanged(app: App) -> None:
    user, address = await funded_user(app, "k2")
    quoted = await say(app, "/buy MAG7.ssi 100", "k2")
    done = await click(app, quoted, "Confirm", "k2")
    assert done.rendered.text.startswith("Confirmed in block"), done.rendered.text
    x = trading(app)
    (intent,) = await x.intents.of_user(user, 1)
    assert not intent.connected and "requests" not in intent.params and intent.address == address
    assert all(r.raw_tx and r.nonce is not None for r in await x.intents.txs(intent.id))


async def test_withdraw_from_a_connected_wallet_is_refused(app: App) -> None:
    uid, account = await connected_user(app, "w3")
    out = await say(app, f"/withdraw USDC 1 {account.address} 123456", "w3")
    assert out.rendered.text == text(app, "error.withdraw.connected")
    assert await trading(app).intents.of_user(uid) == []


async def test_signing_links_go_only_to_a_private_chat(app: App) -> None:
    uid, _ = await connected_user(app, "w4")
    group = Request("console", "w4", "room", "group", "en", command="buy", args=("MAG7.ssi", "100"), text_length=17)
    quoted = await app.router.handle(group, PlainMarkup())
    token = next(b.token for row in quoted.rendered.buttons for b in row if b.label == "Confirm")
    press = Request("console", "w4", "room", "group", "en", button_token=token, message_ref="m1")
    refused = await app.router.handle(press, PlainMarkup())
    assert refused.rendered.text == text(app, "error.sign.private")
    (intent,) = await trading(app).intents.of_user(uid, 1)
    assert intent.state is State.QUOTED  # nothing changed: it can still be cancelled or expire


async def test_an_expired_link_expires_the_intent_across_a_restart(chain: Devnet, tmp_path: Path) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    try:
        _, account = await connected_user(first)
        intent, _ = await confirmed_buy(first)
    finally:
        await first.stop()
    second = await App.start(config)
    try:
        told = Recorder()
        second.notices.attach(told)
        x = trading(second)
        x.clock = lambda: intent.params["link_expires_at"] + x.settings.wallet_grace_seconds + 1
        await second.reconcile()
        done = await settled(second, intent.id, told)
        assert done.state is State.EXPIRED
        assert told.sent == [("w1", text(second, "trade.sign.expired"), "quote-msg")]
        late = await send(second, account, intent.params["requests"][0])
        with pytest.raises(UserError) as caught:  # the wallet sends after all: not followed as this trade
            await x.on_hash(intent.id, 0, late)
        assert caught.value.key == "error.sign.closed"
    finally:
        await second.stop()


async def test_a_connected_intent_in_sent_is_reconciled_after_a_restart(chain: Devnet, tmp_path: Path) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    async with connect(chain.url) as w3:
        try:
            _, account = await connected_user(first)
            intent, _ = await confirmed_buy(first)
            await anvil_rpc.node_call(w3, "evm_setAutomine", False)
            x = trading(first)
            approve = await send(first, account, intent.params["requests"][0])
            swapped = await send(first, account, intent.params["requests"][1])
            await x.on_hash(intent.id, 0, approve)
            await x.on_hash(intent.id, 1, swapped)
            assert (await x.intents.get(intent.id)).state is State.SENT  # type: ignore[union-attr]
        finally:
            await first.stop()  # the process ends with both sent and neither mined
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
        await anvil_rpc.node_call(w3, "evm_mine")
    second = await App.start(config)
    try:
        told = Recorder()
        second.notices.attach(told)
        await second.reconcile()
        done = await settled(second, intent.id, told)
        assert done.state is State.MINED and int(done.result["received"]) >= int(done.params["min_out"])  # type: ignore[index]
        assert told.sent[-1][2] == "quote-msg" and told.sent[-1][1].startswith("Confirmed in block")
    finally:
        await second.stop()


async def test_from_a_telegram_group_the_link_goes_to_the_private_chat_or_nowhere(app: App) -> None:
    async def quote_and_confirm(user: str) -> tuple[Intent, str]:
        row = await app.services.users.seen("telegram", user)
        await connected_user_row(app, row.id)
        ask = Request("telegram", user, "-100", "group", "en", command="buy", args=("MAG7.ssi", "100"), text_length=17, dm_chat=user)
        quoted = await app.router.handle(ask, PlainMarkup())
        token = next(b.token for r in quoted.rendered.buttons for b in r if b.label == "Confirm")
        press = Request("telegram", user, "-100", "group", "en", button_token=token, message_ref="g1", dm_chat=user)
        reply = await app.router.handle(press, PlainMarkup())
        (intent,) = await trading(app).intents.of_user(row.id, 1)
        return intent, reply.rendered.text

    intent, reply = await quote_and_confirm("501")  # no Telegram front end running: the link cannot be delivered
    assert reply == text(app, "trade.sign.undelivered") and intent.state is State.CANCELLED

    private = Recorder(name="telegram")
    app.notices.attach(private)
    intent, reply = await quote_and_confirm("502")
    assert reply == text(app, "trade.sign.sent_privately") and intent.state is State.CONFIRMED
    ((chat, sent, edit),) = private.sent  # and nothing about the abandoned one: it was answered already
    assert chat == "502" and edit is None and sent.startswith("Open this link to sign in your wallet: http://")
    assert intent.chat_id == "-100" and intent.message_ref == "g1"  # the outcome is shown where the quote was


async def connected_user_row(app: App, user_id: int) -> Any:
    account = Account.create()
    assert app.services.connected is not None
    links = app.services.connected.connect_links
    token = secrets.token_urlsafe(32)
    await links.issue(token, user_id, "telegram", str(user_id), secrets.token_hex(12), 600)
    assert await links.use_and_link(token, user_id, account.address, int(time.time()))
    await fund(app.profile, account.address, usdc=Decimal(1000), eth=Decimal(1))
    return account


async def test_a_connected_wallet_with_its_own_unmined_transaction_is_asked_to_approve_afresh(app: App) -> None:
    """The wallet's allowance covers the buy, but a transaction of its own is still unmined (it may spend that
    allowance first): the signing link asks for the exact approval too. Checked twice, so the rule reads the
    wallet's pending transactions each time rather than once."""
    uid, account = await connected_user(app)
    w3 = app.chain.w3
    router, usdc = app.profile.swap_router02, app.profile.usdc.address

    async def send(to: str, data: str = "0x") -> None:
        raw, _ = await signed(app, account, {"to": to, "data": data, "value": 0}, gas=80_000)
        await w3.eth.send_raw_transaction(raw)

    async def steps_asked() -> list[str]:
        quoted = await say(app, "/buy MAG7.ssi 100", "w1")
        await click(app, quoted, "Confirm", "w1")
        newest = (await trading(app).intents.of_user(uid, 1))[0]
        return [r["purpose"] for r in newest.params["requests"]]

    await send(usdc, "0x" + p.APPROVE.encode(router, 1000 * 10**6).hex())
    assert await steps_asked() == ["swap"]  # settled, and the allowance covers it
    await send(account.address)
    assert await steps_asked() == ["swap"]  # still settled: everything of the wallet's is mined
    async with connect(app.profile.rpc_urls[0]) as node:
        await anvil_rpc.node_call(node, "evm_setAutomine", False)
        try:
            await send(account.address)  # unmined
            assert await steps_asked() == ["approve", "swap"]
        finally:
            await anvil_rpc.node_call(node, "evm_setAutomine", True)


async def test_a_step_the_wallet_sped_up_is_followed_under_its_new_hash(app: App) -> None:
    """The wallet reports the approval, then "speeds it up" (same nonce, higher fees) without telling the page;
    the faster one is mined. The follower finds it by the nonce, sees it is the step asked for, and the trade
    goes on to Confirmed. A "cancel" (something else with that nonce) would not be adopted."""
    uid, account = await connected_user(app)
    intent, _ = await confirmed_buy(app)
    x = trading(app)
    asked = intent.params["requests"][0]
    async with connect(app.profile.rpc_urls[0]) as node:
        await anvil_rpc.node_call(node, "evm_setAutomine", False)
        try:
            raw, first = await signed(app, account, asked)
            await app.chain.w3.eth.send_raw_transaction(raw)
            await x.on_hash(intent.id, 0, first)
            block = await app.chain.w3.eth.get_block("latest")
            faster = txs.fees_from_base(int(block["baseFeePerGas"]), 10**6)
            raw, sped = await signed(app, account, asked, nonce_offset=-1, maxFeePerGas=faster.max_fee * 3,
                                     maxPriorityFeePerGas=faster.priority_fee * 3)
            await app.chain.w3.eth.send_raw_transaction(raw)  # replaces the first in the node's pool
            await anvil_rpc.node_call(node, "evm_mine")
        finally:
            await anvil_rpc.node_call(node, "evm_setAutomine", True)
    for _ in range(100):  # the follower's next pass (it follows every block; evm_mine made one)
        rows = await x.intents.txs(intent.id)
        if any(r.state == "mined" for r in rows) or (await x.intents.get(intent.id)).state.terminal:  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.05)
    assert (await x.intents.get(intent.id)).state is State.SENT  # type: ignore[union-attr]  # not "replaced"
    assert [(r.step, r.tx_hash, r.replaced_by) for r in rows] == [(0, first, sped), (0, sped, None)]
    assert [r.state for r in rows] == ["dropped", "mined"]  # the mined one's nonce-mates are dropped
    await x.on_hash(intent.id, 1, await send(app, account, intent.params["requests"][1]))
    done = await settled(app, intent.id)
    assert done.state is State.MINED, done.result


async def test_hashes_reported_while_the_follower_reads_still_end_in_confirmed(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The follower reads the intent (still waiting for its wallet), the page reports both hashes, then the
    follower reads the transactions and finds them mined: it finishes from the intent's state now (`sent`), not
    the one it read (CI once saw 'intent state may not move from confirmed to mined' and the trade left untold)."""
    uid, account = await connected_user(app)
    x = trading(app)
    await app.head.stop()
    x.settings = replace(x.settings, retry_seconds=3600)  # the background follower waits; this test's check runs
    intent, _ = await confirmed_buy(app)
    approve = await send(app, account, intent.params["requests"][0])
    swapped = await send(app, account, intent.params["requests"][1])
    real_txs = x.intents.txs
    me = asyncio.current_task()

    async def reported_meanwhile(intent_id: int) -> Any:
        if asyncio.current_task() is not me:  # a background pass started before the long retry (CI once saw one
            return await real_txs(intent_id)  # take the hashes' report here, and this check then read no rows)
        monkeypatch.setattr(x.intents, "txs", real_txs)
        await x.on_hash(intent.id, 0, approve)
        await x.on_hash(intent.id, 1, swapped)
        return await real_txs(intent_id)

    monkeypatch.setattr(x.intents, "txs", reported_meanwhile)
    status = await x.follower.check(intent.id)
    assert status is not None and status.stage == "mined"
    done = await x.intents.get(intent.id)
    assert done is not None and done.state is State.MINED and done.result["tx_hash"] == swapped


@pytest.mark.parametrize(("purpose", "units", "decimals", "shown"), [
    ("sell", 12_345_678, 8, "0.12345678"),            # MAG7.ssi has 8 decimals: every one is what is approved
    ("buy", 100_000_001, 6, "100.000001"),
    ("stake", 123_456_789_012_345_678, 18, "0.123456789012345678"),
])
def test_the_signing_page_shows_every_digit_it_asks_to_approve(
        app: App, purpose: str, units: int, decimals: int, shown: str) -> None:
    """The page says "exactly": the amount approved and spent is shown to the token's last decimal."""
    from bot.trading import connected, stake

    approve = txs.approve_tx("0x" + "11" * 20, "0x" + "22" * 20, units, 60_000)
    if purpose == "stake":
        prm = {"amount": units, "decimals": decimals, "symbol": "SOSO", "staked_symbol": "sSOSO"}
        (asked,) = stake.requests(prm, [approve], 31337)
    else:
        prm = {"amount_in": units, "decimals_in": decimals, "symbol_in": "X", "decimals_out": 6, "symbol_out": "Y"}
        (asked,) = connected.requests(prm, [approve], 1, 31337)
    what = app.services.catalogs.render_msg(asked.what, "en", str)
    assert f"exactly {shown} " in what, what
