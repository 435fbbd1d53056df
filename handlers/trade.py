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

from bot.core.amounts import from_base_units, parse_amount, parse_id
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Pct, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present as issuance
from bot.profile import IndexRef
from bot.services import Services
from bot.trading.present import status_reply, wallet_line
from bot.trading.swap import BPS
from handlers.quote import choose_index, quote_lines


def confirm_buttons(intent_id: int) -> tuple[tuple[Button, ...], ...]:
    args = (str(intent_id),)
    return ((Button(Msg("button.confirm"), "trade.confirm", args), Button(Msg("button.cancel"), "trade.cancel", args)),)


def intent_arg(args: tuple[str, ...]) -> int:
    intent_id = parse_id(args[0]) if len(args) == 1 else None
    if intent_id is None:
        raise UserError("error.trade.unknown")
    return intent_id


async def run_confirm(services: Services, caller: Caller, intent_id: int, acknowledged: bool = False) -> Reply:
    """Run the intent on its chain; a connected wallet's signing link goes only to the user's private chat."""
    x = await services.desks.of_id(intent_id) if services.desks is not None else services.trading
    assert x is not None
    req = caller.request
    status = await x.confirm(intent_id, caller.user_key, req.message_ref, req.private_chat, acknowledged)
    reply = status_reply(status, services.profile, x.kinds)
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

    async def offer(caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
        req = caller.request
        if ref.venue == "issuance" and services.issuance is not None:
            return await request(caller, ref, side, amount)
        who = await x.sender(caller.user_key)
        intent_id, q = await x.quote_swap(caller.user_key, req.platform, req.chat_id, ref, side, amount, who)  # type: ignore[arg-type]
        slip = await x.slippage_bps(caller.user_key)
        prompt = Msg("trade.confirm_prompt", {
            "seconds": x.settings.quote_ttl_seconds, "slippage": Pct(Decimal(slip).scaleb(-4)),
            "minimum": Amount(q.amount_out * (BPS - slip) / BPS), "symbol": ref.symbol if side == "buy" else usdc.symbol,
        })
        wallet = wallet_line(who.kind, who.address)
        return Reply.of(*quote_lines(q, usdc.symbol), wallet, prompt, buttons=confirm_buttons(intent_id))

    async def request(caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
        """An issued index: a request to its factory, filled later (bot.issuance)."""
        iss, req = services.issuance, caller.request
        assert iss is not None
        who = await iss.desk(ref).sender(caller.user_key)
        intent_id, q = await iss.request(caller.user_key, req.platform, req.chat_id, ref, side, amount, who)  # type: ignore[arg-type]
        lines = issuance.quote_lines(q, iss.hours(ref), usdc.symbol, iss.chain_of(ref).chain_label)
        prompt = Msg("issuance.confirm_prompt", {"seconds": x.settings.quote_ttl_seconds})
        return Reply.of(*lines, wallet_line(who.kind, who.address), prompt, buttons=confirm_buttons(intent_id))

    async def buy(caller: Caller) -> Reply:
        """`/buy <index> <usdc>`."""
        args = caller.request.args
        if len(args) != 2:
            raise UserError("error.buy.usage", valid=services.all_index_list())
        return await trade(caller, "buy", args[0], args[1])

    async def sell(caller: Caller) -> Reply:
        """`/sell <index> <amount|all>`."""
        args = caller.request.args
        if len(args) != 2:
            raise UserError("error.sell.usage", valid=services.all_index_list())
        return await trade(caller, "sell", args[0], args[1])

    async def trade(caller: Caller, side: str, typed: str, amount_text: str) -> Reply:
        """Both sides, once the index is known (or a choice of indexes, when `typed` names several)."""
        if side == "buy":  # checked before any choice of index: it does not depend on which
            amount = parse_amount(amount_text, decimals=usdc.decimals, maximum=services.limits.max_usdc, unit=usdc.symbol)
        ref = choose_index(services, typed, "trade.pick", (side, amount_text[:24]))
        if isinstance(ref, Reply):
            return ref
        if side == "buy":
            return await offer(caller, ref, "buy", amount)
        desk = services.issuance.desk(ref) if services.issuance is not None and ref.venue == "issuance" else x
        if amount_text.lower() == "all":
            address = (await desk.sender(caller.user_key)).address
            units = await desk.balance(address, ref.token)
            if not units:
                raise UserError("error.sell.nothing", index=ref.symbol)
            amount = from_base_units(units, ref.token.decimals)
        else:
            amount = parse_amount(amount_text, decimals=ref.token.decimals, maximum=services.limits.max_index_tokens, unit=ref.symbol)
        return await offer(caller, ref, "sell", amount)

    async def pick(caller: Caller, args: tuple[str, ...]) -> Reply:
        """A button of the choice of indexes: (symbol, side, amount) as typed."""
        if len(args) != 3 or args[1] not in ("buy", "sell"):
            raise UserError("error.trade.unknown")
        symbol, side, amount_text = args
        return await trade(caller, side, symbol, amount_text)

    async def confirm(caller: Caller, args: tuple[str, ...]) -> Reply:
        return await run_confirm(services, caller, intent_arg(args))

    async def cancel(caller: Caller, args: tuple[str, ...]) -> Reply:
        await x.cancel(intent_arg(args), caller.user_key)
        return Reply.of(Msg("trade.cancelled"), edit=True)

    router.command("buy", buy, personal=True)
    router.command("sell", sell, personal=True)
    router.action("trade.pick", pick)
    router.action("trade.confirm", confirm)
    router.action("trade.cancel", cancel)
