"""/quote <index> [amount] [usdc|tokens]: a buy quote for USDC in, or a sell quote for index tokens in.

A pool index is quoted on Uniswap; an issued one (venue `issuance`) from its factory's weights, prices and fee.
A symbol naming indexes on several chains gets a choice of buttons."""

from decimal import Decimal

from bot.core.amounts import parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Pct, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present as issuance
from bot.market import Quote
from bot.prices import present as prices
from bot.profile import IndexRef
from bot.services import Services

UNITS = {"usdc": "buy", "usd": "buy", "$": "buy", "tokens": "sell", "token": "sell"}


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


def quote_lines(q: Quote, usdc: str) -> list[Msg]:
    pay, receive = (usdc, q.index) if q.side == "buy" else (q.index, usdc)
    lines = [
        Msg(f"quote.{q.side}.title", {"index": q.index}, style="title"),
        Msg("quote.pay", {"amount": Amount(q.amount_in), "symbol": pay}),
        Msg("quote.receive", {"amount": Amount(q.amount_out), "symbol": receive}),
    ]
    if q.partial:  # no full NAV: the pool price alone, and which constituents have no fresh price
        lines.append(prices.partial_line(q.unpriced, q.dex_price))
        lines.append(Msg("quote.price_only", {"price": Usd(q.exec_price, 4)}))
    else:
        lines.append(Msg("quote.price", {"price": Usd(q.exec_price, 4), "nav": Usd(q.nav, 4)}))
        lines.append(Msg("quote.premium" if q.premium >= 0 else "quote.discount", {"pct": Pct(abs(q.premium))}))
    lines += [
        Msg("quote.pool", {"fee": Pct(Decimal(q.pool_fee).scaleb(-6)), "impact": Pct(q.price_impact, 3)}),
        Msg("quote.gas", {"usd": Usd(q.gas_usd, 4), "gas": q.gas_units}),
        Msg("common.block", {"block": q.block}),
    ]
    if q.sources:
        lines.append(Msg("quote.sources", {"count": len(q.sources),
                                           "age": prices.age(prices.oldest_age(q.sources, q.timestamp)), "index": q.index}))
    sequencer = prices.sequencer_line(q.sequencer)
    if sequencer is not None:
        lines.append(sequencer)
    return lines


def register(router: Router, services: Services) -> None:
    limits = services.limits

    async def answer(symbol: str, amount_text: str | None, unit: str) -> Reply:
        side = UNITS.get(unit.lower())
        if side is None:
            raise UserError("error.quote.unit", value=unit[:16], valid="usdc, tokens")
        ref = choose_index(services, symbol, "quote.show", (str(amount_text)[:24], unit.lower()[:16]))
        if isinstance(ref, Reply):
            return ref
        if side == "buy":
            amount = parse_amount(amount_text, decimals=services.profile.usdc.decimals, maximum=limits.max_usdc, unit="USDC")
        else:
            amount = parse_amount(amount_text, decimals=ref.token.decimals, maximum=limits.max_index_tokens, unit=ref.symbol)
        refresh = Button(Msg("button.refresh"), "quote.show", (ref.symbol, str(amount), unit.lower()))
        usdc = services.profile.usdc.symbol
        iss = services.issuance
        if ref.venue == "issuance" and iss is not None:  # quoted from its factory: filled later, at that moment's NAV
            rq = await iss.quote(ref, side, amount)  # type: ignore[arg-type]
            return Reply.of(*issuance.quote_lines(rq, iss.hours(ref), usdc, iss.chain_of(ref).chain_label), buttons=((refresh,),))
        q = await services.market.quote(ref, side, amount)  # type: ignore[arg-type]
        return Reply.of(*quote_lines(q, usdc), buttons=((refresh,),))

    async def quote(caller: Caller) -> Reply:
        """Parse `<index> [amount] [usdc|tokens]` strictly, then quote at the newest block."""
        args = caller.request.args
        if not args:
            raise UserError("error.quote.usage", usage=Msg("usage.quote"), valid=services.all_index_list())
        if len(args) > 3:
            raise UserError("error.args.extra", usage=Msg("usage.quote"))
        amount = args[1] if len(args) > 1 else str(limits.default_quote_usdc)
        return await answer(args[0], amount, args[2] if len(args) > 2 else "usdc")

    async def show(caller: Caller, args: tuple[str, ...]) -> Reply:
        if len(args) != 3:
            raise UserError("error.trade.unknown")
        symbol, amount, unit = args
        return await answer(symbol, amount, unit)

    router.command("quote", quote, personal=True)
    router.action("quote.show", show)
