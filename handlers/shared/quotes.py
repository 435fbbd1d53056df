"""The index a typed symbol means (and the same name on other chains, offered), and the lines of a pool quote (/quote, /buy, /sell)."""

from decimal import Decimal

from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Count, Msg, Pct, Reply, Usd
from bot.market.quotes import Quote
from bot.market.prices import present as prices
from bot.chain.profile import IndexRef
from bot.services import Services


Rows = tuple[tuple[Button, ...], ...]


def choose_index(services: Services, typed: str, action: str, rest: tuple[str, ...]) -> tuple[IndexRef, Rows] | Reply:
    """The index `typed` means (`Services.meant_index`: a bare `mag7` is the home chain's MAG7.ssi) with a button
    for each index of that name on another chain (MAG7.nex on Ethereum), to show under its quote; or, where the
    symbol is ambiguous, a reply asking which. Each button runs `action` with (symbol, *rest)."""
    meant = services.meant_index(typed)
    if meant.index is None and not meant.others:
        raise UserError("error.index.unknown", value=typed[:24], valid=services.all_index_list())
    buttons = tuple((Button(Msg("button.index_pick", {"index": ref.symbol, "chain": services.chain_of(ref).chain_label}),
                            action, (ref.symbol, *rest)),) for ref in meant.others)
    if meant.index is None:
        return Reply.of(Msg("index.choose", {"typed": typed[:24]}), buttons=buttons)
    return meant.index, buttons


def quote_lines(quote: Quote, usdc: str, warn_bps: int) -> list[Msg]:
    """A pool quote's lines; `warn_bps`: a buy this far over NAV, or a sell this far under it, gets a warning with
    what the tokens are backed by (an index token's pool can drift from its basket; minting and redeeming close
    the gap only for those who can)."""
    pay, receive = (usdc, quote.index) if quote.side == "buy" else (quote.index, usdc)
    lines = [
        Msg(f"quote.{quote.side}.title", {"index": quote.index}, style="title"),
        Msg("quote.pay", {"amount": Amount(quote.amount_in), "symbol": pay}),
        Msg("quote.receive", {"amount": Amount(quote.amount_out), "symbol": receive}),
    ]
    if quote.partial:  # no full NAV: the pool price alone, and which constituents have no fresh price
        lines.append(prices.partial_line(quote.unpriced, quote.dex_price))
        lines.append(Msg("quote.price_only", {"price": Usd(quote.exec_price, 4)}))
    else:
        lines.append(Msg("quote.price", {"price": Usd(quote.exec_price, 4), "nav": Usd(quote.nav, 4)}))
        lines.append(Msg("quote.premium" if quote.premium >= 0 else "quote.discount", {"pct": Pct(abs(quote.premium))}))
        warning = premium_warning(quote, warn_bps)
        if warning is not None:
            lines.append(warning)
    lines += [
        Msg("quote.pool", {"fee": Pct(Decimal(quote.pool_fee).scaleb(-6)), "impact": Pct(quote.price_impact, 3)}),
        Msg("quote.gas", {"usd": Usd(quote.gas_usd, 4), "gas": quote.gas_units}),
        Msg("common.block", {"block": quote.block}),
    ]
    if quote.sources:
        lines.append(Msg("quote.sources", {"count": Count(len(quote.sources)),
                                           "age": prices.age(prices.oldest_age(quote.sources, quote.timestamp)), "index": quote.index}))
    sequencer = prices.sequencer_line(quote.sequencer)
    if sequencer is not None:
        lines.append(sequencer)
    return lines


def premium_warning(quote: Quote, warn_bps: int) -> Msg | None:
    """Paying `warn_bps` or more over NAV on a buy, or getting that much under it on a sell: how far, and what the
    index tokens of the trade are backed by at NAV."""
    edge = Decimal(warn_bps).scaleb(-4)
    tokens = quote.amount_out if quote.side == "buy" else quote.amount_in
    backed = Usd(tokens * quote.nav)
    if quote.side == "buy" and quote.premium >= edge:
        return Msg("quote.warn.premium", {"pct": Pct(quote.premium), "usd": backed})
    if quote.side == "sell" and -quote.premium >= edge:
        return Msg("quote.warn.discount", {"pct": Pct(-quote.premium), "usd": backed})
    return None
