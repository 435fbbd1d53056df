"""Orders that act by themselves on the devnet: a stop-loss fires once when NAV crosses its line (the user told
once, the sale on chain and in the ledger), a limit buy fires when the pool price falls to its line, an order
expires, a crash between trigger and confirmation trades once, and bad input changes nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot.app import App
from bot.chain.client import HeadTracker
from bot.limits.book import LimitOrders
from bot.storage.db import Database
from bot.storage.limit_orders import LimitOrderRows
from devnet import operator as op
from auxil.console import console_lines
from auxil.orders import buy_mag7, guide_text, lasts, move_mag7_nav, sells, snapshot_of, the_order, orders_told
from auxil.discord import ALICE, dm_press, dm_slash, shown
from auxil.telegram import ask, press_and_wait_edit
from auxil.trading import PIN, click, funded_user, say, token_balance
from bot.frontends.adapters.discord import DiscordFrontend
from discord_fake import FakeDiscord
from telegram_emulator import BotApiEmulator

MAG7 = "MAG7.ssi"
D = Decimal


async def test_a_stop_loss_fires_once_when_nav_crosses(app: App) -> None:
    uid, address = await funded_user(app)
    await buy_mag7(app)
    token = app.profile.index(MAG7).token.address
    held = await token_balance(app, token, address)
    nav, _ = await snapshot_of(app)
    line = (nav * D("0.9")).quantize(D("0.01"))
    set_ = (await say(app, f"/stop MAG7 50% below {line} {PIN}")).rendered.text
    assert "Order #" in set_ and "stop-loss: sell 50% of MAG7.ssi" in set_ and "Expires" in set_, set_
    order = await the_order(app, uid)
    assert "stop-loss" in (await say(app, "/limits")).rendered.text

    book = app.services.limit_orders
    assert (await book.check()).triggered == 0  # above the line: nothing
    await move_mag7_nav(app, line - 1)
    assert (await book.check()).triggered == 1
    assert (await book.check()).triggered == 0  # once
    ended = await book.rows.get(order.id)
    assert ended is not None and ended.state == "filled" and ended.intent_id is not None
    assert await token_balance(app, token, address) == held - held // 2  # half of it sold on chain
    assert await sells(app, uid) == 1  # the ledger records it as the sell it was
    [(key, text)] = await orders_told(app)
    assert key == f"limits:{order.id}" and "limits.triggered" in text and "trade.mined.sell" in text
    assert "no open orders" in (await say(app, "/limits")).rendered.text


async def test_orders_lists_the_stop_beside_the_factory_requests_and_cancels_it(app: App) -> None:
    """/orders is where every order of the user's is (the issue's "listed and cancelled in /orders"): the open stop-loss
    with its Cancel, and the factory's requests (none here) named."""
    empty = (await say(app, "/orders")).rendered.text
    assert "You have no open orders." in empty and "/stop MAG7 50% below 90" in empty and "fill later" in empty, empty
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    await say(app, f"/stop MAG7 50% below {(nav * D('0.9')).quantize(D('0.01'))} {PIN}")
    order = await the_order(app, uid)
    listed = await say(app, "/orders")
    assert f"#{order.id}" in listed.rendered.text and "stop-loss: sell 50% of MAG7.ssi" in listed.rendered.text
    assert "Issuance and redemption requests" not in listed.rendered.text  # none made: no section for them
    cancelled = await click(app, listed, f"Cancel #{order.id}")
    assert f"Order #{order.id} cancelled" in cancelled.rendered.text
    ended = await app.services.limit_orders.rows.get(order.id)
    assert ended is not None and ended.state == "cancelled"


