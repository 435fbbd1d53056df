"""/quote <index> [amount] [usdc|tokens]: a buy quote for USDC in, or a sell quote for index tokens in.

A pool index is quoted on Uniswap; an issued one (venue `issuance`) from its factory's weights, prices and fee.
A bare symbol naming indexes on several chains is the home chain's, the others offered as buttons; only an ambiguous
one gets a choice of buttons."""

from dataclasses import replace
from functools import partial

from bot.core.amounts import parse_amount
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present as issuance_present
from bot.services import Services
from handlers.shared.quotes import choose_index, quote_lines

UNITS = {"usdc": "buy", "usd": "buy", "$": "buy", "tokens": "sell", "token": "sell"}


async def answer(services: Services, symbol: str, amount_text: str | None, unit: str, locale: str) -> Reply:
    """The quote of `amount_text` of `unit` in or out of the index `symbol` names (or a choice of indexes)."""
    limits = services.limits
    side = UNITS.get(unit.lower())
    if side is None:
        raise UserError("error.quote.unit", value=unit[:16], valid="usdc, tokens")
    chosen = choose_index(services, symbol, "quote.show", (str(amount_text)[:24], unit.lower()[:16]))
    if isinstance(chosen, Reply):
        return chosen
    ref, elsewhere = chosen
    if side == "buy":
        amount = parse_amount(amount_text, decimals=services.profile.usdc.decimals, maximum=limits.max_usdc, unit="USDC",
                              locale=locale)
    else:
        amount = parse_amount(amount_text, decimals=ref.token.decimals, maximum=limits.max_index_tokens, unit=ref.symbol,
                              locale=locale)
    refresh = Button(Msg("button.refresh"), "quote.show", (ref.symbol, str(amount), unit.lower()))
    usdc = services.profile.usdc.symbol
    issuance = services.issuance
    if ref.venue == "issuance":  # quoted from its factory: filled later, at that moment's NAV
        requested = await issuance.quote(ref, side, amount)  # type: ignore[arg-type]
        lines = issuance_present.quote_lines(requested, issuance.hours(ref), usdc, issuance.chain_of(ref).chain_label)
        return Reply.of(*lines, buttons=((refresh,), *elsewhere))
    quote = await services.market.quote(ref, side, amount)  # type: ignore[arg-type]
    return Reply.of(*quote_lines(quote, usdc, services.desks.home.settings.premium_warn_bps), buttons=((refresh,), *elsewhere))


async def quote_command(services: Services, caller: Caller) -> Reply:
    """Parse `<index> [amount] [usdc|tokens]` strictly, then quote at the newest block."""
    args = caller.request.args
    if not args:
        raise UserError("error.quote.usage", usage=Msg("usage.quote"), valid=services.all_index_list())
    if len(args) > 3:
        raise UserError("error.args.extra", usage=Msg("usage.quote"))
    amount = args[1] if len(args) > 1 else str(services.limits.default_quote_usdc)
    return await answer(services, args[0], amount, args[2] if len(args) > 2 else "usdc", caller.locale)


async def show(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A Refresh or quote button: (symbol, amount, unit)."""
    if len(args) != 3:
        raise UserError("error.trade.unknown")
    symbol, amount, unit = args
    return replace(await answer(services, symbol, amount, unit, caller.locale), edit=True)


def register(router: Router, services: Services) -> None:
    router.command("quote", partial(quote_command, services), personal=True)
    router.action("quote.show", partial(show, services))
