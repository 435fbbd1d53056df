"""Buy and sell through the router on the devnet: quote, Confirm, one transaction, balances as promised."""

import asyncio
from dataclasses import replace
import time
from decimal import Decimal

from eth_abi.abi import decode

from bot.chain import protocol as p
from bot.app import App
from bot.trading.intents import State
from auxil.trading import Recorder, click, funded_user, say, token_balance


async def test_buy_then_sell_end_to_end(app: App) -> None:
    user, address = await funded_user(app)
    mag7 = app.profile.index("MAG7.ssi").token
    usdc = app.profile.usdc
    usdc_before = await token_balance(app, usdc.address, address)
    quoted = await say(app, "/buy MAG7.ssi 100")
    assert "Confirm within 30" in quoted.rendered.text, quoted.rendered.text
    x = app.services.desks.home
    assert x is not None
    intent = (await x.intents.of_user(user))[0]
    promised = int(intent.params["quoted_out"])

    done = await click(app, quoted, "Confirm")
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    assert done.rendered.edit
    got = await token_balance(app, mag7.address, address)
    assert got >= promised * (10_000 - 50) // 10_000
    assert usdc_before - await token_balance(app, usdc.address, address) == 100 * 10**6
    intent = await x.intents.get(intent.id)
    assert intent is not None and intent.state is State.MINED
    txs = await x.intents.txs(intent.id)
    assert [t.purpose for t in txs] == ["approve", "swap"]
    assert txs[1].nonce == txs[0].nonce + 1

    # the approval was for exactly the amount swapped, and the swap is multicall(deadline, [exactInputSingle])
    approve = await app.chain.transaction(txs[0].tx_hash)
    assert approve is not None
    spender, amount = decode(["address", "uint256"], bytes(approve["input"])[4:])
    assert spender.lower() == app.profile.swap_router02.lower() and amount == 100 * 10**6
    sent = await app.chain.transaction(txs[1].tx_hash)
    assert sent is not None
    data = bytes(sent["input"])
    assert data[:4] == p.ROUTER_MULTICALL.selector
    deadline, calls = decode(["uint256", "bytes[]"], data[4:])
    assert deadline == intent.params["deadline"] and len(calls) == 1
    assert calls[0][:4] == p.EXACT_INPUT_SINGLE.selector
    (params,) = decode(["(address,address,uint24,address,uint256,uint256,uint160)"], calls[0][4:])
    assert params[3] == address.lower() and params[4] == 100 * 10**6 and params[5] == intent.params["min_out"]

    # sell half of it back
    half = Decimal(got) / 2 / 10**8
    quoted = await say(app, f"/sell MAG7.ssi {half:.8f}")
    done = await click(app, quoted, "Confirm")
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    assert await token_balance(app, mag7.address, address) == got - int(half * 10**8)


async def test_double_confirm_sends_one_transaction(app: App) -> None:
    user, address = await funded_user(app)
    quoted = await say(app, "/buy MAG7.ssi 50")
    nonce_before = await app.chain.nonce(address)
    first = await click(app, quoted, "Confirm", message_ref="phone")
    second = await click(app, quoted, "Confirm", message_ref="laptop")
    assert "Confirmed" in first.rendered.text
    assert "already" in second.rendered.text.lower(), second.rendered.text
    assert await app.chain.nonce(address) == nonce_before + 2  # approve + swap, once


async def test_confirm_after_cancel_is_refused(app: App) -> None:
    user, address = await funded_user(app)
    quoted = await say(app, "/buy MAG7.ssi 50")
    cancelled = await click(app, quoted, "Cancel")
    assert "Cancelled" in cancelled.rendered.text
    again = await click(app, quoted, "Confirm")
    assert "cancelled" in again.rendered.text.lower()
    assert await app.chain.nonce(address) == 0


async def test_notice_recorder_attached(app: App) -> None:
    rec = Recorder()
    app.notices.attach(rec)
    assert rec.sent == []


