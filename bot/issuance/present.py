"""Issuance requests as catalog messages: the quote, the pending request, its fill or cancellation, /orders."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Msg, Pct, Reply, Usd, When
from bot.issuance.factory import PRICE_DECIMALS, FactoryState, RequestQuote
from bot.issuance.hours import MarketHours
from bot.chain.profile import Profile
from bot.storage.orders import Order
from bot.trading.params import CancelParams, IssuanceParams


def market_line(hours: MarketHours, now: int) -> Msg:
    """Open until the close, or closed until the next open (in the reader's zone)."""
    if hours.is_open(now):
        close = hours.next_close(now)
        return Msg("issuance.market.always") if close is None else Msg("issuance.market.open", {"close": When(close)})
    return Msg("issuance.market.closed", {"open": When(hours.next_open(now))})


def quote_lines(q: RequestQuote, hours: MarketHours, usdc: str, chain: str) -> list[Msg]:
    pay, receive = (usdc, q.index) if q.side == "buy" else (q.index, usdc)
    lines = [
        Msg(f"issuance.quote.{q.side}.title", {"index": q.index, "chain": chain}, style="title"),
        Msg("quote.pay", {"amount": Amount(q.amount_in), "symbol": pay}),
        Msg("issuance.quote.expected", {"amount": Amount(q.amount_out), "symbol": receive, "nav": Usd(q.nav, 4)}),
        Msg("issuance.quote.fee", {"fee": Usd(q.fee, 2), "pct": Pct(q.fee_rate)}),
    ]
    for leg in q.legs:  # what the factory buys or sells of each constituent: units, then their value under them
        lines += [Msg("issuance.quote.leg", {"symbol": leg.symbol, "units": Amount(leg.units, 4)}),
                  Msg("issuance.quote.leg.usd", {"usd": Usd(leg.usd)})]
    lines += [market_line(hours, q.state.timestamp), Msg("issuance.quote.later"), Msg("common.block", {"block": q.state.block})]
    return lines


def index_lines(state: FactoryState, hours: MarketHours, chain: str) -> list[Msg]:
    """/indexes: an issued index, its constituents, and the next ones while a reindex is pending."""
    lines = [Msg("indexes.header", {"index": state.index.symbol}, style="title"),
             Msg("indexes.nav", {"nav": Usd(state.nav)}),
             Msg("issuance.indexes.venue", {"chain": chain, "pct": Pct(state.fee_rate)}),
             market_line(hours, state.timestamp)]
    for c in state.current:
        lines += [Msg("indexes.weight", {"symbol": c.symbol, "weight": Pct(c.share, 1)}),
                  Msg("indexes.units", {"units": Amount(c.held / state.supply if state.supply else Decimal(0), 6)})]
    if state.next and state.reindex_at:
        now = {c.symbol for c in state.current}
        lines.append(Msg("issuance.indexes.reindex", {"when": When(state.reindex_at)}))
        for c in state.next:
            key = "issuance.indexes.next" if c.symbol in now else "issuance.indexes.added"
            lines.append(Msg(key, {"symbol": c.symbol, "weight": Pct(c.share, 1)}))
        following = {c.symbol for c in state.next}
        lines += [Msg("issuance.indexes.removed", {"symbol": c.symbol}) for c in state.current if c.symbol not in following]
    return lines


def request_pending(kind: str, params: IssuanceParams, result: Mapping[str, Any]) -> list[Msg]:
    """The trade message once the request mined: pending, and when it should complete."""
    paid = from_base_units(params.amount_in, params.decimals_in)
    lines = [Msg(f"issuance.pending.{kind}", {"nonce": int(result.get("nonce", 0)), "amount": Amount(paid),
                                               "symbol": params.symbol_in, "index": params.index})]
    expected = result.get("expected_at")
    lines.append(Msg("issuance.expected.open") if expected is None else
                 Msg("issuance.expected.closed", {"when": When(int(expected))}))
    lines.append(Msg("issuance.pending.hint"))
    return lines


def cancel_mined(kind: str, params: CancelParams) -> list[Msg]:
    amount = from_base_units(params.amount_in, params.decimals_in)
    return [Msg(f"orders.cancelled.{kind.removeprefix('cancel_')}", {
        "nonce": params.nonce, "amount": Amount(amount), "symbol": params.symbol_in, "index": params.index})]


def _what(order: Order) -> Msg:
    """An order's head: its nonce and what goes in and comes out (the figures go on the lines under it)."""
    return Msg(f"orders.what.{order.side}", {"nonce": order.nonce, "symbol": order.symbol_in, "index": order.index,
                                             "out": order.symbol_out})


def order_lines(order: Order) -> list[Msg]:
    """One order as a card narrow enough for a phone: its state and head, then one figure or moment a line."""
    paid = Msg("orders.paid", {"amount": Amount(from_base_units(order.amount_in, order.decimals_in))})
    if order.state == "pending":
        expected = (Msg("orders.expected.open") if order.expected_at is None
                    else Msg("orders.expected.at", {"when": When(order.expected_at)}))
        return [Msg("orders.pending", {"what": _what(order)}), paid, Msg("orders.requested", {"since": When(order.requested_at)}), expected]
    if order.state == "filled" and order.amount_out is not None:
        got = from_base_units(order.amount_out, order.decimals_out)
        return [Msg("orders.filled", {"what": _what(order)}), paid, Msg("orders.received", {"received": Amount(got)})]
    return [Msg("orders.cancelled", {"what": _what(order)}), paid, Msg("orders.state.cancelled")]


def settled(order: Order, state: str, amount_out: int | None, price: int | None, tx_hash: str | None,
            profile: Profile | None) -> Reply:
    """The edit of the trade message when the factory filled the request, or it was cancelled."""
    paid = from_base_units(order.amount_in, order.decimals_in)
    if state == "filled" and amount_out is not None:
        got = from_base_units(amount_out, order.decimals_out)
        line = Msg(f"orders.done.{order.side}", {
            "nonce": order.nonce, "received": Amount(got), "symbol": order.symbol_out, "paid": Amount(paid),
            "paid_symbol": order.symbol_in, "index": order.index,
            "price": Usd(from_base_units(price or 0, PRICE_DECIMALS), 4),
        })
    else:
        line = Msg(f"orders.cancelled.{order.side}", {"nonce": order.nonce, "amount": Amount(paid),
                                                       "symbol": order.symbol_in, "index": order.index})
    lines = [line]
    if tx_hash:
        url = f"{profile.explorer_url.rstrip('/')}/tx/{tx_hash}" if profile is not None and profile.explorer_url else tx_hash
        lines.append(Msg("trade.tx", {"tx": url}))
    return Reply.of(*lines, edit=True)
