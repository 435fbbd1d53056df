"""/chart MAG7 [7d|30d|90d]: NAV per token and the pool price over the period, with the premium/discount below, as a
picture drawn from the samples the bot records itself (bot.market.history; drawn in an executor thread by
bot.market.navchart); before the job's first sample on a bot just started, /chart takes one itself. `/chart MAG7
weights`, or the Weights button under the picture: each constituent's weight now and before the last change of
composition the samples show."""

import asyncio
from decimal import Decimal
from functools import partial

from bot.chain.profile import IndexRef
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Pct, Reply, Usd, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.delivery.alerts.jobs import NAV_JOB
from bot.market.history import PERIODS, ordered
from bot.market.navchart import ChartLabels, render_nav_chart
from bot.services import Services

DEFAULT = "7d"
VIEWS = ", ".join([*PERIODS, "weights"])


def first_sample(services: Services) -> When:
    """When the next sample is due (the job's next run), at the latest one interval from now."""
    due = services.schedule.when(NAV_JOB)
    return When(int(due.timestamp()) if due is not None else services.navs.first_due())


def sampled(services: Services, typed: str) -> IndexRef:
    """The home chain's pool index `typed` names; any other is refused with the ones that are sampled."""
    valid = ", ".join(r.symbol for r in services.navs.indexes)
    found = services.find_indexes(typed)
    ref = next((r for r in found if r in services.navs.indexes), None)
    if ref is None and found:
        raise UserError("error.chart.not_sampled", index=found[0].symbol, valid=valid)
    if ref is None:
        raise UserError("error.index.unknown", value=typed[:24], valid=valid)
    return ref


async def nav_chart(services: Services, caller: Caller, ref: IndexRef, period: str) -> Reply:
    samples = await services.navs.period(ref, PERIODS[period])
    if not samples:  # a bot just started (the job's first run is an interval away): where NAV stands now, sampled now
        await services.navs.sample()
        samples = await services.navs.period(ref, PERIODS[period])
    if not samples:  # its NAV is partial (a constituent without a fresh price): nothing to sample yet
        raise UserError("error.chart.no_samples", index=ref.symbol, when=first_sample(services))
    say = partial(services.catalogs.render_msg, locale=caller.locale, escape=str)
    labels = ChartLabels(say(Msg("chart.title", {"index": ref.symbol, "period": period})), say(Msg("chart.nav")),
                         say(Msg("chart.pool")), say(Msg("chart.usd")), say(Msg("chart.premium")), caller.locale)
    png = await asyncio.get_running_loop().run_in_executor(None, render_nav_chart, samples, labels)
    last = samples[-1]
    caption = Msg("chart.caption", {"index": ref.symbol, "period": period, "nav": Usd(last.nav),
                                    "pool": Usd(last.pool) if last.pool is not None else "?",
                                    "premium": Pct(last.premium, signed=True) if last.premium is not None else "?",
                                    "at": When(last.at), "block": last.block})
    return Reply.of(caption, image=png, buttons=((Button(Msg("button.weights"), "chart.weights", (ref.symbol,)),),))


async def composition(services: Services, ref: IndexRef) -> Reply:
    found = await services.navs.composition(ref)
    if found is None:  # no sample yet: one now, as for the chart
        await services.navs.sample()
        found = await services.navs.composition(ref)
    if found is None:
        raise UserError("error.chart.no_samples", index=ref.symbol, when=first_sample(services))
    lines = [Msg("chart.weights.title", {"index": ref.symbol, "at": When(found.now_at)}, style="title")]
    before = found.before or {}
    for symbol in ordered(found.now, list(before)):
        now = Pct(found.now[symbol], 1) if symbol in found.now else Pct(Decimal(0), 1)
        if found.before is None:
            lines.append(Msg("chart.weights.line", {"symbol": symbol, "now": now}))
        else:
            was = Pct(before[symbol], 1) if symbol in before else Pct(Decimal(0), 1)
            lines.append(Msg("chart.weights.change", {"symbol": symbol, "now": now, "was": was}))
    if found.before_at is not None:
        lines.append(Msg("chart.weights.before", {"at": When(found.before_at)}))
    else:
        lines.append(Msg("chart.weights.unchanged", {"since": When(found.oldest_at)}))
    return Reply.of(*lines)


async def chart(services: Services, caller: Caller) -> Reply:
    """`/chart <index> [7d|30d|90d|weights]`, 7d when the period is left out."""
    args = caller.request.args
    if not args:
        raise UserError("error.chart.missing", valid=", ".join(r.symbol for r in services.navs.indexes), views=VIEWS)
    if len(args) > 2:
        raise UserError("error.args.extra", usage=Msg("usage.chart"))
    view = args[1].lower() if len(args) == 2 else DEFAULT
    if view != "weights" and view not in PERIODS:
        raise UserError("error.chart.period", value=args[1][:24], valid=VIEWS)
    ref = sampled(services, args[0])
    return await composition(services, ref) if view == "weights" else await nav_chart(services, caller, ref, view)


async def weights_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The Weights button under a chart: the composition, as a new message (a picture's message is not edited)."""
    if len(args) != 1:
        raise UserError("error.button.expired")
    return await composition(services, sampled(services, args[0]))


def register(router: Router, services: Services) -> None:
    router.command("chart", partial(chart, services))
    router.action("chart.weights", partial(weights_pressed, services))