async def test_a_limit_buy_fires_when_the_pool_price_falls_to_its_line(app: App) -> None:
    uid, address = await funded_user(app)
    await funded_user(app, "u2", usdc=D(50_000))
    await buy_mag7(app, "20000", "u2")  # the pool price rises
    _, price = await snapshot_of(app)
    line = (price * D("0.995")).quantize(D("0.01"))
    assert "Order #" in (await say(app, f"/limit buy MAG7 100 at {line} 1d {PIN}")).rendered.text
    book = app.services.limit_orders
    assert (await book.check()).triggered == 0
    u2 = (await app.services.users.seen("console", "u2")).id
    held = await token_balance(app, app.profile.index(MAG7).token.address, (await app.services.desks.home.sender(u2)).address)
    quoted = await say(app, f"/sell {MAG7} {D(held) / 10**8:.8f}", "u2")
    assert "Confirmed in block" in (await click(app, quoted, "Confirm", "u2")).rendered.text
    assert (await book.check()).triggered == 1
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == ["buy"]
    assert await token_balance(app, app.profile.index(MAG7).token.address, address) > 0


async def test_an_order_expires_and_the_user_is_told(app: App) -> None:
    uid, _ = await funded_user(app)
    nav, price = await snapshot_of(app)
    assert "Order #" in (await say(app, f"/limit buy MAG7 100 at {(price * D('0.5')).quantize(D('0.01'))} 1d {PIN}")).rendered.text
    order = await the_order(app, uid)
    book = app.services.limit_orders
    clock = book.clock
    book.clock = lambda: clock() + 86_401
    assert (await book.check()).expired == 1
    ended = await book.rows.get(order.id)
    assert ended is not None and ended.state == "expired"
    [(key, text)] = await orders_told(app)
    assert key == f"limits:{order.id}" and "limits.expired" in text


class Crash(BaseException):
    """The process dying between the stored intent and its confirmation."""


async def test_a_crash_between_trigger_and_confirmation_trades_once(app: App) -> None:
    uid, address = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    line = (nav * D("1.1")).quantize(D("0.01"))
    assert "Order #" in (await say(app, f"/takeprofit MAG7 100% above {line} gtc {PIN}")).rendered.text
    order = await the_order(app, uid)
    book = app.services.limit_orders

    async def crash(point: str) -> None:
        if point == "limits:stored":
            raise Crash(point)

    book.fault = crash
    await move_mag7_nav(app, line + 1)
    with pytest.raises(Crash):
        await book.check()
    firing = await book.rows.get(order.id)
    assert firing is not None and firing.state == "firing" and firing.intent_id is not None  # stored, not signed
    nonce = await app.chain.nonce(address)

    async def no_fault(point: str) -> None:
        return None

    book.fault = no_fault  # the restart
    await book.check()
    await book.check()
    done = await book.rows.get(order.id)
    assert done is not None and done.state == "filled" and done.intent_id == firing.intent_id
    txs = await app.services.desks.home.intents.txs(firing.intent_id)
    assert len(txs) == 2 and await app.chain.nonce(address) == nonce + 2  # the exact approval and the swap, once
    assert await sells(app, uid) == 1
    assert await token_balance(app, app.profile.index(MAG7).token.address, address) == 0
    assert len(await orders_told(app)) == 1


async def test_a_failed_run_ends_the_order_and_says_why(app: App) -> None:
    """The rule: a run that fails ends the order (the user is told why and may set it again); nothing is retried."""
    uid, address = await funded_user(app)
    await buy_mag7(app)
    token = app.profile.index(MAG7).token.address
    nav, _ = await snapshot_of(app)
    line = (nav * D("0.9")).quantize(D("0.01"))
    assert "Order #" in (await say(app, f"/stop MAG7 100% below {line} {PIN}")).rendered.text
    order = await the_order(app, uid)
    held = await token_balance(app, token, address)
    quoted = await say(app, f"/sell {MAG7} {D(held) / 10**8:.8f}")  # sold by hand meanwhile
    assert "Confirmed in block" in (await click(app, quoted, "Confirm")).rendered.text
    await move_mag7_nav(app, line - 1)
    book = app.services.limit_orders
    assert (await book.check()).triggered == 1
    ended = await book.rows.get(order.id)
    assert ended is not None and (ended.state, ended.outcome) == ("failed", "limits.error.not_held")
    [(key, text)] = await orders_told(app)
    assert "limits.failed" in text and "limits.error.not_held" in text
    assert (await book.check()).triggered == 0 and await sells(app, uid) == 1  # the hand sale alone


