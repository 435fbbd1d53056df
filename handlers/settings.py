"""Settings in the home menu, and /presets [amounts...]: the Buy screen's preset amounts, in USDC.

`/presets 10 20 50 100` sets up to four amounts (cents at most, each above zero and within the trade limit);
`/presets` alone shows them. Settings' Buy amounts button asks for them instead (the user's next message, read as
the words after `/presets`). Each amount is read as amounts are in the user's language (bot.core.amounts). Bad input
is answered with what was wrong and changes nothing (a refused answer is asked for again).
"""

from decimal import Decimal
from functools import partial

from bot.core.amounts import parse_amount
from bot.core.errors import UserError
from bot.core.messages import Ask, Button, Msg, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.shared.nav import screen

MAX_PRESETS = 4
CENTS = 2  # a preset is whole cents at most


def shown(amounts: tuple[Decimal, ...]) -> str:
    return ", ".join(format(amount, "f") for amount in amounts)


def parse_presets(words: tuple[str, ...], maximum: Decimal, locale: str) -> tuple[Decimal, ...]:
    """The amounts typed, each read as amounts are in the user's language (`parse_amount`: where a comma is the decimal
    mark `1,5` is 1.5 and `1.500` is refused as ambiguous); the first fault refuses them all."""
    if len(words) > MAX_PRESETS:
        raise UserError("error.presets.count", max=MAX_PRESETS)
    amounts = []
    for word in words:
        try:
            amounts.append(parse_amount(word.removeprefix("$"), decimals=CENTS, maximum=maximum, unit="USDC", locale=locale))
        except UserError as err:
            if err.key == "error.amount.ambiguous":
                raise
            if err.key in ("error.amount.zero", "error.amount.negative", "error.amount.too_large"):
                raise UserError("error.presets.range", value=word[:16], max=Usd(maximum, 0)) from None
            if err.key == "error.amount.too_precise":
                raise UserError("error.presets.precision", value=word[:16]) from None
            raise UserError("error.presets.format", value=word[:16]) from None
    return tuple(amounts)


async def _set_presets(services: Services, caller: Caller, words: tuple[str, ...]) -> Reply:
    amounts = parse_presets(words, services.limits.max_usdc, caller.locale)
    await services.settings.set_buy_presets(caller.user_key, amounts)
    return Reply.of(Msg("presets.set", {"amounts": shown(amounts)}))


async def presets(services: Services, caller: Caller) -> Reply:
    """Show the presets, or set them."""
    args = tuple(word for arg in caller.request.args for word in arg.split())  # Discord gives them as one option
    if not args:
        current = await services.settings.get_buy_presets(caller.user_key)
        return Reply.of(Msg("presets.show", {"amounts": shown(current), "max": MAX_PRESETS}))
    return await _set_presets(services, caller, args)


async def settings_menu(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    current = await services.settings.get_buy_presets(caller.user_key)
    buttons = ((Button(Msg("button.presets"), "menu.settings.presets"), Button(Msg("button.language"), "lang.menu")),)
    return screen(Reply.of(Msg("menu.settings.title", style="title"), Msg("presets.show", {"amounts": shown(current), "max": MAX_PRESETS}),
                           buttons=buttons))


async def ask_presets(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = True) -> Reply:
    """The Settings screen's Buy amounts: asked for (the user's next message), as they would follow `/presets`."""
    current = await services.settings.get_buy_presets(caller.user_key)
    reply = Reply.of(Msg("menu.custom.presets", {"amounts": shown(current), "max": MAX_PRESETS}),
                     ask=Ask("menu.presets", (), Msg("prompt.field.presets")))
    return screen(reply, "menu.settings") if edit else reply


async def presets_answered(services: Services, caller: Caller, text: str, _: tuple[str, ...]) -> Reply:
    """The amounts typed, read and checked exactly as `/presets <amounts>` reads them; none at all is refused."""
    words = tuple(text.split())
    if not words:
        raise UserError("error.presets.format", value="")
    return await _set_presets(services, caller, words)


def register(router: Router, services: Services) -> None:
    router.command("presets", partial(presets, services), personal=True)
    router.action("menu.settings", partial(settings_menu, services), personal=True)
    router.action("menu.settings.presets", partial(ask_presets, services), personal=True)
    router.prompt("menu.presets", partial(presets_answered, services), partial(ask_presets, services, edit=False))
