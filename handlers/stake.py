"""/stake <index|SOSO> <amount|all>, /unstake <index|SOSO> <amount|all>, /claim <index|SOSO> [amount|all].

Each checks against the chain (bot.trading.stake) and offers Confirm / Cancel; Confirm runs the intent pipeline
like a trade. /unstake shows the cooldown read from the contract and when it would end; when tokens are already
cooling down it says this unstake restarts the cooldown for the whole pending amount, and the only way on is the
distinct "Restart cooldown and unstake" button. /claim before the end answers with the time left and sends
nothing. `/boost add|remove <amount|all>` are the same offers for SOSO, registered here as sub-commands of
/boost with the router (handlers/boost.py answers /boost itself).
"""

from dataclasses import replace
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.delivery.quotes import RESTART_ACTION
from bot.services import Services
from bot.trading.stake import StakeKind, targets

KINDS = ("stake", "unstake", "claim")  # what a Refresh offers anew
from handlers.shared.confirm import STAKE_AGAIN, intent_arg, run_confirm
from handlers.shared.staking import offer, target_of


async def staking_command(kind: StakeKind, services: Services, caller: Caller, *, optional_amount: bool = False) -> Reply:
    """`/<kind> <index|SOSO> <amount|all>` (the amount optional for /claim): the offer."""
    args = caller.request.args
    if not (len(args) == 2 or (optional_amount and len(args) == 1)):
        raise UserError(f"error.{kind}.usage", valid=", ".join(target.symbol for target in targets(services.profile)))
    return await offer(services, caller, kind, target_of(services, args[0]), args[1] if len(args) == 2 else None)


async def restart(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The explicit "Restart cooldown and unstake"."""
    return await run_confirm(services, caller, intent_arg(args), acknowledged=True)


async def again(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Refresh of an expired staking offer: (kind, symbol, amount), offered anew in place."""
    if len(args) != 3 or args[0] not in KINDS:
        raise UserError("error.trade.unknown")
    kind, symbol, amount = args
    return replace(await offer(services, caller, kind, target_of(services, symbol), amount), edit=True)  # type: ignore[arg-type]


async def boost_action(kind: StakeKind, services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """`/boost add <amount|all>` stakes SOSO, `/boost remove <amount|all>` unstakes it (same cooldown warning)."""
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.boost"))
    if not args:
        raise UserError("error.amount.missing", unit="SOSO")
    return await offer(services, caller, kind, target_of(services, "SOSO"), args[0])


def register(router: Router, services: Services) -> None:
    router.command("stake", partial(staking_command, "stake", services), personal=True)
    router.command("unstake", partial(staking_command, "unstake", services), personal=True)
    router.command("claim", partial(staking_command, "claim", services, optional_amount=True), personal=True)
    router.action(RESTART_ACTION, partial(restart, services))
    router.action(STAKE_AGAIN, partial(again, services))
    if services.profile.soso_staking is not None:  # without SOSO staking, /boost refuses them as not available
        router.sub_command("boost", "add", partial(boost_action, "stake", services))
        router.sub_command("boost", "remove", partial(boost_action, "unstake", services))