async def test_a_trailing_stop_follows_the_highest_nav(app: App) -> None:
    uid, address = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    assert "trailing stop" in (await say(app, f"/stop MAG7 100% trail 10% {PIN}")).rendered.text
    order = await the_order(app, uid)
    book = app.services.limit_orders
    await move_mag7_nav(app, nav * D("1.2"))  # the peak rises with it
    assert (await book.check()).triggered == 0
    peak = (await book.rows.get(order.id)).peak  # type: ignore[union-attr]
    assert peak is not None and peak > nav * D("1.19")
    await move_mag7_nav(app, nav * D("0.95"))  # above the first line (0.9), below the risen one (1.2 × 0.9 = 1.08)
    assert (await book.check()).triggered == 1
    assert await token_balance(app, app.profile.index(MAG7).token.address, address) == 0


BAD = [
    ("/stop MAG7 50% below -5 {pin}", "The trigger price must be more than $0."),
    ("/stop MAG7 50% below 0 {pin}", "The trigger price must be more than $0."),
    ("/stop MAG7 50% below abc {pin}", '"abc" is not a price'),
    ("/stop MAG7 50% below 1e2 {pin}", '"1e2" is not a price'),  # read as amounts are: no exponents
    ("/stop MAG7 50% below ٩٠ {pin}", '"٩٠" is not a price'),  # nor digits other than ASCII (Decimal takes them)
    ("/stop MAG7 1e1% below {low} {pin}", '"1e1%" is not a share of the holding'),
    ("/stop MAG7 50% below {absurd} {pin}", "times away from the price now"),
    ("/stop MAG7 50% below {met} {pin}", "already meets"),
    ("/takeprofit MAG7 100% above {met_up} {pin}", "already meets"),
    ("/stop MAG7 150% below {low} {pin}", '"150%" is not a share of the holding'),
    ("/stop MAG7 50% below {low} -1d {pin}", '"-1d" has already passed'),
    ("/stop MAG7 50% below {low} 0d {pin}", '"0d" has already passed'),
    ("/stop MAG7 50% below {low} soon {pin}", '"soon" is not an expiry'),
    ("/stop MAG7 50% below {low} ١٢h {pin}", '"١٢h" is not an expiry'),  # ASCII digits only, as for ids
    ("/stop MAG7 50% over {low} {pin}", "That is not an order I can read"),
    ("/limit hold MAG7 100 at 90 {pin}", "That is not an order I can read"),
    ("/stop MAG7 50% trail 0% {pin}", '"0%" is not a trailing distance'),  # was called a share of the holding
    ("/stop MAG7 50% trail 100% {pin}", '"100%" is not a trailing distance'),
    ("/limits cancel 999", "You have no open order #999"),
    ("/orders cancel 999", "You have no open order #999"),
    ("/orders cancel", "Usage: /orders, or /orders cancel <number>"),
    ("/limits cancel abc", '"abc" is not an order number'),
    ("/stop MAG7 50% below {low} 000000", "PIN"),
]


@pytest.mark.parametrize(("line", "says"), BAD)
async def test_bad_input_says_why_and_changes_nothing(app: App, line: str, says: str) -> None:
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    text = line.format(pin=PIN, absurd=(nav / 20).quantize(D("0.01")), met=(nav + 1).quantize(D("0.01")),
                       met_up=(nav - 1).quantize(D("0.01")), low=(nav * D("0.8")).quantize(D("0.01")))
    answer = (await say(app, text)).rendered.text
    assert says in answer, answer
    assert await app.services.limit_orders.rows.of_user(uid) == []


