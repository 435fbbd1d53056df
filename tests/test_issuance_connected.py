"""The issuance venue from a connected wallet: requests to MAG7.nex's factory and their cancellations, signed by
the user's own wallet through the signing page.

No browser: the wallet is an eth-account key that opens the signing link over HTTP as a browser would (one
session, the page's cookie), signs each step the page asks for (its `to`, `data`, `value` and gas limit), sends
it to the real anvil and reports the hash to the page, which hands it to the app's real `on_hash`. The
market-hours window is set per test in copies of the devnet's profiles, read by the bot and by the fulfilment
process alike; a front end records what the user is told and which message it edits.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_config
from auxil.issuance import ALWAYS, chain_now, closed_until_tomorrow, mag7_nex, next_utc_midnight, profiles_with_hours, steps
from test_connected import LINK, claim, page_data
from test_trading_connected import connected_user, send, settled
from auxil.catalog import text
from auxil.trading import Recorder, click, say, token_balance

from bot.chain import protocol as p
from bot.app import App
from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Msg, Usd, When
from bot.issuance.factory import PRICE_DECIMALS
from bot.issuance.hours import MarketHours
from bot.issuance.orders import Orders
from bot.storage.orders import Order
from bot.trading.executor import Executor
from bot.trading.intents import Intent, State
from devnet.fulfil import Fulfiller
from devnet.harness import Devnet
from wallets.connected import short_address

USER = "w1"
ORDERS_MSG = "orders-msg"  # the /orders message whose Cancel was pressed
USDC = 10**6


@pytest.fixture
async def venue(chain: Devnet, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[App, Fulfiller]]:
    """A bot on copies of the devnet's profiles whose stock market is open (parametrized "closed": closed until the
    next UTC midnight), and the fulfilment process reading the same window."""
    hours: dict[str, object] = dict(ALWAYS)
    if getattr(request, "param", "open") == "closed":
        hours = closed_until_tomorrow(await chain_now(chain))
    config = make_config(chain, tmp_path)
    path = profiles_with_hours(chain, tmp_path / "chain", hours)
    bot = await App.start(type(config)(**{**config.__dict__, "chain": str(path)}))
    try:
        yield bot, Fulfiller(bot.services.companions[0], MarketHours.from_config(hours))
    finally:
        await bot.stop()


@dataclass
class Wallet:
    """The user's own wallet at the signing page: a real key, and the browser session that owns the page."""

    app: App
    account: Any
    http: aiohttp.ClientSession

    async def open(self, url: str) -> tuple[str, dict[str, Any]]:
        """The signing page as the browser gets it: (its HTML, the data its script sends from)."""
        async with self.http.get(url) as page:
            body = await page.text()
            assert page.status == 200, body
        assert (await claim(self.http, url)).status == 200  # as the page's script does when the user starts
        return body, page_data(body)

    async def report(self, url: str, step: int, tx_hash: str) -> tuple[int, dict[str, Any]]:
        async with self.http.post(url + "/tx", json={"step": step, "hash": tx_hash}) as r:
            return r.status, dict(await r.json())

    async def sign(self, url: str) -> list[str]:
        """Send every step the page asks for, in order, each reported to the page once sent; their hashes."""
        _, data = await self.open(url)
        sent = []
        for step, tx in enumerate(data["txs"]):
            want = {"to": tx["to"], "data": tx["data"], "value": int(tx["value"], 16)}
            tx_hash = await send(self.app, self.account, want, gas=int(tx["gas"], 16))
            assert await self.report(url, step, tx_hash) == (200, {"ok": True, "finished": step + 1 == len(data["txs"])})
            sent.append(tx_hash)
        return sent


def stocks(app: App) -> Executor:
    """The stock chain's executor: MAG7.nex's intents are its own."""
    assert app.services.desks is not None
    return app.services.desks.by_chain()[app.services.companions[0].name]


def orders(app: App) -> Orders:
    assert app.services.issuance is not None
    return app.services.issuance.orders


def link_of(reply: str) -> str:
    found = LINK.search(reply)
    assert found is not None, reply
    return found.group(1)


async def latest(app: App, uid: int) -> Intent:
    (intent,) = await stocks(app).intents.of_user(uid, 1)
    return intent


