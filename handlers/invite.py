"""/invite: the user's invite code (one code for Telegram and Discord) and how friends use it: a t.me deep link on
Telegram, `/start <code>` and a button that sends the bare code (easy to copy) on Discord, the usage on the
console. /referrals: how many friends joined and qualified, and the points earned from them (bot.points)."""

import time
from functools import partial

from bot.core.messages import Button, Msg, Pct, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.points.public import today
from bot.services import Services
from handlers.shared.points import shown


async def invite(services: Services, caller: Caller) -> Reply:
    """The code, the platform's way to pass it on, and what inviting earns."""
    points = services.points
    code = await points.referrals.code_of(caller.user_key)
    platform = caller.request.platform
    lines = [Msg("invite.title", style="title"), Msg("invite.code", {"code": code})]
    link = points.invite_links.get(platform)
    buttons: tuple[tuple[Button, ...], ...] = ()
    if platform == "telegram" and link:
        lines.append(Msg("invite.link.telegram", {"link": link.replace("{code}", code)}))
    else:
        lines.append(Msg("invite.usage", {"code": code}))
    if platform == "discord":
        if link:
            lines.append(Msg("invite.link.discord", {"link": link}))
        buttons = ((Button(Msg("button.invite_code"), "invite.code"),),)
    lines += [Msg("invite.both"), Msg("invite.rewards", {"share": Pct(points.config.referral_share, 0),
                                                         "bonus": shown(points.config.welcome_bonus)})]
    return Reply.of(*lines, buttons=buttons)


async def bare_code(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The code alone in its own message, to long-press and copy."""
    return Reply.of(Msg("invite.bare", {"code": await services.points.referrals.code_of(caller.user_key)}, style="code"))


async def referrals(services: Services, caller: Caller) -> Reply:
    """Friends joined and active, points from them this epoch and in all, and the share."""
    points = services.points
    epoch = points.config.epoch_of(today(time.time())).name
    got = await points.ledger.referral_summary(caller.user_key, epoch)
    return Reply.of(
        Msg("referrals.title", style="title"),
        Msg("referrals.friends", {"joined": got.joined, "active": got.active}),
        Msg("referrals.points", {"epoch": epoch, "epoch_points": shown(got.epoch_points), "total": shown(got.total_points)}),
        Msg("referrals.share", {"share": Pct(points.config.referral_share, 0)}),
    )


def register(router: Router, services: Services) -> None:
    router.command("invite", partial(invite, services))
    router.command("referrals", partial(referrals, services), personal=True)
    router.action("invite.code", partial(bare_code, services))