TYPED_WITHOUT_PIN = [  # (the line but its PIN, with lines from NAV / pool price now; what the order stores: kind,
    #  amount, line or trail, watch; its life in seconds; how the question says it lasts)
    ("/stop MAG7 33.5% below {low} 3d", ("stop", D("33.5"), "low", None, "price"), 3 * 86_400, "Expires "),
    ("/stop MAG7 50% trail 10%", ("stop", D(50), None, D(10), "price"), 7 * 86_400, "It expires in 1 week"),
    ("/limit buy MAG7 10 USDC at {cheap} gtc", ("buy", D(10), "cheap", None, "price"), None, "Good till cancelled."),
    ("/takeprofit MAG7 100% above {high} 12h", ("takeprofit", D(100), "high", None, "price"), 12 * 3600, "Expires "),
]


@pytest.mark.parametrize(("typed", "stored", "life", "said"), TYPED_WITHOUT_PIN)
async def test_an_order_typed_without_its_pin_asks_for_it_and_sets_what_was_typed(
        app: App, typed: str, stored: tuple[object, ...], life: int | None, said: str) -> None:
    """Issue 18's "ask, don't make users type secrets on a command line": the one-line order without its PIN is
    summarized and the PIN asked for (it was refused as unreadable); a wrong PIN sets nothing, the right one sets the
    order exactly as typed, its share, trigger and expiry included (not only the buttons' presets)."""
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, price = await snapshot_of(app)
    lines = {"low": (nav * D("0.8")).quantize(D("0.01")), "high": (nav * D("1.3")).quantize(D("0.01")),
             "cheap": (price * D("0.5")).quantize(D("0.01"))}
    line = console_lines(app, "u1")
    asked = await line(typed.format(**lines))
    assert guide_text(app, "limits.guide.ask.pin") in asked and said in asked, asked
    assert await app.services.limit_orders.rows.of_user(uid) == []  # nothing before the PIN
    wrong = await line("000000" if PIN != "000000" else "111111")
    assert "Order #" not in wrong and await app.services.limit_orders.rows.of_user(uid) == [], wrong
    set_ = await line(PIN)
    assert "Order #" in set_ and PIN not in set_, set_
    order = await the_order(app, uid)
    kind, amount, at, trail, watch = stored
    assert (order.kind, order.amount, order.trail, order.watch) == (kind, amount, trail, watch)
    if at is not None:
        assert order.line == lines[str(at)]
    assert lasts(order, life), (order.created_at, order.expires_at)


async def test_a_line_is_read_by_the_users_decimal_mark(app: App) -> None:
    """In Spanish 1.500 could be 1500 or 1,5: refused naming both, never read as 1.5 (the order it would make)."""
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    await say(app, "/lang es")
    answer = (await say(app, f"/stop MAG7 50% below 1.500 {PIN}")).rendered.text
    assert "1500" in answer and "1,5" in answer, answer
    assert await app.services.limit_orders.rows.of_user(uid) == []


async def test_an_order_that_would_fire_now_offers_to_trade_now(app: App) -> None:
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    met = await say(app, f"/takeprofit MAG7 50% above {(nav - 1).quantize(D('0.01'))} {PIN}")
    assert "would fire at once, so it was not set" in met.rendered.text
    assert await app.services.limit_orders.rows.of_user(uid) == []
    quoted = await click(app, met, "Execute now")
    assert "Confirm" in [b.label for row in quoted.rendered.buttons for b in row], quoted.rendered.text
    assert "Confirmed in block" in (await click(app, quoted, "Confirm")).rendered.text
    assert await sells(app, uid) == 1


