"""/buy <index> <usdc> and /sell <index> <amount|all>: a fresh quote with Confirm / Cancel buttons.

Confirm runs the trade through the intent pipeline (bot.trading) and answers with where it stands; the
reply is edited in place as the trade moves on. The buttons carry only the intent id. The quote says which
wallet trades: the user's connected wallet when there is one (Confirm then answers with a signing link, sent
to the user's private chat when the quote was in a group), else the custodial wallet.

An index issued by a factory (venue `issuance`, e.g. MAG7.nex) is quoted from its factory and bought or sold by
a request to it on its own chain, pending until the factory fills it (bot.issuance; /orders). A symbol that
names indexes on several chains (`mag7`) gets a choice of buttons first.
"""

from decimal import Decimal
from functools import partial

from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Count, Msg, Pct, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present as issuance_present
from bot.chain.profile import IndexRef
from bot.services import Services
from bot.trading.present import wallet_line
from bot.trading.swap import BPS
from handlers.shared.confirm import confirm_buttons, intent_arg, run_confirm
from handlers.shared.quotes import choose_index, quote_lines


async def offer(services: Services, caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
    """A pool index: a swap quote stored as an intent, with Confirm / Cancel."""
    if ref.venue == "issuance":
        return await request(services, caller, ref, side, amount)
    desk, req, usdc = services.desks.home, caller.request, services.profile.usdc
    who = await desk.sender(caller.user_key)
    intent_id, quote = await desk.quote_swap(caller.user_key, req.platform, req.chat_id, ref, side, amount, who)  # type: ignore[arg-type]
    slip = await desk.slippage_bps(caller.user_key)
    prompt = Msg("trade.confirm_prompt", {
        "seconds": desk.settings.quote_ttl_seconds, "slippage": Pct(Decimal(slip).scaleb(-4)),
        "minimum": Amount(quote.amount_out * (BPS - slip) / BPS), "symbol": ref.symbol if side == "buy" else usdc.symbol,
    })
    wallet = wallet_line(who.kind, who.address)
    return Reply.of(*quote_lines(quote, usdc.symbol), wallet, prompt, buttons=confirm_buttons(intent_id))


async def request(services: Services, caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
    """An issued index: a request to its factory, filled later (bot.issuance)."""
    issuance, req = services.issuance, caller.request
    who = await issuance.desk(ref).sender(caller.user_key)
    intent_id, quote = await issuance.request(caller.user_key, req.platform, req.chat_id, ref, side, amount, who)  # type: ignore[arg-type]
    lines = issuance_present.quote_lines(quote, issuance.hours(ref), services.profile.usdc.symbol, issuance.chain_of(ref).chain_label)
    prompt = Msg("issuance.confirm_prompt", {"count": Count(services.desks.home.settings.quote_ttl_seconds)})
    return Reply.of(*lines, wallet_line(who.kind, who.address), prompt, buttons=confirm_buttons(intent_id))


async def trade(services: Services, caller: Caller, side: str, typed: str, amount_text: str) -> Reply:
    """Both sides, once the index is known (or a choice of indexes, when `typed` names several)."""
    usdc = services.profile.usdc
    if side == "buy":  # checked before any choice of index: it does not depend on which
        amount = parse_amount(amount_text, decimals=usdc.decimals, maximum=services.limits.max_usdc, unit=usdc.symbol)
    ref = choose_index(services, typed, "trade.pick", (side, amount_text[:24]))
    if isinstance(ref, Reply):
        return ref
    if side == "buy":
        return await offer(services, caller, ref, "buy", amount)
    desk = services.issuance.desk(ref) if ref.venue == "issuance" else services.desks.home
    if amount_text.lower() == "all":
        address = (await desk.sender(caller.user_key)).address
        units = await desk.balance(address, ref.token)
        if not units:
            raise UserError("error.sell.nothing", index=ref.symbol)
        amount = from_base_units(units, ref.token.decimals)
    else:
        amount = parse_amount(amount_text, decimals=ref.token.decimals, maximum=services.limits.max_index_tokens, unit=ref.symbol)
    return await offer(services, caller, ref, "sell", amount)


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
    return await trade(services, caller, side, symbol, amount_text)


async def confirm(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    return await run_confirm(services, caller, intent_arg(args))


async def cancel(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    await services.desks.home.cancel(intent_arg(args), caller.user_key)
    return Reply.of(Msg("trade.cancelled"), edit=True)


def register(router: Router, services: Services) -> None:
    router.command("buy", partial(buy, services), personal=True)
    router.command("sell", partial(sell, services), personal=True)
    router.action("trade.pick", partial(pick, services))
    router.action("trade.confirm", partial(confirm, services))
    router.action("trade.cancel", partial(cancel, services))
