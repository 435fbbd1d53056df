"""A factory-issued index (MAG7.nex, on the devnet's stock chain) in /positions, /pnl and the digest's PnL: held on its
own chain and valued at the factory's NAV per token, with its cost basis and unrealized PnL moving with the NAV
(checked against the factory's own `indexPrice()` on the chain, not the bot's figure); a pending redemption's tokens,
in the factory until it fills, still count as the user's; a factory chain that cannot be read leaves that index
without a price and every other index priced."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import devnet.operator as op
from bot.app import App
from bot.cards import Card
from bot.chain.client import Call, ChainUnavailable
from devnet.fulfil import Fulfiller
from auxil.issuance import hours_app, issued_holder, mag7_nex  # noqa: F401  (hours_app: a fixture)
from auxil.requests import click, say
from auxil.trading import token_balance
from handlers.shared import cards

INDEX = "MAG7.nex"
PNG = b"\x89PNG\r\n\x1a\n"
CENT = Decimal("0.01")


def usd(amount: Decimal) -> str:
    """An amount as the English catalogs show it ($1,234.56, -$0.10)."""
    rounded = amount.quantize(CENT)
    return f"{'-' if rounded < 0 else ''}${abs(rounded):,.2f}"


def figure(text: str, label: str) -> Decimal:
    """The dollar figure on the line starting with `label`."""
    line = next(ln for ln in text.splitlines() if ln.startswith(label))
    return Decimal(line.split("$")[1].replace(",", "")) * (-1 if "-$" in line else 1)


async def polled(app: App) -> None:
    """Every chain's head at its newest block (a factory's state is read once per block)."""
    for desk in app.services.desks:
        await desk.head.poll_once()


async def test_positions_value_mag7_nex_at_the_factory_nav_and_its_pnl_moves_with_it(
        hours_app: tuple[App, Fulfiller], monkeypatch: pytest.MonkeyPatch) -> None:
    app, fulfiller = hours_app
    stocks = app.services.companions[0]
    user, _, held = await issued_holder(app, fulfiller, "a1")
    tokens = Decimal(held).scaleb(-18)
    [fill] = await app.services.ledger.rows.all(user)
    cost = fill.usd + fill.gas_usd

    nav = await op.factory_nav(stocks, INDEX)  # the chain's NAV per token (the factory's indexPrice())
    text = (await say(app, "/positions", "a1")).rendered.text
    card = text[text.index(f"\n{INDEX}\n"):]
    assert f"Held: {tokens.normalize():f}\n  ≈ {usd(tokens * nav)}\n  valued at the factory's NAV per token" in card, text
    assert f"Cost: {usd(cost)}\n  by average cost" in card, text
    before = figure(card, "Unrealized: ")
    assert abs(before - (tokens * nav - cost)) <= CENT, text
    assert "Same in BTC: $" in card and f"Left in USDC: {usd(cost)}" in card and "Unrealized: no price" not in card, text
    assert "points a day" not in card.split("Cost:")[0], text  # a factory's index earns no points: no multiplier

    await op.set_price(stocks, "NVDA", Decimal("180"))  # a stock of the basket moves: the factory's NAV with it
    await polled(app)
    moved = await op.factory_nav(stocks, INDEX)
    assert moved > nav
    text = (await say(app, "/positions", "a1")).rendered.text
    card = text[text.index(f"\n{INDEX}\n"):]
    after = figure(card, "Unrealized: ")
    assert abs((after - before) - tokens * (moved - nav)) <= 2 * CENT, text  # tokens held × the NAV's change
    assert f"≈ {usd(tokens * moved)}" in card, text

    pnl = (await app.services.ledger.pnl_now(app.services.prices, user))[INDEX]  # what the daily digest tells
    assert pnl.tokens == tokens and pnl.unrealized is not None
    assert abs(pnl.unrealized - (tokens * moved - cost)) < Decimal("0.000001")
    [line] = await app.services.digests._pnl_lines(user)  # the digest's PnL line: priced, at the same NAV
    assert line.key == "digest.pnl" and line.params["index"] == INDEX
    assert line.params["usd"].value == pnl.total  # type: ignore[union-attr]

    drawn: list[Card] = []

    def render(card: Card) -> bytes:
        drawn.append(card)
        return PNG

    monkeypatch.setattr(cards, "render_card", render)
    for typed in (f"/pnl {INDEX}", "/pnl"):
        reply = await say(app, typed, "a1")
        assert reply.rendered.image == PNG and f"Your PnL on {INDEX}." in reply.rendered.text, reply.rendered.text
    first, second = drawn
    assert first == second and first.title == f"PnL on {INDEX}"
    lines = "\n".join(first.lines)
    assert f"Value now: {usd(tokens * moved)}" in lines and "Unrealized: no price" not in lines, lines
    assert f"Unrealized: {usd(pnl.unrealized)}" in lines, lines


async def test_a_pending_redemption_still_counts_and_an_unreadable_factory_chain_prices_only_its_index_out(
        hours_app: tuple[App, Fulfiller], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    app, fulfiller = hours_app
    stocks = app.services.companions[0]
    user, address, held = await issued_holder(app, fulfiller, "a1")
    buy = await say(app, "/buy MAG7 50", "a1")  # a pool index beside it
    assert "Confirmed in block" in (await click(app, buy, "Confirm", "a1")).rendered.text

    half = held // 2
    sell = await say(app, f"/sell {INDEX} {Decimal(half).scaleb(-18):f}", "a1")
    await click(app, sell, "Confirm", "a1")
    assert await token_balance(app, mag7_nex(app)[0], address) == held - half  # the rest sits in the factory
    await polled(app)
    nav = await op.factory_nav(stocks, INDEX)
    text = (await say(app, "/positions", "a1")).rendered.text
    card = text[text.index(f"\n{INDEX}\n"):]
    rest, redeeming = Decimal(held - half).scaleb(-18), Decimal(half).scaleb(-18)
    assert f"Held: {rest.normalize():f}\n  ≈ {usd(rest * nav)}" in card, text
    assert (f"Being redeemed: {redeeming.normalize():f}\n  ≈ {usd(redeeming * nav)}\n"
            "  in the factory until your redemption fills; see /orders") in card, text
    pnl = (await app.services.ledger.pnl_now(app.services.prices, user))[INDEX]
    assert pnl.tokens == Decimal(held).scaleb(-18)  # still the user's until the factory fills the redemption
    assert abs(figure(card, "Unrealized: ") - (pnl.tokens * nav - pnl.cost)) <= CENT, text

    token, factory = mag7_nex(app)
    stock_chain = app.services.issuance.desk(stocks.index(INDEX)).chain  # the home chain's client on the devnet
    app.services.issuance._readers[INDEX].forget()  # no factory state kept from before
    multicall = stock_chain.multicall

    async def factory_down(calls: list[Call], *args: Any, **kw: Any) -> Any:
        """The stock chain's reads fail (the devnet's chains share one node: only MAG7.nex's token and factory)."""
        if any(c.target in (token, factory) for c in calls):
            raise ChainUnavailable("the stock chain is down")
        return await multicall(calls, *args, **kw)

    monkeypatch.setattr(stock_chain, "multicall", factory_down)
    await op.set_price(stocks, "NVDA", Decimal("150"))  # a new block: nothing read before it serves
    await polled(app)
    text = (await say(app, "/positions", "a1")).rendered.text
    pool = text[text.index("\nMAG7.ssi\n"):]
    pool = pool[:pool.index(f"\n{INDEX}\n")] if f"\n{INDEX}\n" in pool else pool
    card = text[text.index(f"\n{INDEX}\n"):]
    assert "Unrealized: no price" in card and "Held:" not in card.split("Cost:")[0], text
    assert "Unrealized: $" in pool or "Unrealized: -$" in pool, text
    assert "chain is down" in caplog.text or "unreadable" in caplog.text
    assert (await app.services.prices.now()).indexes.keys() >= {"MAG7.ssi"}
    assert INDEX not in (await app.services.prices.now()).indexes
