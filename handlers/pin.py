"""/pin: `/pin <new>` sets the PIN that guards export and withdraw, `/pin <old> <new>` changes it, `/pin`
says which applies. Private only; the router deletes every message carrying a PIN where the platform allows."""

from bot.core.errors import UserError
from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services


def register(router: Router, services: Services) -> None:
    pins = services.pins

    async def change(caller: Caller, args: tuple[str, ...]) -> Reply:
        if len(args) == 1:
            await pins.set_pin(caller.user_key, args[0])
            return Reply.of(Msg("pin.set"))
        await pins.set_pin(caller.user_key, args[1], old=args[0])
        return Reply.of(Msg("pin.changed"))

    async def pin(caller: Caller) -> Reply:
        """Set or change the PIN; never echoes one."""
        args = caller.request.args
        if len(args) > 2:
            raise UserError("error.args.extra", usage=Msg("usage.pin"))
        if not args:
            has = await pins.has_pin(caller.user_key)
            return Reply.of(Msg("pin.status.set" if has else "pin.status.unset"))
        return await change(caller, args)

    router.command("pin", pin, private_only=True, secret=lambda args: "pin" if args else None)
