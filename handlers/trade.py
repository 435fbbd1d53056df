"""/buy <index> <usdc> and /sell <index> <amount|all>: a fresh quote with Confirm / Cancel buttons.

Confirm runs the trade through the intent pipeline (bot.trading) and answers with where it stands; the
reply is edited in place as the trade moves on. The buttons carry only the intent id. The quote says which
wallet trades: the user's connected wallet when there is one (Confirm then answers with a signing link, sent
to the user's private chat when the quote was in a group), else the custodial wallet.

An index issued by a factory (venue `issuance`, e.g. MAG7.nex) is quoted from its factory and bought or sold by
a request to it on its own chain, pending until the factory fills it (bot.issuance; /orders). A bare symbol that
names indexes on several chains (`mag7`) is the home chain's (MAG7.ssi), the others offered as buttons under the
quote; only an ambiguous one (none of them, or two, the home chain's) gets a choice of buttons first.
"""

from dataclasses import replace
from functools import partial

from bot.core.amounts import parse_amount
from bot.core.errors import UserError
from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.delivery.quotes import CONFIRM_ACTION
from bot.services import Services
from handlers.shared.confirm import intent_arg, refresh_buttons, run_confirm
from handlers.shared.offers import offer, sell_amount
from handlers.shared.quotes import choose_index


async def trade(services: Services, caller: Caller, side: str, typed: str, amount_text: str) -> Reply:
    """Both sides: the quote of the index `typed` means, with the same name on other chains offered under it (or a
    choice of indexes, where `typed` is ambiguous)."""
    usdc = services.profile.usdc
    if side == "buy":  # checked before any choice of index: it does not depend on which
        amount = parse_amount(amount_text, decimals=usdc.decimals, maximum=services.limits.max_usdc, unit=usdc.symbol,
                              locale=caller.locale)
    chosen = choose_index(services, typed, "trade.pick", (side, amount_text[:24]))
    if isinstance(chosen, Reply):
        return chosen
    ref, elsewhere = chosen
    if side == "buy":
        reply = await offer(services, caller, ref, "buy", amount)
    else:
        reply = await offer(services, caller, ref, "sell", await sell_amount(services, caller, ref, amount_text))
    return replace(reply, buttons=(*reply.buttons, *elsewhere))


async def buy(services: Services, caller: Caller) -> Reply:
    """`/buy <index> <usdc>`."""
    args = caller.request.args
    if len(args) != 2:
        raise UserError("error.buy.usage", valid=services.all_index_list())
    return await trade(services, caller, "buy", args[0], args[1])


async def sell(services: Services, caller: Caller) -> Reply:
    """`/sell <index> <amount|all>`."""
    args = caller.request.args
    if len(args) != 2:
        raise UserError("error.sell.usage", valid=services.all_index_list())
    return await trade(services, caller, "sell", args[0], args[1])


async def pick(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A button of the choice of indexes: (symbol, side, amount) as typed."""
    if len(args) != 3 or args[1] not in ("buy", "sell"):
        raise UserError("error.trade.unknown")
    symbol, side, amount_text = args
    return replace(await trade(services, caller, side, symbol, amount_text), edit=True)


async def confirm(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Confirm; an expired quote loses its Confirm / Cancel and says so, with Refresh (as a quote left alone does by
    itself at its expiry: `expired`)."""
    intent_id = intent_arg(args)
    try:
        return await run_confirm(services, caller, intent_id)
    except UserError as err:
        if err.key != "error.trade.expired":
            raise
        return Reply.of(err.msg, buttons=await refresh_buttons(services, intent_id), edit=True)


async def expired(services: Services, intent_id: int) -> Reply:
    """What a quote left alone says once it expired (bot.delivery.quotes): that, and its Refresh."""
    return Reply.of(Msg("error.trade.expired"), buttons=await refresh_buttons(services, intent_id), edit=True)


async def cancel(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    await services.desks.home.cancel(intent_arg(args), caller.user_key)
    return Reply.of(Msg("trade.cancelled"), edit=True)


def register(router: Router, services: Services) -> None:
    router.command("buy", partial(buy, services), personal=True)
    router.command("sell", partial(sell, services), personal=True)
    router.action("trade.pick", partial(pick, services))
    router.action(CONFIRM_ACTION, partial(confirm, services))
    router.action("trade.cancel", partial(cancel, services))
    services.quotes.says(partial(expired, services))
