"""Orders of a connected wallet on the devnet: set with a Confirm (no PIN), and when one triggers the user gets a
signing link once, signs it as the web page would (a test key sends what the page asks for) and the order fills; a
link left unsigned ends the order `expired` (`unsigned`), told; a restart between trigger and signing repeats nothing;
an order never trades from a wallet it was not set for; the trigger message reaches Telegram through the emulator."""

from __future__ import annotations

import asyncio

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import make_config

from auxil.connected import sign_page
from auxil.requests import labels
from auxil.telegram import keyboard, tap, text_of, to_chat
from auxil.trading import PIN, click, funded_user, say, settled, token_balance
from bot.app import App
from bot.core.messages import Reply
from bot.delivery.outbox import codec
from bot.limits.book import UNSIGNED
from bot.storage.limit_orders import LimitOrder
from bot.trading.intents import State
from devnet.harness import Devnet
from devnet.operator import fund
from telegram_emulator import BotApiEmulator
from auxil.orders import MAG7, move_mag7_nav, sells, snapshot_of, the_order
from test_trading_connected import connected_user, connected_user_row

D = Decimal
LINK = re.compile(r"https?://\S+/sign/[A-Za-z0-9_-]+")


async def hold_mag7(app: App, user: str = "w1") -> None:
    """`/buy MAG7.ssi 100` from the user's connected wallet, Confirm, and the link signed: the wallet holds MAG7."""
    quoted = await say(app, f"/buy {MAG7} 100", user)
    reply = (await click(app, quoted, "Confirm", user)).rendered.text
    found = LINK.search(reply)
    assert found is not None, reply
    uid = (await app.services.users.seen("console", user)).id
    (intent,) = await app.services.desks.home.intents.of_user(uid, 1)
    await sign_page(app, ACCOUNTS[uid], found[0])
    assert await settled(app, intent.id) is State.MINED


ACCOUNTS: dict[int, Any] = {}  # each connected test user's key, by user id


async def connected_holder(app: App, user: str = "w1") -> tuple[int, Any]:
    uid, account = await connected_user(app, user)
    ACCOUNTS[uid] = account
    await hold_mag7(app, user)
    return uid, account


async def set_stop(app: App, line: Decimal, user: str = "w1", share: str = "50%") -> LimitOrder:
    """`/stop MAG7 <share> below <line>` with no PIN: the summary with Confirm, pressed; the order set."""
    offer = await say(app, f"/stop MAG7 {share} below {line}", user)
    assert "Order to set: stop-loss" in offer.rendered.text and labels(offer) == ["Confirm", "Cancel"], offer.rendered.text
    uid = (await app.services.users.seen("console", user)).id
    assert await app.services.limit_orders.rows.of_user(uid) == []  # nothing before the Confirm
    done = await click(app, offer, "Confirm", user)
    assert "Order #" in done.rendered.text and "no PIN" in done.rendered.text, done.rendered.text
    again = await click(app, offer, "Confirm", user)  # a second press of the same Confirm sets nothing more
    assert again.rendered.text == done.rendered.text
    return await the_order(app, uid)


async def messages(app: App, order_id: int) -> list[tuple[str, Reply]]:
    """(outbox key, reply) of every message queued about the order, oldest first."""
    rows = await app.db.fetch_all("SELECT dedupe, payload FROM outbox WHERE dedupe LIKE :key ORDER BY id",
                                  {"key": f"limits:{order_id}%"})
    return [(str(r[0]), codec.loads(str(r[1]))) for r in rows]


def link_of(reply: Reply) -> str:
    (url,) = [b.url for row in reply.buttons for b in row if b.url]
    return url


async def triggered(app: App, order: LimitOrder) -> str:
    """Move NAV under the stop's line and check: it fires once; the signing link it sent."""
    book = app.services.limit_orders
    await move_mag7_nav(app, order.line - 1)
    assert (await book.check()).triggered == 1
    for _ in range(3):  # later blocks: nothing again
        assert (await book.check()).triggered == 0
    firing = await book.rows.get(order.id)
    assert firing is not None and firing.state == "firing" and firing.intent_id is not None
    intent = await app.services.desks.home.intents.get(firing.intent_id)
    assert intent is not None and intent.connected and intent.state is State.CONFIRMED and intent.kind == "order"
    [(key, reply)] = await messages(app, order.id)  # the link, once
    assert key == f"limits:{order.id}:sign"
    assert [m.key for m in reply.lines] == ["limits.sign.sell", "limits.sign.link"]
    assert reply.lines[0].params["slippage"] is not None and int(intent.params["min_out"]) > 0
    return link_of(reply)


