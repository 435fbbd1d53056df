"""/timezone [IANA name]: show or set the time zone every time the bot shows is rendered in (default UTC)."""

import time
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Msg, Reply, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.timezones import EXAMPLES, canonical_zone


EXAMPLES_SHOWN = ", ".join(EXAMPLES)


async def timezone(services: Services, caller: Caller) -> Reply:
    """No argument: the current zone and the time there. `Asia/Shanghai` (any case): set it."""
    args = caller.request.args
    now = int(time.time())
    if not args:
        zone = await services.timezone(caller.user_key)
        return Reply.of(Msg("timezone.show", {"zone": zone, "now": When(now, zone), "examples": EXAMPLES_SHOWN}))
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.timezone"))
    chosen = canonical_zone(args[0])
    if chosen is None:
        raise UserError("error.timezone.unknown", value=args[0][:64], examples=EXAMPLES_SHOWN)
    await services.settings.set_timezone(caller.user_key, chosen)
    await services.digests.reschedule(caller.user_key)  # the digest comes at the same local time in the new zone
    return Reply.of(Msg("timezone.set", {"zone": chosen, "now": When(now, chosen)}))


def register(router: Router, services: Services) -> None:
    router.command("timezone", partial(timezone, services), personal=True)
