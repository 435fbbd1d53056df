"""/pin: `/pin <new>` sets the PIN that guards export and withdraw, `/pin <old> <new>` changes it; `/pin` alone asks
(the current PIN if there is one, then the new one twice: a mismatch says so). Private only; the router deletes every
message carrying a PIN where the platform allows. A PIN kept between two questions is sealed (PinGuard.seal)."""

from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Ask, Button, Count, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.core.secrets import PIN_DIGITS, is_pin
from bot.services import Services
from handlers.shared.nav import nav_row
from wallets.pin import validate_pin

FIELD = Msg("prompt.field.pin")
NEW = Msg("pin.ask.new", {"min": PIN_DIGITS[0], "count": Count(PIN_DIGITS[1])})


async def change(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """`/pin <new>` sets; `/pin <old> <new>` changes. With no PIN yet, two words are the new PIN and its repeat (what
    a user choosing one types; they were refused as a change of a PIN that does not exist)."""
    if len(args) == 2 and not await services.pins.has_pin(caller.user_key):
        if args[0] != args[1]:
            raise UserError("pin.mismatch")
        args = args[:1]
    if len(args) == 1:
        await services.pins.set_pin(caller.user_key, args[0])
        return Reply.of(Msg("pin.set"))
    await services.pins.set_pin(caller.user_key, args[1], old=args[0])
    return Reply.of(Msg("pin.changed"))


async def pin(services: Services, caller: Caller) -> Reply:
    """Set or change the PIN; never echoes one. Alone: asked step by step."""
    args = caller.request.args
    if len(args) > 2:
        raise UserError("error.args.extra", usage=Msg("usage.pin"))
    if not args:
        return await ask(services, caller, ())
    return await change(services, caller, args)


async def ask(services: Services, caller: Caller, state: tuple[str, ...]) -> Reply:
    """The next question: the current PIN (when there is one), the new one, the new one again. State: the
    sealed current PIN ("" when none), then the sealed new one."""
    if not state:
        has = await services.pins.has_pin(caller.user_key)
        if has:
            return Reply.of(Msg("pin.ask.current"), ask=Ask("pin.current", (), FIELD, secret="pin"))
        return Reply.of(NEW, ask=Ask("pin.new", ("",), FIELD, secret="pin"))
    if len(state) == 1:
        return Reply.of(NEW, ask=Ask("pin.new", state, FIELD, secret="pin"))
    return Reply.of(Msg("pin.ask.again"), ask=Ask("pin.again", state, FIELD, secret="pin"))


def _shaped(text: str) -> str:
    if not is_pin(text):
        raise UserError("error.pin.length", min=PIN_DIGITS[0], count=Count(PIN_DIGITS[1]))
    return text


async def answer(step: str, services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """One answer: the current PIN is checked at once (a wrong one counts as any try), the new one checked for
    shape and strength, the repeat compared, and only then the PIN set."""
    pins, user = services.pins, caller.user_key
    if step == "current":
        await pins.check_pin(user, _shaped(text))
        return await ask(services, caller, (pins.seal(user, text),))
    if step == "new":
        validate_pin(text)
        return await ask(services, caller, (state[0], pins.seal(user, text)))
    if text != pins.unseal(user, state[1]):
        raise UserError("pin.mismatch")  # asked again: the repeat
    old = pins.unseal(user, state[0]) if state[0] else None
    await pins.set_pin(user, text, old=old)
    return Reply.of(Msg("pin.changed" if old else "pin.set"), buttons=(nav_row(),))  # on to Home, nothing to type


async def again(step: str, services: Services, caller: Caller, state: tuple[str, ...]) -> Reply:
    """A refused answer's question again; a mismatched repeat asks the new PIN anew, not only the repeat."""
    return await ask(services, caller, state[:1] if step == "again" else state)


def secret_in(args: tuple[str, ...]) -> str | None:
    """Every word of /pin is a PIN."""
    return "pin" if args else None


async def pressed(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """Choose a PIN (the button under a new wallet): asked as `/pin` alone asks."""
    return await ask(services, caller, ())


def register(router: Router, services: Services) -> None:
    router.command("pin", partial(pin, services), private_only=True, secret=secret_in)
    router.action("pin.ask", partial(pressed, services), private_only=True)
    for refusal in ("error.pin.required", "error.pin.not_set"):  # wherever a missing PIN stops the user
        router.remedy(refusal, Button(Msg("button.pin_set"), "pin.ask"))
    for step in ("current", "new", "again"):
        router.prompt(f"pin.{step}", partial(answer, step, services), partial(again, step, services),
                      shown=partial(ask, services))