async def test_a_sell_of_an_index_not_held_and_too_many_orders_are_refused(app: App) -> None:
    uid, _ = await funded_user(app)
    nav, price = await snapshot_of(app)
    answer = (await say(app, f"/stop MAG7 50% below {(nav * D('0.8')).quantize(D('0.01'))} {PIN}")).rendered.text
    assert "You do not hold MAG7.ssi" in answer
    book = app.services.limit_orders
    low = (price * D("0.5")).quantize(D("0.01"))
    for _ in range(book.settings.max_open):
        assert "Order #" in (await say(app, f"/limit buy MAG7 10 at {low} {PIN}")).rendered.text
    answer = (await say(app, f"/limit buy MAG7 10 at {low} {PIN}")).rendered.text
    assert "the most there can be" in answer
    assert len(await book.rows.of_user(uid)) == book.settings.max_open


@pytest.mark.parametrize("command", ["/limits", "/orders"])
async def test_another_users_order_cannot_be_cancelled(app: App, command: str) -> None:
    uid, _ = await funded_user(app)
    await funded_user(app, "u2")
    _, price = await snapshot_of(app)
    await say(app, f"/limit buy MAG7 10 at {(price * D('0.5')).quantize(D('0.01'))} {PIN}")
    order = await the_order(app, uid)
    assert f"You have no open order #{order.id}" in (await say(app, f"{command} cancel {order.id}", "u2")).rendered.text
    assert (await the_order(app, uid)).state == "open"
    assert f"Order #{order.id} cancelled" in (await say(app, f"{command} cancel {order.id}")).rendered.text
    assert await app.services.limit_orders.rows.of_user(uid) == []


async def test_the_head_tracker_drives_the_check(app: App) -> None:
    """No one calls check(): the watch on the head tracker sees the new block and fires the stop-loss."""
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    nav, _ = await snapshot_of(app)
    line = (nav * D("0.9")).quantize(D("0.01"))
    assert "Order #" in (await say(app, f"/stop MAG7 100% below {line} {PIN}")).rendered.text
    order = await the_order(app, uid)
    book = app.services.limit_orders
    app.head.start()
    book.watch(app.head)
    try:
        await move_mag7_nav(app, line - 1)
        for _ in range(200):
            current = await book.rows.get(order.id)
            if current is not None and current.state == "filled":
                break
            await asyncio.sleep(0.1)
        assert current is not None and current.state == "filled"
    finally:
        await book.stop()
    assert await sells(app, uid) == 1


async def test_orders_set_and_cancelled_by_another_process_are_seen_at_the_next_check(app: App) -> None:
    """Another process (its own `Database` on the bot's file) sets two stop-losses and cancels one: the bot's next
    check, reading only the changed rows, fires the one left and not the cancelled one."""
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    book = app.services.limit_orders
    assert (await book.check()).triggered == 0 and book.held.full_reads == 1  # the watch's first read: nothing yet
    nav, _ = await snapshot_of(app)
    line = (nav * D("0.9")).quantize(D("0.01"))
    second = await Database.open(app.db.engine.url.render_as_string(hide_password=False))
    try:
        elsewhere = LimitOrders(LimitOrderRows(second), book.desk, book.outbox, book.settings, book.clock)
        ref = app.profile.index(MAG7)
        kept = await elsewhere.add(uid, "console", "u1", ref, "stop", D(50), line, None, None)
        gone = await elsewhere.add(uid, "console", "u1", ref, "stop", D(50), line + 1, None, None)
        await elsewhere.cancel(uid, gone.id)
    finally:
        await second.close()
    await move_mag7_nav(app, line - 1)
    assert (await book.check()).triggered == 1
    assert book.held.full_reads == 1 and book.held.orders == {}
    assert [(o.id, o.state) for o in (await book.rows.get(kept.id), await book.rows.get(gone.id)) if o is not None] == [
        (kept.id, "filled"), (gone.id, "cancelled")]
    assert await sells(app, uid) == 1


# -- each front end sets, lists and cancels an order ----------------------------------------------------------------


