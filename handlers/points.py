"""/points: the user's balance this epoch and all time, their rank, the last credited day by source, and when
the next snapshot is. `/points chart`: their daily points over the epoch as a picture (bot.points.chart,
drawn in an executor thread so the event loop keeps serving)."""

import asyncio
import time
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Count, Day, Msg, Reply, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.points import Points
from bot.points.chart import render_chart
from bot.points.ledger import Standing
from bot.points.public import next_snapshot, today
from bot.services import Services
from handlers.shared.points import shown

SOURCES = {  # shown in this order, only when non-zero
    "held": "points.source.held", "staked": "points.source.staked", "locked": "points.source.locked",
    "boost": "points.source.boost", "referral": "points.source.referral", "bonus": "points.source.bonus",
    "correction": "points.source.correction",
}


def next_line(points: Points) -> Msg:
    return Msg("points.next", {"when": When(next_snapshot(points.config, time.time()))})


def standing_lines(standing: Standing) -> list[Msg]:
    """This epoch's points and all time's, one a line (each fits a phone), then the rank."""
    rank = (Msg("points.rank", {"rank": standing.rank, "ranked": standing.ranked}) if standing.rank is not None
            else Msg("points.rank.none"))
    return [Msg("points.balance", {"epoch": shown(standing.points)}), Msg("points.all_time", {"all_time": shown(standing.all_time)}), rank]


async def summary(services: Services, points: Points, caller: Caller) -> Reply:
    epoch = points.config.epoch_of(today(time.time())).name
    standing = await points.ledger.standing(caller.user_key, epoch)
    if standing.all_time == 0 and standing.points == 0:
        return Reply.of(Msg("points.none"), next_line(points))
    lines = [Msg("points.title", {"epoch": epoch}, style="title"), *standing_lines(standing)]
    day = await points.ledger.last_credited_day()
    if day is not None:
        got = await points.ledger.day_breakdown(caller.user_key, day)
        parts = [Msg(key, {"points": shown(got[source])}) for source, key in SOURCES.items() if got.get(source)]
        lines.append(Msg("points.day", {"day": Day(day)}) if parts else Msg("points.day.nothing", {"day": Day(day)}))
        lines += parts
    return Reply.of(*lines, next_line(points))


async def chart(services: Services, points: Points, caller: Caller) -> Reply:
    epoch = points.config.epoch_of(today(time.time())).name
    days = await points.ledger.daily(caller.user_key, epoch)
    if not days:
        return Reply.of(Msg("points.chart.none"), next_line(points))

    title, x_axis, y_axis = (services.catalogs.render_msg(Msg(key, {"epoch": epoch}), caller.locale, str)
                             for key in ("points.chart.title", "points.chart.x", "points.chart.y"))
    draw = partial(render_chart, days, title, x_axis, y_axis)
    png = await asyncio.get_running_loop().run_in_executor(None, draw)
    return Reply.of(Msg("points.chart.caption", {"epoch": epoch, "count": Count(len(days))}), image=png)


async def points_command(services: Services, caller: Caller) -> Reply:
    """No argument: the summary. `chart`: the picture."""
    args = caller.request.args
    if not args:
        return await summary(services, services.points, caller)
    if len(args) == 1 and args[0].lower() == "chart":
        return await chart(services, services.points, caller)
    raise UserError("error.args.extra", usage=Msg("usage.points"))


def register(router: Router, services: Services) -> None:
    router.command("points", partial(points_command, services), personal=True)
