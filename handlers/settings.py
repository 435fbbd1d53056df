"""Settings in the home menu, and /presets [amounts...]: the Buy screen's preset amounts, in USDC.

`/presets 10 20 50 100` sets up to four amounts (cents at most, each above zero and within the trade limit);
`/presets` alone shows them. Bad input is answered with what was wrong and changes nothing.
"""

import re
from decimal import Decimal
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.shared.nav import custom_amount, screen

MAX_PRESETS = 4
_NUMBER = re.compile(r"^\$?-?[0-9]{1,12}(?:\.[0-9]{1,12})?$")


def shown(amounts: tuple[Decimal, ...]) -> str:
    return ", ".join(format(amount, "f") for amount in amounts)


def parse_presets(words: tuple[str, ...], maximum: Decimal) -> tuple[Decimal, ...]:
    """The amounts typed, each checked; the first fault refuses them all."""
    if len(words) > MAX_PRESETS:
        raise UserError("error.presets.count", max=MAX_PRESETS)
    amounts = []
    for word in words:
        if not _NUMBER.match(word):
            raise UserError("error.presets.format", value=word[:16])
        amount = Decimal(word.lstrip("$"))
        if amount <= 0 or amount > maximum:
            raise UserError("error.presets.range", value=word[:16], max=Usd(maximum, 0))
        if -amount.as_tuple().exponent > 2:  # type: ignore[operator]
            raise UserError("error.presets.precision", value=word[:16])
        amounts.append(amount)
    return tuple(amounts)


async def presets(services: Services, caller: Caller) -> Reply:
    """Show the presets, or set them."""
    args = tuple(word for arg in caller.request.args for word in arg.split())  # Discord gives them as one option
    if not args:
        current = await services.settings.get_buy_presets(caller.user_key)
        return Reply.of(Msg("presets.show", {"amounts": shown(current), "max": MAX_PRESETS}))
    amounts = parse_presets(args, services.limits.max_usdc)
    await services.settings.set_buy_presets(caller.user_key, amounts)
    return Reply.of(Msg("presets.set", {"amounts": shown(amounts)}))


async def settings_menu(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    current = await services.settings.get_buy_presets(caller.user_key)
    buttons = ((Button(Msg("button.presets"), "menu.settings.presets"), Button(Msg("button.language"), "lang.menu")),)
    return screen(Reply.of(Msg("menu.settings.title", style="title"), Msg("presets.show", {"amounts": shown(current), "max": MAX_PRESETS}),
                           buttons=buttons))


async def presets_hint(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    return custom_amount("/presets 25 50 100 250", "menu.settings")


def register(router: Router, services: Services) -> None:
    router.command("presets", partial(presets, services), personal=True)
    router.action("menu.settings", partial(settings_menu, services), personal=True)
    router.action("menu.settings.presets", partial(presets_hint, services))
