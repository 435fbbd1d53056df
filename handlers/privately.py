"""`/start private`: the deep link a group shows a user the bot may not write to yet (they never started it).

A personal command asked in a group is answered in the user's private chat (bot.core.router, `Aside`); Telegram
lets a bot write there only once the user started it, so the group gets `t.me/<bot>?start=private` instead, and
this says, once they pressed Start, that their answers can come here now. The start is recorded as /start's is.
"""

from __future__ import annotations

from functools import partial

from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services

WORD = "private"  # the deep link's payload: t.me/<bot>?start=private


async def started(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Record the start (no invite code) and say that private answers can come now."""
    await services.points.referrals.start(caller.user_key, None)
    return Reply.of(Msg("private.started"))


def register(router: Router, services: Services) -> None:
    router.sub_command("start", WORD, partial(started, services))
