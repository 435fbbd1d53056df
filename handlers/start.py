"""/start: a welcome above the home screen (handlers.shared.home). `/start <code>` (Telegram's deep link sends
`/start ref_<code>`) names who invited the user; every /start is recorded (bot.points.referrals), and a code
that cannot be used is answered politely under the welcome, never instead of it."""

import logging
from functools import partial

from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.points.referrals import Joined
from bot.services import Services
from handlers.shared.home import Summaries, home_reply

log = logging.getLogger(__name__)

REFERRAL_NOTES = {
    "already_started": "start.ref.already", "unknown": "start.ref.unknown", "malformed": "start.ref.unknown",
    "self": "start.ref.self", "cycle": "start.ref.cycle",
}


async def referral(services: Services, caller: Caller) -> list[Msg]:
    """Record this /start with its code, if any; what to tell the user about the code."""
    points, args = services.points, caller.request.args
    try:
        joined: Joined | None = await points.referrals.start(caller.user_key, args[0] if args else None)
    except Exception:  # noqa: BLE001 - the welcome matters more than the referral
        log.exception("recording /start failed for user %s", caller.user_key)
        return []
    if joined == "joined":
        return [Msg("start.ref.joined", {"bonus": points.config.welcome_bonus})]
    return [Msg(REFERRAL_NOTES[joined])] if joined is not None else []


async def start(services: Services, summaries: Summaries, caller: Caller) -> Reply:
    """Greet the user and show the home screen."""
    welcome = Msg("start.title", style="title"), *await referral(services, caller), Msg("start.body", {"indexes": services.all_index_list()})
    return await home_reply(summaries, caller, *welcome)


def register(router: Router, services: Services) -> None:
    router.command("start", partial(start, services, Summaries(services)))
