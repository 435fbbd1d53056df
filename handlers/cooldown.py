"""The Claim button of a cooldown-end alert (bot/delivery/alerts/cooldowns.py): pressing it is typing `/claim <symbol> all`,
the same offer with Confirm / Cancel, checked against the chain."""

from functools import partial

from bot.delivery.alerts.cooldowns import CLAIM_ACTION
from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.shared.staking import offer, target_of


async def claim(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    if len(args) != 1:
        raise UserError("error.button.expired")
    return await offer(services, caller, "claim", target_of(services, args[0]), None)


def register(router: Router, services: Services) -> None:
    router.action(CLAIM_ACTION, partial(claim, services))