async def test_price_moved_beyond_slippage_is_refused(app: App) -> None:
    user, address = await funded_user(app)
    await funded_user(app, "whale", usdc=Decimal(5_000_000))
    quoted = await say(app, "/buy MAG7.ssi 100")
    whale = await say(app, "/buy MAG7.ssi 1000000", user="whale")
    assert "Confirmed" in (await click(app, whale, "Confirm", user="whale")).rendered.text
    refused = await click(app, quoted, "Confirm")
    assert refused.rendered.text.startswith("The price moved beyond your slippage tolerance (0.5%)"), refused.rendered.text
    assert await app.chain.nonce(address) == 0
    x = app.services.desks.home
    assert x is not None
    assert (await x.intents.of_user(user))[0].state is State.CANCELLED


async def test_expired_quote_is_refused(app: App) -> None:
    user, address = await funded_user(app)
    quoted = await say(app, "/buy MAG7.ssi 100")
    x = app.services.desks.home
    assert x is not None
    x.clock = lambda: time.time() + 31
    refused = await click(app, quoted, "Confirm")
    assert refused.rendered.text.startswith("That quote expired"), refused.rendered.text
    assert (await x.intents.of_user(user))[0].state is State.EXPIRED
    assert await app.chain.nonce(address) == 0


async def test_shortfalls_are_reported_in_plain_words(app: App) -> None:
    await funded_user(app, usdc=Decimal(50), eth=Decimal(0))
    short = await say(app, "/buy MAG7.ssi 80")
    assert short.rendered.text == "Not enough USDC: you need 80, you have 50, short by 30.", short.rendered.text
    short = await say(app, "/sell MAG7.ssi 2")
    assert short.rendered.text.startswith("Not enough MAG7.ssi: you need 2, you have 0, short by 2."), short.rendered.text
    nothing = await say(app, "/sell MAG7.ssi all")
    assert nothing.rendered.text == "You hold no MAG7.ssi to sell."
    quoted = await say(app, "/buy MAG7.ssi 20")  # enough USDC, but no ETH for gas
    gas = await click(app, quoted, "Confirm")
    assert gas.rendered.text.startswith("Not enough ETH for the network fee: you need up to "), gas.rendered.text


async def test_twenty_concurrent_trades_from_one_wallet_get_consecutive_nonces(app: App) -> None:
    user, address = await funded_user(app)
    x = app.services.desks.home
    assert x is not None
    # Forty transactions mined one by one on a shared 2-core machine can outlast the 2 s a Confirm waits inline
    # (then it answers "submitted"): what this test is about is the nonces, so every answer may wait for its block.
    x.settings = replace(x.settings, inline_wait_seconds=30.0)
    quotes = [await say(app, f"/buy MAG7.ssi {10 + i}") for i in range(20)]
    done = await asyncio.gather(*(click(app, q, "Confirm", message_ref=f"m{i}") for i, q in enumerate(quotes)))
    assert all("Confirmed in block" in d.rendered.text for d in done), [d.rendered.text for d in done]
    nonces = sorted([t.nonce for i in await x.intents.of_user(user, limit=50) for t in await x.intents.txs(i.id)])
    assert nonces == list(range(40))  # an exact approval and a swap each
    assert await app.chain.nonce(address) == 40


async def test_slippage_command(app: App) -> None:
    await funded_user(app)
    assert (await say(app, "/slippage")).rendered.text == "Your slippage tolerance: 0.5% (at most 5%)."
    assert (await say(app, "/slippage 1.25%")).rendered.text == "Slippage tolerance set to 1.25%."
    assert (await say(app, "/slippage")).rendered.text.startswith("Your slippage tolerance: 1.25%")
    quoted = await say(app, "/buy MAG7.ssi 10")
    assert "Slippage tolerance 1.25%" in quoted.rendered.text


async def test_withdraw_usdc_and_eth(app: App) -> None:
    user, address = await funded_user(app, usdc=Decimal(100))
    to = "0x" + "ab" * 20
    offer = await say(app, f"/withdraw usdc 25 {to} 739146")
    assert offer.rendered.text.startswith("Withdraw 25 USDC to 0xABaBaBaB"), offer.rendered.text
    assert offer.rendered.delete_request
    done = await click(app, offer, "Confirm")
    assert "sent 25 USDC to" in done.rendered.text, done.rendered.text
    assert await token_balance(app, app.profile.usdc.address, to) == 25 * 10**6
    offer = await say(app, f"/withdraw ETH all {to} 739146")
    done = await click(app, offer, "Confirm")
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    w3 = app.chain.w3
    assert await w3.eth.get_balance(address) < 10**15  # all but the fee headroom
