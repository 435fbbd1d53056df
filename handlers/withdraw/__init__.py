"""/withdraw: typed on one line (`/withdraw USDC 10 0x… 123456`, handlers.withdraw.typed) or, without arguments,
guided step by step (handlers.withdraw.guided): asset, amount, address, a summary, the PIN, Confirm. Typed in full
but for the PIN (`/withdraw USDC 10 0x…`, or with a chain named), it goes on from the guided form's summary and PIN
question."""

from functools import partial

from bot.core.messages import Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.withdraw import guided, typed


def without_pin(args: tuple[str, ...]) -> bool:
    """Asset, amount, address and maybe a chain, and no word of digits but the amount: nothing that may be a PIN (a
    PIN typed in the address's place is answered with the usage by the one-line form, never echoed as an address)."""
    return len(args) in (3, 4) and not any(word.isdigit() for i, word in enumerate(args) if i != 1)


async def withdraw(services: Services, caller: Caller) -> Reply:
    """Guided when typed alone, else the one-line form."""
    args = caller.request.args
    if not args:
        return await guided.start(services, caller)
    if len(args) == 5 and not args[3]:  # Discord's /withdraw with its chain option but not its pin option
        args = (*args[:3], args[4])
    if without_pin(args):
        return await guided.typed_without_pin(services, caller, args)
    return await typed.withdraw(services, caller)


def register(router: Router, services: Services) -> None:
    router.command("withdraw", partial(withdraw, services), private_only=True, secret=typed.secret_in)
    guided.register(router, services)
