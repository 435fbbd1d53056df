"""Confirm / Cancel of a stored intent (a trade, a withdrawal, a staking transaction, an order's cancel), and the
Refresh of one that expired."""

from dataclasses import replace

from bot.core.amounts import from_base_units, parse_id
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.delivery.quotes import CONFIRM_ACTION
from bot.services import Services
from bot.trading.present import status_reply
from bot.trading.stake import target_of
from handlers.shared.nav import nav_row

STAKE_AGAIN = "stake.again"  # handlers/stake.py: (kind, symbol, amount), the staking offer made anew


def confirm_buttons(intent_id: int) -> tuple[tuple[Button, ...], ...]:
    args = (str(intent_id),)
    return ((Button(Msg("button.confirm"), CONFIRM_ACTION, args), Button(Msg("button.cancel"), "trade.cancel", args)),)


def intent_arg(args: tuple[str, ...]) -> int:
    intent_id = parse_id(args[0]) if len(args) == 1 else None
    if intent_id is None:
        raise UserError("error.trade.unknown")
    return intent_id


async def run_confirm(services: Services, caller: Caller, intent_id: int, acknowledged: bool = False) -> Reply:
    """Run the intent on its chain; a connected wallet's signing link goes only to the user's private chat."""
    desk = await services.desks.of_id(intent_id)
    req = caller.request
    status = await desk.confirm(intent_id, caller.user_key, req.news_ref, req.private_chat, acknowledged)
    reply = status_reply(status, services.profile, desk.kinds)
    if status.stage != "signing" or req.private_chat == req.chat_id:
        return reply if reply.buttons else replace(reply, buttons=(nav_row(),))  # Home: the next step, untyped
    if await desk.notifier.tell(caller.user_key, req.platform, req.private_chat or "", reply, keep=False) is None:
        await desk.abandon(intent_id, caller.user_key)
        return Reply.of(Msg("trade.sign.undelivered"), edit=True)
    return Reply.of(Msg("trade.sign.sent_privately"), edit=True)


async def refresh_buttons(services: Services, intent_id: int) -> tuple[tuple[Button, ...], ...]:
    """Refresh for an expired quote: the same offer made anew, a swap's (same index, side and amount) or a staking
    transaction's; none for a withdrawal, whose PIN is typed again."""
    intent = await (await services.desks.of_id(intent_id)).intents.get(intent_id)
    if intent is None:
        return ()
    params = intent.params
    if intent.kind in ("buy", "sell") and "amount_in" in params:
        amount = format(from_base_units(int(params["amount_in"]), int(params["decimals_in"])), "f")
        return ((Button(Msg("button.refresh"), "trade.pick", (str(params["index"]), intent.kind, amount)),),)
    if intent.kind in ("stake", "unstake", "claim") and "staking" in params:
        symbol = target_of(services.profile, str(params["staking"])).symbol
        amount = format(from_base_units(int(params["amount"]), int(params["decimals"])), "f")
        return ((Button(Msg("button.refresh"), STAKE_AGAIN, (intent.kind, symbol, amount)),),)
    return ()
