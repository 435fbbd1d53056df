"""/leaderboard: the epoch's top 20, each by the name they chose with /name or an anonymous tag (never a platform
handle or display name), and the asker's own place when they are not among them. /name sets, clears (`off`) or
shows the name the user appears under: unique, and never a look-alike of another user's name, of the bot's name
or of a role word (bot.points.names)."""

from functools import partial
import time

from bot.core.errors import UserError
from bot.core.messages import Msg, Param, Reply, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.points.ledger import Leader
from bot.points.names import name_key, refuse_reserved
from bot.points.public import anonymous_tag, leaderboard_name, next_snapshot, today
from bot.services import Services
from handlers.shared.points import shown

TOP = 20


def appears_as(user_id: int, name: str | None) -> Param:
    return name if name is not None else Msg("leaderboard.anonymous", {"tag": anonymous_tag(user_id)})


def rows(leaders: list[Leader], me: int) -> list[Msg]:
    """Two lines per leader: rank and the name they appear under (the asker's marked), then their points."""
    lines: list[Msg] = []
    for leader in leaders:  # a card each: the rank and name, then the points (a long name would push them off a phone)
        key = "leaderboard.row.you" if leader.user_id == me else "leaderboard.row"
        lines += [Msg(key, {"rank": leader.rank, "name": appears_as(leader.user_id, leader.name)}),
                  Msg("leaderboard.points", {"points": shown(leader.points)})]
    return lines


async def leaderboard(services: Services, caller: Caller) -> Reply:
    """The top of the current epoch, then the asker's rank if they are below it."""
    if caller.request.args:
        raise UserError("error.args.extra", usage=Msg("usage.leaderboard"))
    points = services.points
    now = time.time()
    epoch = points.config.epoch_of(today(now)).name
    leaders = await points.ledger.leaders(epoch, TOP)
    lines = [Msg("leaderboard.title", {"epoch": epoch}, style="title")]
    if not leaders:
        return Reply.of(*lines, Msg("leaderboard.empty", {"when": When(next_snapshot(points.config, now))}))
    lines += rows(leaders, caller.user_key)
    if all(leader.user_id != caller.user_key for leader in leaders):
        mine = await points.ledger.standing(caller.user_key, epoch)
        lines.append(Msg("leaderboard.you", {"rank": mine.rank, "ranked": mine.ranked, "points": shown(mine.points)})
                     if mine.rank is not None else Msg("leaderboard.you.none"))
    return Reply.of(*lines, Msg("leaderboard.hint"))


async def name(services: Services, caller: Caller) -> Reply:
    """No argument: how the user appears. `off`: anonymous again. Anything else: the new name, if valid."""
    args, users = caller.request.args, services.users
    if not args:
        current = await users.leaderboard_name(caller.user_key)
        return Reply.of(Msg("name.show", {"name": appears_as(caller.user_key, current)}),
                        Msg("name.hint.off" if current is not None else "name.hint.set"))
    if len(args) == 1 and args[0].lower() == "off":
        await users.set_leaderboard_name(caller.user_key, None)
        return Reply.of(Msg("name.cleared", {"name": appears_as(caller.user_key, None)}))
    chosen = leaderboard_name(" ".join(args))
    refuse_reserved(chosen, services.points.bot_names)
    await users.key_leaderboard_names(name_key)
    if not await users.set_leaderboard_name(caller.user_key, chosen, name_key(chosen)):
        raise UserError("error.name.taken", name=chosen)
    return Reply.of(Msg("name.set", {"name": chosen}))


def register(router: Router, services: Services) -> None:
    router.command("leaderboard", partial(leaderboard, services))
    router.command("name", partial(name, services))
