"""/buy <index> <usdc> and /sell <index> <amount|all>: a fresh quote with Confirm / Cancel buttons.

Confirm runs the trade through the intent pipeline (bot.trading) and answers with where it stands; the
reply is edited in place as the trade moves on. The buttons carry only the intent id. The quote says which
wallet trades: the user's connected wallet when there is one (Confirm then answers with a signing link, sent
to the user's private chat when the quote was in a group), else the custodial wallet.
"""

from decimal import Decimal

from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Pct, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.profile import IndexRef
from bot.services import Services
from bot.trading.present import status_reply, wallet_line
from bot.trading.swap import BPS
from handlers.quote import quote_lines


def confirm_buttons(intent_id: int) -> tuple[tuple[Button, ...], ...]:
    args = (str(intent_id),)
    return ((Button(Msg("button.confirm"), "trade.confirm", args), Button(Msg("button.cancel"), "trade.cancel", args)),)


def intent_arg(args: tuple[str, ...]) -> int:
    if len(args) != 1 or not args[0].isdigit():
        raise UserError("error.trade.unknown")
    return int(args[0])


async def run_confirm(services: Services, caller: Caller, intent_id: int, acknowledged: bool = False) -> Reply:
    """Run the intent; a connected wallet's signing link goes only to the user's private chat."""
    x = services.trading
    assert x is not None
    req = caller.request
    status = await x.confirm(intent_id, caller.user_key, req.message_ref, req.private_chat, acknowledged)
    reply = status_reply(status, services.profile)
    if status.stage != "signing" or req.private_chat == req.chat_id:
        return reply
    if await x.notifier.tell(caller.user_key, req.platform, req.private_chat or "", reply) is None:
        await x.abandon(intent_id, caller.user_key)
        return Reply.of(Msg("trade.sign.undelivered"), edit=True)
    return Reply.of(Msg("trade.sign.sent_privately"), edit=True)


def register(router: Router, services: Services) -> None:
    x = services.trading
    if x is None:
        return
    usdc = services.profile.usdc

    def index_of(typed: str) -> IndexRef:
        ref = services.find_index(typed)
        if ref is None:
            raise UserError("error.index.unknown", value=typed[:24], valid=services.index_list())
        return ref

    async def offer(caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
        req = caller.request
        who = await x.sender(caller.user_key)
        intent_id, q = await x.quote_swap(caller.user_key, req.platform, req.chat_id, ref, side, amount, who)  # type: ignore[arg-type]
        slip = await x.slippage_bps(caller.user_key)
        prompt = Msg("trade.confirm_prompt", {
            "seconds": x.settings.quote_ttl_seconds, "slippage": Pct(Decimal(slip).scaleb(-4)),
            "minimum": Amount(q.amount_out * (BPS - slip) / BPS), "symbol": ref.symbol if side == "buy" else usdc.symbol,
        })
        wallet = wallet_line(who.kind, who.address)
        return Reply.of(*quote_lines(q, usdc.symbol), wallet, prompt, buttons=confirm_buttons(intent_id))

    async def buy(caller: Caller) -> Reply:
        """`/buy <index> <usdc>`."""
        args = caller.request.args
        if len(args) != 2:
            raise UserError("error.buy.usage", valid=services.index_list())
        ref = index_of(args[0])
        amount = parse_amount(args[1], decimals=usdc.decimals, maximum=services.limits.max_usdc, unit=usdc.symbol)
        return await offer(caller, ref, "buy", amount)

    async def sell(caller: Caller) -> Reply:
        """`/sell <index> <amount|all>`."""
        args = caller.request.args
        if len(args) != 2:
            raise UserError("error.sell.usage", valid=services.index_list())
        ref = index_of(args[0])
        if args[1].lower() == "all":
            address = (await x.sender(caller.user_key)).address
            units = await x.balance(address, ref.token)
            if not units:
                raise UserError("error.sell.nothing", index=ref.symbol)
            amount = from_base_units(units, ref.token.decimals)
        else:
            amount = parse_amount(args[1], decimals=ref.token.decimals, maximum=services.limits.max_index_tokens, unit=ref.symbol)
        return await offer(caller, ref, "sell", amount)

    async def confirm(caller: Caller, args: tuple[str, ...]) -> Reply:
        return await run_confirm(services, caller, intent_arg(args))

    async def cancel(caller: Caller, args: tuple[str, ...]) -> Reply:
        await x.cancel(intent_arg(args), caller.user_key)
        return Reply.of(Msg("trade.cancelled"), edit=True)

    router.command("buy", buy)
    router.command("sell", sell)
    router.action("trade.confirm", confirm)
    router.action("trade.cancel", cancel)
