"""Limit orders on the pool price's premium to NAV per token (`/limit buy MAG7 100 USDC premium -1%`): set in one line
(console, Discord's /limit), listed, and fired on the devnet when NAV moves against the pool price (BTC's feed moved
as `indexbot devnet price` moves it); bad input says why in the user's language and stores nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auxil.catalog import text
from auxil.console import console_lines
from auxil.discord import ALICE, dm_slash, shown
from auxil.orders import MAG7, buy_mag7, move_mag7_nav, sells, snapshot_of, the_order, orders_told
from auxil.trading import PIN, click, funded_user, say
from bot.app import App
from bot.core.messages import Amount, Pct
from bot.frontends.adapters.discord import DiscordFrontend
from devnet import operator as op
from discord_fake import FakeDiscord

D = Decimal
HUNDRED = D(100)
CENT = D("0.01")


async def premium_now(app: App) -> Decimal:
    """MAG7's pool price against NAV per token now, in percent."""
    nav, price = await snapshot_of(app)
    return (price / nav - 1) * HUNDRED


def typed(value: Decimal) -> str:
    """A premium as a user types it: two places, signed, with %."""
    return f"{value.quantize(CENT)}%"


def as_said(value: Decimal) -> Pct:
    return Pct(value.quantize(CENT) / HUNDRED, 2, signed=True)


async def test_a_premium_order_is_set_listed_and_described_in_the_console(app: App) -> None:
    uid, _ = await funded_user(app)
    line = console_lines(app, "u1")
    below = await premium_now(app) - 3
    printed = await line(f"/limit buy MAG7 100 USDC premium {typed(below)} 1d {PIN}")
    said = text(app, "limits.describe.premium_buy", amount=Amount(HUNDRED, 2), index=MAG7, line=as_said(below))
    assert "Order #" in printed and said in printed, printed
    order = await the_order(app, uid)
    assert (order.kind, order.watch, order.line, order.amount) == ("buy", "premium", below.quantize(CENT), HUNDRED)
    assert order.expires_at is not None
    listed = await line("/limits")
    assert f"#{order.id} {said}" in listed, listed


async def test_premium_orders_fire_when_nav_moves_against_the_pool_price(app: App) -> None:
    """A buy at a discount fires when NAV rises (the pool price stays); a sell at a premium when NAV falls; each once,
    told with the premium that triggered it."""
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    now = await premium_now(app)
    assert "Order #" in (await say(app, f"/limit buy MAG7 50 premium {typed(now - 2)} gtc {PIN}")).rendered.text
    assert "Order #" in (await say(app, f"/limit sell MAG7 50% premium {typed(now + 2)} gtc {PIN}")).rendered.text
    book = app.services.limit_orders
    assert (await book.check()).triggered == 0
    nav, _ = await snapshot_of(app)
    await move_mag7_nav(app, (nav * D("1.03")).quantize(CENT))  # the pool 3 % cheaper than NAV than it was
    assert (await book.check()).triggered == 1
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == ["buy", "buy"]
    assert (await book.check()).triggered == 0  # once
    await move_mag7_nav(app, (nav * D("0.97")).quantize(CENT))  # now 3 % dearer than NAV than it was
    assert (await book.check()).triggered == 1
    assert await sells(app, uid) == 1
    said = [t for _, t in await orders_told(app)]
    assert len(said) == 2 and all("limits.triggered" in t and "signed=True" in t for t in said), said
    assert await book.rows.of_user(uid) == []


async def test_a_premium_sell_fires_when_a_large_buy_lifts_the_pool_price_over_nav(app: App) -> None:
    uid, _ = await funded_user(app)
    await funded_user(app, "u2", usdc=D(50_000))
    await buy_mag7(app)
    now = await premium_now(app)
    assert "Order #" in (await say(app, f"/limit sell MAG7 100% premium {typed(now + 1)} 1w {PIN}")).rendered.text
    book = app.services.limit_orders
    assert (await book.check()).triggered == 0
    await buy_mag7(app, "20000", "u2")  # NAV stays; the pool price rises
    assert await premium_now(app) > now + 1
    assert (await book.check()).triggered == 1
    assert await sells(app, uid) == 1
    [(key, said)] = await orders_told(app)
    assert key.startswith("limits:") and "limits.triggered" in said, said


