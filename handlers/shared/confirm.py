"""Confirm / Cancel of a stored intent (a trade, a withdrawal, a staking transaction, an order's cancel)."""

from bot.core.amounts import parse_id
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.services import Services
from bot.trading.present import status_reply


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
    desk = await services.desks.of_id(intent_id)
    req = caller.request
    status = await desk.confirm(intent_id, caller.user_key, req.message_ref, req.private_chat, acknowledged)
    reply = status_reply(status, services.profile, desk.kinds)
    if status.stage != "signing" or req.private_chat == req.chat_id:
        return reply
    if await desk.notifier.tell(caller.user_key, req.platform, req.private_chat or "", reply) is None:
        await desk.abandon(intent_id, caller.user_key)
        return Reply.of(Msg("trade.sign.undelivered"), edit=True)
    return Reply.of(Msg("trade.sign.sent_privately"), edit=True)