async def test_a_connected_stop_loss_sends_a_signing_link_once_and_signing_it_sells(app: App) -> None:
    uid, account = await connected_holder(app)
    token = app.profile.index(MAG7).token.address
    held = await token_balance(app, token, account.address)
    nav, _ = await snapshot_of(app)
    order = await set_stop(app, (nav * D("0.9")).quantize(D("0.01")))
    assert order.address == account.address and (await app.services.limit_orders.check()).triggered == 0
    link = await triggered(app, order)
    assert await token_balance(app, token, account.address) == held  # nothing sold before the user signs
    assert f"#{order.id}" in (waiting := (await say(app, "/limits", "w1")).rendered.text)
    assert "waiting for your signature" in waiting and "executing" not in waiting, waiting

    await sign_page(app, account, link)
    firing = await app.services.limit_orders.rows.get(order.id)
    assert firing is not None and firing.intent_id is not None
    assert await settled(app, firing.intent_id) is State.MINED
    await app.services.limit_orders.check()
    ended = await app.services.limit_orders.rows.get(order.id)
    assert ended is not None and (ended.state, ended.outcome) == ("filled", "mined")
    assert await token_balance(app, token, account.address) == held - held // 2
    assert await sells(app, uid) == 1
    told = await messages(app, order.id)
    assert [k for k, _ in told] == [f"limits:{order.id}:sign", f"limits:{order.id}"]
    assert [m.key for m in told[1][1].lines][:3] == ["limits.triggered", "limits.mined", "trade.mined.sell"]
    everything = await app.db.fetch_all("SELECT dedupe FROM outbox WHERE user_id = :u ORDER BY id", {"u": uid})
    assert [str(r[0]) for r in everything] == [k for k, _ in told]  # the trade's own notice is the order's: told once
    assert "no open orders" in (await say(app, "/limits", "w1")).rendered.text


async def test_a_link_left_unsigned_ends_the_order_and_says_so(app: App) -> None:
    uid, account = await connected_holder(app)
    token = app.profile.index(MAG7).token.address
    held = await token_balance(app, token, account.address)
    nav, _ = await snapshot_of(app)
    order = await set_stop(app, (nav * D("0.9")).quantize(D("0.01")))
    link = await triggered(app, order)
    firing = await app.services.limit_orders.rows.get(order.id)
    assert firing is not None and firing.intent_id is not None
    desk = app.services.desks.home
    intent = await desk.intents.get(firing.intent_id)
    assert intent is not None
    late = intent.params["link_expires_at"] + desk.settings.wallet_grace_seconds + 1
    desk.clock = lambda: late  # the link expired, and the follower's grace for a late hash
    await desk.follower.check(intent.id)
    assert (await desk.intents.get(intent.id)).state is State.EXPIRED  # type: ignore[union-attr]
    book = app.services.limit_orders
    await book.check()
    await book.check()
    ended = await book.rows.get(order.id)
    assert ended is not None and (ended.state, ended.outcome) == ("expired", UNSIGNED)
    told = await messages(app, order.id)
    assert [(k, r.lines[0].key) for k, r in told] == [(f"limits:{order.id}:sign", "limits.sign.sell"),
                                                      (f"limits:{order.id}", "limits.unsigned")]
    assert await token_balance(app, token, account.address) == held and await sells(app, uid) == 0
    with pytest.raises(Exception):  # the page refuses the expired link: nothing can be signed from it now
        await sign_page(app, account, link)
    assert await token_balance(app, token, account.address) == held
    desk.clock = lambda: late - 10**6  # (the desk's clock back for what follows)
    nav, _ = await snapshot_of(app)
    again = await say(app, f"/stop MAG7 50% below {(nav * D('0.9')).quantize(D('0.01'))}", "w1")  # set again
    assert labels(again) == ["Confirm", "Cancel"]


