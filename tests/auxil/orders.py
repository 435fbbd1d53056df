"""Orders that act by themselves on the devnet: the index's NAV and pool price now, NAV moved by its BTC feed, a buy
to hold something to sell, the one order a user has, what the orders told, the sales in the ledger, and the catalog's
words the order buttons show (`guide_text`, `preset`)."""

from __future__ import annotations

from decimal import Decimal

from bot.app import App
from bot.delivery.outbox import codec
from bot.storage.limit_orders import LimitOrder
from devnet import operator as op
from auxil.catalog import text
from auxil.requests import click, say
from auxil.telegram import ask, force_reply, text_of
from auxil.trading import PIN
from telegram_emulator import BotApiEmulator, Call
from bot.core.messages import Pct, Usd

MAG7 = "MAG7.ssi"
D = Decimal


async def snapshot_of(app: App) -> tuple[Decimal, Decimal]:
    """(NAV per token, pool price) of MAG7 at the newest block."""
    await app.head.poll_once()
    state = (await app.services.market.snapshot()).indexes[MAG7]
    assert state.dex_price is not None
    return state.nav, state.dex_price


async def move_mag7_nav(app: App, target: Decimal) -> None:
    """Move MAG7's NAV to `target` by moving BTC's feed (NAV is linear in it), as `indexbot devnet price` does."""
    await app.head.poll_once()
    snap = await app.services.market.snapshot()
    state = snap.indexes[MAG7]
    btc = next(e for e in state.tokenset if e.symbol == "BTC")
    await op.set_price(app.profile, "BTC", (snap.prices["BTC"] + (target - state.nav) / btc.units).quantize(D("0.00000001")))
    await app.head.poll_once()


async def buy_mag7(app: App, usdc: str = "100", user: str = "u1") -> None:
    quoted = await say(app, f"/buy {MAG7} {usdc}", user)
    assert "Confirmed in block" in (await click(app, quoted, "Confirm", user)).rendered.text


async def the_order(app: App, uid: int) -> LimitOrder:
    [order] = await app.services.limit_orders.rows.of_user(uid) or [None]
    assert order is not None
    return order


def lasts(order: LimitOrder, seconds: int | None) -> bool:
    """Whether `order` expires `seconds` after it was set (to the second its storing took), or never (None)."""
    if seconds is None or order.expires_at is None:
        return order.expires_at is None and seconds is None
    return abs(order.expires_at - order.created_at - seconds) <= 1


async def orders_told(app: App) -> list[tuple[str, str]]:
    """(outbox key, first line) of every order message queued."""
    rows = await app.db.fetch_all("SELECT dedupe, payload FROM outbox WHERE dedupe LIKE 'limits:%' ORDER BY id")
    return [(str(r[0]), repr(codec.loads(str(r[1])))) for r in rows]


async def sells(app: App, uid: int) -> int:
    return sum(f.kind == "sell" for f in await app.services.ledger.rows.all(uid))


def guide_text(app: App, key: str, **params: object) -> str:
    return text(app, key, **params)  # type: ignore[arg-type]


def preset(app: App, now: Decimal, change: int) -> str:
    """The label of the trigger button `change` % from `now` (NAV per token for a stop or take-profit, the pool price
    for a limit buy or sell)."""
    line = ((100 + change) * now / 100).quantize(D("0.01"))
    return guide_text(app, "limits.guide.button.line", change=Pct(D(change) / 100, 0, signed=True), line=Usd(line))


async def pin_sets_the_order(emulator: BotApiEmulator, user: int, since: int) -> Call:
    """On Telegram, the guided order's PIN question (asked since `since`) answered: the PIN's message deleted, the order
    set; the answer."""
    asked = await force_reply(emulator, user, since)
    since = emulator.mark()
    set_ = await ask(emulator, user, user, PIN, reply_to=asked.result["message_id"])
    await emulator.wait_for("deleteMessage", since=since, timeout=10)  # the PIN's message is gone
    assert "Order #" in text_of(set_) and PIN not in text_of(set_), text_of(set_)
    return set_
