"""/slippage [pct]: show or set how far the price may move between the quote and the swap (default 0.5 %)."""

import re
from decimal import Decimal
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Msg, Pct, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services

_PCT = re.compile(r"^[0-9]{1,2}(?:\.[0-9]{1,2})?%?$")


def maximum(services: Services) -> Pct:
    return Pct(Decimal(services.desks.home.settings.max_slippage_bps).scaleb(-4))


async def slippage(services: Services, caller: Caller) -> Reply:
    """No argument: the current tolerance. `0.5` or `0.5%`: set it (0.01 % steps, up to the cap)."""
    args = caller.request.args
    if not args:
        bps = await services.desks.home.slippage_bps(caller.user_key)
        return Reply.of(Msg("slippage.show", {"pct": Pct(Decimal(bps).scaleb(-4)), "max": maximum(services)}))
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.slippage"))
    text = args[0].strip()
    if not _PCT.match(text):
        raise UserError("error.slippage.format", value=text[:16], max=maximum(services))
    bps = int(Decimal(text.rstrip("%")) * 100)
    if bps <= 0 or bps > services.desks.home.settings.max_slippage_bps:
        raise UserError("error.slippage.range", max=maximum(services))
    await services.settings.set_slippage_bps(caller.user_key, bps)
    return Reply.of(Msg("slippage.set", {"pct": Pct(Decimal(bps).scaleb(-4))}))


def register(router: Router, services: Services) -> None:
    router.command("slippage", partial(slippage, services), personal=True)