@pytest.mark.chain
async def test_a_restart_between_trigger_and_signing_repeats_nothing_and_loses_nothing(chain: Devnet, tmp_path: Path) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    try:
        uid, account = await connected_holder(first)
        nav, _ = await snapshot_of(first)
        order = await set_stop(first, (nav * D("0.9")).quantize(D("0.01")), share="100%")
        link = await triggered(first, order)
    finally:
        await first.stop()
    second = await App.start(config)
    try:
        await second.reconcile()  # the connected intent is followed again
        book = second.services.limit_orders
        for _ in range(3):
            assert (await book.check()).triggered == 0
        firing = await book.rows.get(order.id)
        assert firing is not None and firing.state == "firing"
        assert len(await second.services.desks.home.intents.of_user(uid, 10)) == 2  # the buy and the order's: no new one
        assert [k for k, _ in await messages(second, order.id)] == [f"limits:{order.id}:sign"]  # no second link

        await sign_page(second, account, link)  # the link sent before the restart still works
        assert firing.intent_id is not None and await settled(second, firing.intent_id) is State.MINED
        await book.check()
        ended = await book.rows.get(order.id)
        assert ended is not None and ended.state == "filled"
        assert await token_balance(second, second.profile.index(MAG7).token.address, account.address) == 0
        assert [k for k, _ in await messages(second, order.id)] == [f"limits:{order.id}:sign", f"limits:{order.id}"]
    finally:
        await second.stop()


async def test_an_order_never_trades_from_a_wallet_it_was_not_set_for(app: App) -> None:
    """Set from the connected wallet (no PIN), triggered after /disconnect: the custodial wallet, which holds MAG7 too,
    is not traded from; the order fails and says why."""
    uid, account = await connected_holder(app)
    nav, _ = await snapshot_of(app)
    order = await set_stop(app, (nav * D("0.9")).quantize(D("0.01")))
    custodial = await app.services.wallets.create(uid)
    await app.services.pins.set_pin(uid, PIN)
    assert app.services.connected is not None and await app.services.connected.disconnect(uid) is not None
    await fund(app.profile, custodial, usdc=D(1000), eth=D(1))
    quoted = await say(app, f"/buy {MAG7} 100", "w1")  # now from the custodial wallet
    assert "Confirmed in block" in (await click(app, quoted, "Confirm", "w1")).rendered.text
    token = app.profile.index(MAG7).token.address
    held = await token_balance(app, token, custodial)
    assert held > 0
    await move_mag7_nav(app, order.line - 1)
    assert (await app.services.limit_orders.check()).triggered == 1
    ended = await app.services.limit_orders.rows.get(order.id)
    assert ended is not None and (ended.state, ended.outcome, ended.intent_id) == ("failed", "limits.error.wallet_changed", None)
    [(_, reply)] = await messages(app, order.id)
    assert [m.key for m in reply.lines] == ["limits.triggered", "limits.failed", "limits.error.wallet_changed"]
    assert await token_balance(app, token, custodial) == held and await sells(app, uid) == 0


CONNECTED_BAD = [
    ("/stop MAG7 50% below -5", "The trigger price must be more than $0."),
    ("/stop MAG7 50% below abc", '"abc" is not a price'),
    ("/stop MAG7 50% below {met}", "already meets"),
    ("/stop MAG7 50% below {absurd}", "times away from the price now"),
    ("/stop MAG7 50% below {low} soon", '"soon" is not an expiry'),
    ("/stop MAG7 50% over {low}", "That is not an order I can read"),
    ("/stop NOPE 50% below {low}", "NOPE"),
]


@pytest.mark.parametrize(("line", "says"), CONNECTED_BAD)
async def test_a_connected_wallets_bad_order_says_why_and_changes_nothing(app: App, line: str, says: str) -> None:
    uid, _ = await connected_holder(app)
    nav, _ = await snapshot_of(app)
    text = line.format(met=(nav + 1).quantize(D("0.01")), absurd=(nav / 20).quantize(D("0.01")),
                       low=(nav * D("0.8")).quantize(D("0.01")))
    answer = await say(app, text, "w1")
    assert says in answer.rendered.text and "Confirm" not in labels(answer), answer.rendered.text
    assert await app.services.limit_orders.rows.of_user(uid) == []


