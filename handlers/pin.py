"""/pin: `/pin <new>` sets the PIN that guards export and withdraw, `/pin <old> <new>` changes it, `/pin`
says which applies. Private only; the router deletes every message carrying a PIN where the platform allows."""

from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services


async def change(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    if len(args) == 1:
        await services.pins.set_pin(caller.user_key, args[0])
        return Reply.of(Msg("pin.set"))
    await services.pins.set_pin(caller.user_key, args[1], old=args[0])
    return Reply.of(Msg("pin.changed"))


async def pin(services: Services, caller: Caller) -> Reply:
    """Set or change the PIN; never echoes one."""
    args = caller.request.args
    if len(args) > 2:
        raise UserError("error.args.extra", usage=Msg("usage.pin"))
    if not args:
        has = await services.pins.has_pin(caller.user_key)
        return Reply.of(Msg("pin.status.set" if has else "pin.status.unset"))
    return await change(services, caller, args)


def secret_in(args: tuple[str, ...]) -> str | None:
    """Every word of /pin is a PIN."""
    return "pin" if args else None


def register(router: Router, services: Services) -> None:
    router.command("pin", partial(pin, services), private_only=True, secret=secret_in)