async def edited(told: Recorder, ref: str, fragment: str) -> str:
    """The latest text shown on message `ref` once it contains `fragment` (the outbox delivers in the background;
    the follower tells an outcome only after its mined hooks, such as the order row, have run)."""
    for _ in range(100):
        texts = [t for _, t, r in told.sent if r == ref]
        if texts and fragment in texts[-1]:
            return texts[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {ref} never showed {fragment!r}: {told.sent}")


async def logged_nonce(app: App, tx_hash: str, event: str) -> int:
    """The nonce the factory gave a request, as its own RequestIssuance / RequestRedemption log says."""
    _, factory = mag7_nex(app)
    receipt = await app.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    (found,) = [g for g in receipt["logs"]
                if g["address"].lower() == factory.lower() and "0x" + bytes(g["topics"][0]).hex() == event]
    return int.from_bytes(bytes(found["topics"][1]), "big")


def approval(app: App, amount: Amount, symbol: str) -> str:
    return text(app, "sign.what.approve", spender=Msg("sign.spender.factory", {"index": "MAG7.nex"}), amount=amount, symbol=symbol)


async def requested(app: App, wallet: Wallet, told: Recorder, uid: int, typed: str, ref: str,
                    asked: list[tuple[str, str]]) -> tuple[Intent, str, str]:
    """`typed` (/buy or /sell MAG7.nex) and Confirm on message `ref`; the signing page must describe the steps
    `asked` ((catalog text, contract called) in order); the wallet signs and sends them, and the request is followed
    until the user is told it was sent: (the mined intent, the request's hash, what message `ref` shows)."""
    quoted = await say(app, typed, USER)
    assert text(app, "trade.wallet.connected", address=short_address(wallet.account.address)) in quoted.rendered.text
    url = link_of((await click(app, quoted, "Confirm", USER, message_ref=ref)).rendered.text)
    intent = await latest(app, uid)
    assert intent.connected and intent.state is State.CONFIRMED and intent.address == wallet.account.address
    body, data = await wallet.open(url)
    shown = [html.escape(what) for what, _ in asked]
    assert all(s in body for s in shown), (shown, body)
    assert [body.index(s) for s in shown] == sorted(body.index(s) for s in shown)  # in the order they are sent
    assert [t["to"].lower() for t in data["txs"]] == [to.lower() for _, to in asked]
    chain = app.services.companions[0]  # the page names MAG7.nex's chain, though it shares the devnet's chain id
    assert f"{chain.chain_label} (chain id {chain.chain_id})" in html.unescape(body), body
    assert f"{app.profile.chain_label} (chain id" not in html.unescape(body)
    last = (await wallet.sign(url))[-1]
    told_sent = await edited(told, ref, text(app, "trade.tx", tx=last))
    done = await settled(app, intent.id)
    assert done.state is State.MINED, done.result
    return done, last, told_sent


def filled_text(app: App, order: Order, paid: Decimal) -> str:
    """The completion the request's message is edited to, from the order as the factory's fill log made it."""
    assert order.amount_out is not None and order.price is not None
    return text(app, f"orders.done.{order.side}", nonce=order.nonce, received=Amount(from_base_units(order.amount_out, order.decimals_out)),
                symbol=order.symbol_out, paid=Amount(paid), paid_symbol=order.symbol_in, index="MAG7.nex",
                price=Usd(from_base_units(order.price, PRICE_DECIMALS), 4))


async def issue(app: App, wallet: Wallet, told: Recorder, uid: int, usdc: int, ref: str = "issue-msg") -> tuple[Intent, int, str]:
    """`/buy MAG7.nex <usdc>` from the wallet: an exact approval of the factory, then the issuance request, signed,
    sent and mined; (the intent, the factory's nonce from its log, what the request's message shows)."""
    _, factory = mag7_nex(app)
    amount = Amount(Decimal(usdc))
    done, last, shown = await requested(app, wallet, told, uid, f"/buy MAG7.nex {usdc}", ref, [
        (approval(app, amount, "USDC"), app.profile.usdc.address),
        (text(app, "sign.what.issue", amount=amount, symbol="USDC", index="MAG7.nex"), factory),
    ])
    return done, await logged_nonce(app, last, p.REQUEST_ISSUANCE), shown


async def test_a_connected_wallet_issues_while_the_market_is_open(venue: tuple[App, Fulfiller], http: aiohttp.ClientSession) -> None:
    app, fulfiller = venue
    told = Recorder()
    app.notices.attach(told)
    uid, account = await connected_user(app, USER)
    token, _ = mag7_nex(app)
    usdc = app.profile.usdc.address
    before = await token_balance(app, usdc, account.address)

    done, nonce, shown = await issue(app, Wallet(app, account, http), told, uid, 100, "issue-msg")
    assert done.kind == "issue" and done.result is not None
    assert (done.result["nonce"], done.result["expected_at"]) == (nonce, None)  # open: expected within minutes
    assert text(app, "issuance.pending.issue", nonce=nonce, amount=Amount(Decimal(100)), symbol="USDC", index="MAG7.nex") in shown
    assert text(app, "issuance.expected.open") in shown and f"Issuance request #{nonce} sent" in shown
    (order,) = await orders(app).rows.of_user(uid)
    assert (order.state, order.nonce, order.address, order.amount_in) == ("pending", nonce, account.address, 100 * USDC)
    assert order.intent_id == done.id and order.message_ref == "issue-msg"
    assert await token_balance(app, usdc, account.address) == before - 100 * USDC  # in the factory's escrow
    assert await token_balance(app, token, account.address) == 0  # nothing minted before the fill

    assert await steps(fulfiller) == [f"MAG7.nex issuance {nonce}"]
    assert await orders(app).check() == 1
    got = await token_balance(app, token, account.address)
    (order,) = await orders(app).rows.of_user(uid)
    assert got > 0 and (order.state, order.amount_out) == ("filled", got)
    filled = await edited(told, "issue-msg", filled_text(app, order, Decimal(100)))
    assert filled.startswith(f"✅ Issuance #{nonce} completed: received")
    assert await orders(app).check() == 0  # told once


@pytest.mark.parametrize("venue", ["closed"], indirect=True)
async def test_a_connected_wallet_cancels_a_pending_request_from_orders(
        venue: tuple[App, Fulfiller], http: aiohttp.ClientSession, chain: Devnet) -> None:
    app, fulfiller = venue
    told = Recorder()
    app.notices.attach(told)
    uid, account = await connected_user(app, USER)
    wallet = Wallet(app, account, http)
    _, factory = mag7_nex(app)
    usdc = app.profile.usdc.address
    before = await token_balance(app, usdc, account.address)
    opens = int(next_utc_midnight(await chain_now(chain)).timestamp())

    done, nonce, shown = await issue(app, wallet, told, uid, 100)
    assert done.result is not None and done.result["expected_at"] == opens
    assert f"Issuance request #{nonce} sent" in shown and text(app, "issuance.expected.closed", when=When(opens)) in shown
    assert await token_balance(app, usdc, account.address) == before - 100 * USDC

    listed = await say(app, "/orders", USER)
    cancel = text(app, "button.orders_cancel", nonce=nonce, index="MAG7.nex")
    url = link_of((await click(app, listed, cancel, USER, message_ref=ORDERS_MSG)).rendered.text)
    cancelling = await latest(app, uid)
    assert cancelling.kind == "cancel_issue" and cancelling.connected and cancelling.state is State.CONFIRMED
    again = await click(app, listed, cancel, USER)  # the first is on its way: nothing more is asked of the wallet
    assert again.rendered.text == text(app, "error.orders.cancelling", nonce=nonce)
    assert await latest(app, uid) == cancelling

    body, data = await wallet.open(url)
    assert html.escape(text(app, "sign.what.cancel_issue", nonce=nonce, index="MAG7.nex")) in body, body
    assert [t["to"].lower() for t in data["txs"]] == [factory.lower()]
    want = {"to": data["txs"][0]["to"], "data": data["txs"][0]["data"], "value": 0}

    # the user's wallet sends the cancellation from another of its accounts: refused, the order stays pending
    _, other = await connected_user(app, "w2")
    elsewhere = await send(app, other, want, gas=int(data["txs"][0]["gas"], 16))
    status, refused = await wallet.report(url, 0, elsewhere)
    assert (status, refused["message"]) == (400, text(app, "error.sign.mismatch")), refused
    assert await stocks(app).intents.txs(cancelling.id) == []
    (order,) = await orders(app).rows.of_user(uid)
    assert order.state == "pending"

    (sent,) = await wallet.sign(url)
    refund = text(app, "orders.cancelled.issue", nonce=nonce, amount=Amount(Decimal(100)), symbol="USDC", index="MAG7.nex")
    assert refund.startswith(f"Issuance request #{nonce} cancelled: 100 USDC returned")
    assert text(app, "trade.tx", tx=sent) in await edited(told, ORDERS_MSG, refund)  # the Cancel press's answer
    await edited(told, "issue-msg", refund)  # and the request's own message
    assert (await settled(app, cancelling.id)).state is State.MINED
    assert await token_balance(app, usdc, account.address) == before  # refunded
    (order,) = await orders(app).rows.of_user(uid)
    assert (order.state, order.cancel_intent) == ("cancelled", cancelling.id)
    late = await click(app, listed, cancel, USER)
    assert late.rendered.text == text(app, "error.orders.cancelled", nonce=nonce)
    assert await steps(fulfiller) == []


@pytest.mark.parametrize("venue", ["closed"], indirect=True)
async def test_a_cancel_link_that_expires_unsigned_lets_the_user_cancel_again(
        venue: tuple[App, Fulfiller], http: aiohttp.ClientSession) -> None:
    app, _ = venue
    told = Recorder()
    app.notices.attach(told)
    uid, account = await connected_user(app, USER)
    wallet = Wallet(app, account, http)
    _, nonce, _ = await issue(app, wallet, told, uid, 50)
    listed = await say(app, "/orders", USER)
    cancel = text(app, "button.orders_cancel", nonce=nonce, index="MAG7.nex")
    await click(app, listed, cancel, USER, message_ref=ORDERS_MSG)
    first = await latest(app, uid)

    x = stocks(app)
    expiry = int(first.params["link_expires_at"]) + x.settings.wallet_grace_seconds
    x.clock = lambda: expiry + 1  # the wallet never signed; the link and its grace are over
    status = await x.follower.check(first.id)
    assert status is not None and status.intent.state is State.EXPIRED
    await edited(told, ORDERS_MSG, text(app, "trade.sign.expired"))

    url = link_of((await click(app, listed, cancel, USER, message_ref=ORDERS_MSG)).rendered.text)
    second = await latest(app, uid)
    assert second.id != first.id and second.kind == "cancel_issue" and second.state is State.CONFIRMED
    (sent,) = await wallet.sign(url)
    await edited(told, ORDERS_MSG, text(app, "trade.tx", tx=sent))
    assert (await settled(app, second.id)).state is State.MINED
    (order,) = await orders(app).rows.of_user(uid)
    assert (order.state, order.cancel_intent) == ("cancelled", second.id)


async def test_a_connected_wallet_redeems(venue: tuple[App, Fulfiller], http: aiohttp.ClientSession) -> None:
    app, fulfiller = venue
    told = Recorder()
    app.notices.attach(told)
    uid, account = await connected_user(app, USER)
    wallet = Wallet(app, account, http)
    token, factory = mag7_nex(app)
    usdc = app.profile.usdc.address
    await issue(app, wallet, told, uid, 200)
    await steps(fulfiller)
    assert await orders(app).check() == 1
    held = await token_balance(app, token, account.address)
    amount = Decimal("0.123456789012345678")  # every digit counts: the page says "exactly"
    units = int(amount.scaleb(18))
    before = await token_balance(app, usdc, account.address)

    exact = Amount(amount, 18)
    assert text(app, "sign.amount", amount=exact, symbol="MAG7.nex") == "0.123456789012345678 MAG7.nex"
    done, last, shown = await requested(app, wallet, told, uid, f"/sell MAG7.nex {amount}", "redeem-msg", [
        (approval(app, exact, "MAG7.nex"), token),
        (text(app, "sign.what.redeem", amount=exact, symbol="MAG7.nex", index="MAG7.nex"), factory),
    ])
    nonce = await logged_nonce(app, last, p.REQUEST_REDEMPTION)
    assert done.kind == "redeem" and done.result is not None and done.result["nonce"] == nonce
    assert text(app, "issuance.pending.redeem", nonce=nonce, amount=Amount(amount), symbol="MAG7.nex", index="MAG7.nex") in shown
    assert await token_balance(app, token, account.address) == held - units  # in the factory's escrow
    (redeeming,) = [o for o in await orders(app).rows.of_user(uid) if o.side == "redeem"]
    assert (redeeming.state, redeeming.nonce, redeeming.amount_in, redeeming.intent_id) == ("pending", nonce, units, done.id)

    assert await steps(fulfiller) == [f"MAG7.nex redemption {nonce}"]
    assert await orders(app).check() == 1
    paid = await token_balance(app, usdc, account.address) - before
    (redeemed,) = [o for o in await orders(app).rows.of_user(uid) if o.side == "redeem"]
    assert paid > 0 and (redeemed.state, redeemed.amount_out) == ("filled", paid)
    nav = from_base_units(redeemed.price or 0, PRICE_DECIMALS)
    assert Decimal(paid).scaleb(-6) == (amount * nav * Decimal("0.999")).quantize(Decimal("1e-6"), ROUND_DOWN), paid  # less the 0.1 % fee
    await edited(told, "redeem-msg", filled_text(app, redeemed, amount))
