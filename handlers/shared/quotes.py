"""Choosing among the indexes a typed symbol names, and the lines of a pool quote (/quote, /buy, /sell)."""

from decimal import Decimal

from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Count, Msg, Pct, Reply, Usd
from bot.market.quotes import Quote
from bot.market.prices import present as prices
from bot.chain.profile import IndexRef
from bot.services import Services


def choose_index(services: Services, typed: str, action: str, rest: tuple[str, ...]) -> IndexRef | Reply:
    """The index `typed` names; when it names several (`mag7`: MAG7.ssi on Base, MAG7.nex on Ethereum), a reply
    asking which, one button each running `action` with (symbol, *rest)."""
    found = services.find_indexes(typed)
    if not found:
        raise UserError("error.index.unknown", value=typed[:24], valid=services.all_index_list())
    if len(found) == 1:
        return found[0]
    buttons = tuple((Button(Msg("button.index_pick", {"index": ref.symbol, "chain": services.chain_of(ref).chain_label}),
                            action, (ref.symbol, *rest)),) for ref in found)
    return Reply.of(Msg("index.choose", {"typed": typed[:24]}), buttons=buttons)


def quote_lines(quote: Quote, usdc: str) -> list[Msg]:
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
