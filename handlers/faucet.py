"""/faucet (devnet only): test ETH, USDC and SOSO for the user's custodial wallet. Registered only when the
composition root provides a faucet (the one service a configuration may lack), so the command does not exist on
a real chain."""

from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Param, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.faucet import Faucet
from bot.services import Services


async def fund(services: Services, faucet: Faucet, caller: Caller) -> Reply:
    """Send the grant to the user's custodial wallet."""
    if caller.request.args:
        raise UserError("error.args.extra", usage=Msg("usage.faucet"))
    address = await services.wallets.address_of(caller.user_key)
    if address is None:
        raise UserError("error.wallet.none")
    grant = await faucet.fund(address)
    params: dict[str, Param] = {"eth": Amount(grant.eth), "usdc": Amount(grant.usdc, 2), "soso": Amount(grant.soso), "address": address}
    return Reply.of(
        Msg("faucet.sent.soso" if grant.soso > 0 else "faucet.sent", params),
        buttons=((Button(Msg("button.wallet"), "wallet.show"),),),
    )


async def pressed(services: Services, faucet: Faucet, caller: Caller, _: tuple[str, ...]) -> Reply:
    return await fund(services, faucet, caller)


def register(router: Router, services: Services) -> None:
    if services.faucet is None:  # a real chain: no /faucet at all
        return
    router.command("faucet", partial(fund, services, services.faucet), personal=True)
    router.action("faucet.run", partial(pressed, services, services.faucet))