async def test_discord_sets_a_premium_order_with_limit(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    uid, _ = await funded_user(app, ALICE["id"], usdc=D(1000), platform="discord")
    below = await premium_now(app) - 5
    set_ = await dm_slash(frontend, rest, "limit", side="buy", index=MAG7, order=f"100 USDC premium {typed(below)} gtc {PIN}")
    assert "Order #" in shown(set_.content) and "premium to NAV" in shown(set_.content), shown(set_.content)
    order = await the_order(app, uid)
    assert (order.watch, order.line) == ("premium", below.quantize(CENT))


BAD = [  # (locale, typed with {now} the premium now, {pin}; what the reply says)
    ("en", "/limit buy MAG7 100 USDC premium 60% {pin}", "too far from NAV"),
    ("en", "/limit buy MAG7 100 premium -50.01% {pin}", "too far from NAV"),
    ("en", "/limit sell MAG7 50% premium abc {pin}", '"abc" is not a premium to NAV'),
    ("en", "/limit buy MAG7 100 premium 1e1% {pin}", '"1e1%" is not a premium to NAV'),
    ("en", "/limit buy MAG7 100 premium 1.234% {pin}", "decimal"),
    ("en", "/limit buy MAG7 100 premium {up}% {pin}", "would fire at once, so it was not set"),
    ("en", "/limit sell MAG7 50% premium {down}% {pin}", "would fire at once, so it was not set"),
    ("en", "/stop MAG7 50% premium 2% {pin}", "That is not an order I can read"),
    ("en", "/limit buy MAG7 100 premium {down}% 000000", "PIN"),
    ("es", "/limit buy MAG7 100 premium abc {pin}", '"abc" no es una prima sobre el NAV'),
    ("ru", "/limit buy MAG7 100 premium 70% {pin}", "слишком далека от NAV"),
    ("zh_CN", "/limit buy MAG7 100 premium 1,5,5% {pin}", "不是相对 NAV 的溢价"),
]


@pytest.mark.parametrize(("locale", "line", "says"), BAD)
async def test_bad_premium_input_says_why_and_changes_nothing(app: App, locale: str, line: str, says: str) -> None:
    uid, _ = await funded_user(app)
    await buy_mag7(app)
    if locale != "en":
        await say(app, f"/lang {locale}")
    now = await premium_now(app)
    answer = (await say(app, line.format(pin=PIN, up=(now + 1).quantize(CENT), down=(now - 1).quantize(CENT)))).rendered.text
    assert says in answer, answer
    assert await app.services.limit_orders.rows.of_user(uid) == []


async def test_a_premium_already_met_offers_to_trade_now(app: App) -> None:
    uid, _ = await funded_user(app)
    now = await premium_now(app)
    met = await say(app, f"/limit buy MAG7 100 premium {typed(now + 1)} {PIN}")
    assert text(app, "limits.error.premium_met", now=Pct(now / HUNDRED, 2, signed=True),
                line=as_said(now + 1)) in met.rendered.text, met.rendered.text
    quoted = await click(app, met, text(app, "limits.button.now"))
    assert "Confirmed in block" in (await click(app, quoted, "Confirm")).rendered.text
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == ["buy"]
    assert await app.services.limit_orders.rows.of_user(uid) == []


def test_every_key_the_orders_build_exists() -> None:
    """The keys built at run time (bot.limits.book.terms, handlers.order_buttons) are in every catalog."""
    from bot.i18n import Catalogs

    catalogs = Catalogs()
    built = {f"limits.describe.premium_{k}" for k in ("buy", "sell")} | {f"limits.guide.{s}.{k}" for s in ("share", "trigger")
                                                                         for k in ("stop", "takeprofit")}
    built |= {f"limits.guide.trigger.{k}" for k in ("buy", "sell")}  # Limit… under a quote
    built |= {f"limits.guide.button.{w}" for w in ("1d", "1w", "gtc")} | {f"limits.guide.lasts.{w}" for w in ("1d", "1w")}
    for locale in catalogs.locales:
        assert sorted(built - set(catalogs.entries[locale])) == [], locale
