"""The Claim button of a cooldown-end alert (bot/alerts/cooldowns.py): pressing it is typing `/claim <symbol> all`,
the same offer with Confirm / Cancel, checked against the chain."""

from bot.alerts.cooldowns import CLAIM_ACTION
from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.stake import offer, target_of


def register(router: Router, services: Services) -> None:
    if services.trading is None:
        return

    async def claim(caller: Caller, args: tuple[str, ...]) -> Reply:
        if len(args) != 1:
            raise UserError("error.button.expired")
        return await offer(services, caller, "claim", target_of(services, args[0]), None)

    router.action(CLAIM_ACTION, claim)