async def test_a_connected_wallets_order_summary_cancelled_or_not_held_sets_nothing(app: App) -> None:
    uid, _ = await connected_user(app, "w2")
    nav, _ = await snapshot_of(app)
    low = (nav * D("0.8")).quantize(D("0.01"))
    assert "You do not hold MAG7.ssi" in (await say(app, f"/stop MAG7 50% below {low}", "w2")).rendered.text
    _, price = await snapshot_of(app)
    offer = await say(app, f"/limit buy MAG7 10 at {(price * D('0.5')).quantize(D('0.01'))} 1d", "w2")
    assert labels(offer) == ["Confirm", "Cancel"]
    assert (await click(app, offer, "Cancel", "w2")).rendered.text == "The order was not set."
    assert await app.services.limit_orders.rows.of_user(uid) == []
    await funded_user(app, "k1")  # a custodial wallet still needs its PIN: asked for, no Confirm
    no_pin = await say(app, f"/limit buy MAG7 10 at {(price * D('0.5')).quantize(D('0.01'))} 1d", "k1")
    asked = no_pin.rendered.ask
    assert asked is not None and asked.secret and "Confirm" not in labels(no_pin), no_pin.rendered.text


async def test_telegram_a_connected_wallets_order_is_confirmed_and_its_trigger_sends_the_link(
        app: App, emulator: BotApiEmulator, telegram: object) -> None:
    user = 5301
    row = await app.services.users.seen("telegram", str(user))
    account = await connected_user_row(app, row.id)
    desk = app.services.desks.home
    intent_id, _ = await desk.quote_swap(row.id, "telegram", str(user), app.profile.index(MAG7), "buy", D(100))
    bought = await desk.confirm(intent_id, row.id, None, str(user))
    await sign_page(app, account, str(bought.result["link"]))
    assert await settled(app, intent_id) is State.MINED
    nav, _ = await snapshot_of(app)
    line = (nav * D("0.9")).quantize(D("0.01"))
    since = emulator.mark()
    emulator.send_text(user, user, f"/stop MAG7 50% below {line}")  # (the buy's own notice may come first)
    offer = await emulator.wait_for("sendMessage", to_chat(user, "Order to set: stop-loss"), since=since, timeout=15)
    done = await tap(emulator, user, offer, "Confirm", until="Order #")
    assert "no PIN" in text_of(done)
    [order] = await app.services.limit_orders.rows.of_user(row.id)

    since = emulator.mark()
    await move_mag7_nav(app, line - 1)
    assert (await app.services.limit_orders.check()).triggered == 1
    sent = await emulator.wait_for("sendMessage", lambda c: c.chat_id == user and "Sign the sale" in str(c.params.get("text")),
                                   since=since, timeout=15)
    assert f"Order #{order.id} triggered at" in text_of(sent) and "/sign/" in text_of(sent)
    url = LINK.search(text_of(sent))
    assert url is not None and keyboard(sent) == []  # a local bot's http link: in the text (Telegram takes no button)
    assert app.services.connected is not None
    page = await app.services.connected.open_signing(url[0].rsplit("/", 1)[1], None)  # the page the user opens
    assert page.address == account.address and len(page.txs) == 2  # the exact approval, then the sale
    assert (await app.services.limit_orders.check()).triggered == 0
    assert [c for c in emulator.calls_to("sendMessage", since) if "Sign the sale" in str(c.params.get("text"))] == [sent]

    await sign_page(app, account, url[0])  # signed: the sale's outcome is told once, by the order
    firing = await app.services.limit_orders.rows.get(order.id)
    assert firing is not None and firing.intent_id is not None and await settled(app, firing.intent_id) is State.MINED
    await app.services.limit_orders.check()
    told = await emulator.wait_for("sendMessage", lambda c: c.chat_id == user and "executed" in str(c.params.get("text")),
                                   since=since, timeout=15)
    assert f"Order #{order.id}" in text_of(told)
    await asyncio.sleep(2)  # the follower's own notice, were it sent, would be out by now
    after = [c for c in emulator.calls_to("sendMessage", since) if c.chat_id == user and c is not sent]
    assert after == [told], [text_of(c) for c in after]