async def test_telegram_sets_lists_and_cancels_an_order(app: App, emulator: BotApiEmulator, telegram: object) -> None:
    user = 5201
    uid, _ = await funded_user(app, str(user), usdc=D(1000), platform="telegram")
    _, price = await snapshot_of(app)
    line = (price * D("0.5")).quantize(D("0.01"))
    since = emulator.mark()
    set_ = await ask(emulator, user, user, f"/limit buy MAG7 100 at {line} 1w {PIN}")
    assert "Order #" in set_.params["text"] and "buy 100 USDC of MAG7.ssi" in set_.params["text"], set_.params["text"]
    await emulator.wait_for("deleteMessage", since=since, timeout=10)  # the message with the PIN is gone
    listed = await ask(emulator, user, user, "/limits")
    assert "Your orders (1 of 20)" in listed.params["text"]
    [order] = await app.services.limit_orders.rows.of_user(uid)
    done = await press_and_wait_edit(emulator, user, listed, f"Cancel #{order.id}")
    assert f"Order #{order.id} cancelled" in str(done.params["text"])
    assert await app.services.limit_orders.rows.of_user(uid) == []


async def test_discord_sets_lists_and_cancels_an_order(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    uid, _ = await funded_user(app, ALICE["id"], usdc=D(1000), platform="discord")
    _, price = await snapshot_of(app)
    line = (price * D("0.5")).quantize(D("0.01"))
    set_ = await dm_slash(frontend, rest, "limit", side="buy", index="MAG7.ssi", order=f"100 at {line} gtc {PIN}")
    assert "Order #" in shown(set_.content) and "Good till cancelled" in shown(set_.content), shown(set_.content)
    listed = await dm_slash(frontend, rest, "limits")
    [order] = await app.services.limit_orders.rows.of_user(uid)
    assert f"#{order.id} buy 100 USDC of MAG7.ssi" in shown(listed.content)
    gone = await dm_press(frontend, rest, listed, f"Cancel #{order.id}")
    assert f"Order #{order.id} cancelled" in shown(gone.content)
    assert await app.services.limit_orders.rows.of_user(uid) == []
    stop = await dm_slash(frontend, rest, "stop", index="MAG7.ssi", order=f"50% below 1 gtc {PIN}")  # named options
    assert shown(stop.content).startswith("You do not hold MAG7.ssi"), shown(stop.content)  # read as /stop's words


async def test_console_sets_lists_and_cancels_an_order(app: App) -> None:
    uid, _ = await funded_user(app)
    _, price = await snapshot_of(app)
    line = console_lines(app, "u1")
    printed = await line(f"/limit buy MAG7 25 at {(price * D('0.5')).quantize(D('0.01'))} 3d {PIN}")
    assert "Order #" in printed and "buy 25 USDC of MAG7.ssi" in printed, printed
    [order] = await app.services.limit_orders.rows.of_user(uid)
    assert f"#{order.id} buy 25 USDC" in await line("/limits")
    assert f"Order #{order.id} cancelled" in await line(f"/limits cancel {order.id}")
    assert "no open orders" in await line("/limits")


class CountingChain:
    """A node that answers eth_blockNumber with a fixed head and counts the questions."""

    def __init__(self) -> None:
        self.asked = 0

    async def block_number(self) -> int:
        self.asked += 1
        return 100


@pytest.mark.parametrize(("urgent", "at_most", "at_least"), [(False, 4, 1), (True, 40, 8)])
async def test_the_orders_watch_asks_the_node_at_the_trackers_pace(urgent: bool, at_most: int, at_least: int) -> None:
    """The limit orders wait for every block for good: at the tracker's own pace (a poll every 0.5 s here), not at
    the fast pace a followed trade asks for (0.1 s), which would ask the node ten times a second forever."""
    chain = CountingChain()
    tracker = HeadTracker(chain, interval=0.5)  # type: ignore[arg-type]
    tracker.start()
    waiting = asyncio.create_task(tracker.next_block(100, urgent=urgent))
    try:
        await asyncio.sleep(1.2)
    finally:
        waiting.cancel()
        await tracker.stop()
    assert at_least <= chain.asked <= at_most, chain.asked
