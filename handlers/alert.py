"""/alert: price alerts on an index, sent to the user's private chat.

    /alert                          your alerts, each with a Delete button
    /alert MAG7 above 105           when NAV per token reaches $105 or more
    /alert MAG7 below 95.5          when NAV per token falls to $95.50 or less
    /alert MAG7 premium 2           when the Uniswap price is 2 % or more above NAV
    /alert MAG7 premium -1.5        when it is 1.5 % or more below NAV (a discount)
    /alert delete 3                 delete alert #3

`/alert` alone lists them with a New alert button, which asks step by step: the index, the condition (buttons),
then the line (typed: the next message answers).

`above` / `below` watch the index's value per token: NAV from its constituents' price feeds (on the devnet,
`indexbot devnet price` moves it; the pool price does not follow). `premium` watches the Uniswap pool price's
premium (positive) or discount (negative) to NAV. Each reply shows the pool price beside NAV.

An alert fires once when its line is crossed and re-arms only after the value has moved back past the line by a
margin (config `[alerts]`: 1 % of the line for USD, 0.25 percentage points for premium); the message says
where it re-arms. One made while its line is already crossed fires at the next crossing. Bad input changes
nothing and says what is valid: the index must exist, a USD line is positive with at most `usd_decimals`
decimals and below `max_usd`, a premium is between -`max_premium_pct` and +`max_premium_pct` percent and not
0, and a user has at most `max_per_user` alerts. The checks themselves run in bot.delivery.alerts.prices.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from bot.delivery.alerts.prices import PriceAlerts, delete_button, describe, now_line, rearm_level, shown_level, upward
from bot.core.amounts import parse_amount, parse_id
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Count, Msg, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.storage.market_alerts import AlertKind, PriceAlert
from handlers.shared.nav import nav_row

USAGE = Msg("alert.usage")
CONDITIONS: tuple[AlertKind, ...] = ("above", "below", "premium")
PERCENT_DECIMALS = 2
MAX_ID_CHARS = 12


def parse_usd(raw: str, alerts: PriceAlerts, locale: str) -> Decimal:
    """A positive USD line (`105`, `$95.5`) with at most `usd_decimals` decimals, below `max_usd`."""
    cfg = alerts.config
    value = parse_amount(raw.removeprefix("$"), decimals=cfg.usd_decimals, maximum=Decimal("Infinity"), unit="USD",
                         locale=locale)
    if value >= cfg.max_usd:
        raise UserError("alert.error.usd_too_large", maximum=Usd(cfg.max_usd, 0))
    return value


def parse_percent(raw: str, alerts: PriceAlerts, locale: str) -> Decimal:
    """A premium line in percent (`2`, `-1.5`, `+0.75%`): between -max and +max, not 0, at most 2 decimals. The
    number is read as amounts are, by the user's decimal mark (`parse_amount`): `1,5` is 1.5 where a comma is the
    decimal mark, and `1.500` is refused there as ambiguous rather than read as 1.5."""
    limit = Amount(alerts.config.max_premium_pct, 2)
    text = raw.strip()
    body = text.removesuffix("%")
    sign = -1 if body.startswith("-") else 1
    try:
        value = parse_amount(body[1:] if body[:1] in "+-" else body, decimals=PERCENT_DECIMALS,
                             maximum=alerts.config.max_premium_pct, unit="%", locale=locale)
    except UserError as err:
        if err.key == "error.amount.ambiguous":
            raise
        if err.key == "error.amount.too_precise":
            raise UserError("alert.error.percent_precise", count=Count(PERCENT_DECIMALS)) from None
        if err.key in ("error.amount.zero", "error.amount.too_large"):
            raise UserError("alert.error.percent_range", max=limit) from None
        raise UserError("alert.error.percent_format", value=text[:24], max=limit) from None
    return sign * value


def alert_line(alert: PriceAlert) -> Msg:
    state = "alert.state.armed" if alert.armed else "alert.state.waiting"
    return Msg("alert.list.item", {"id": alert.id, "line": describe(alert), "state": Msg(state)})


async def show(alerts: PriceAlerts, caller: Caller, edit: bool = False) -> Reply:
    mine = await alerts.of_user(caller.user_key)
    new = (Button(Msg("button.alert_new"), "alert.new"),)
    if not mine:
        return Reply.of(Msg("alert.list.empty", {"usage": USAGE}), Msg("alert.semantics"), buttons=(new,), edit=edit)
    lines = [Msg("alert.list.title", {"count": len(mine), "max": alerts.config.max_per_user}, style="title")]
    lines += [alert_line(a) for a in mine]
    lines.append(Msg("alert.semantics"))
    return Reply.of(*lines, buttons=(*((delete_button(a.id),) for a in mine), new), edit=edit)


async def delete(alerts: PriceAlerts, caller: Caller, typed: str) -> Reply:
    shown = typed[:MAX_ID_CHARS]
    alert_id = parse_id(typed, MAX_ID_CHARS)
    if alert_id is None:
        raise UserError("alert.error.id", value=shown)
    mine = {a.id: a for a in await alerts.of_user(caller.user_key)}
    if alert_id not in mine or not await alerts.delete(caller.user_key, alert_id):
        raise UserError("alert.error.not_found", id=alert_id)
    return Reply.of(Msg("alert.deleted", {"id": alert_id, "line": describe(mine[alert_id])}))


async def create(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    alerts = services.price_alerts
    ref = services.find_index(args[0])
    if ref is None:
        raise UserError("error.index.unknown", value=args[0][:24], valid=services.index_list())
    if len(args) < 3:
        raise UserError("alert.error.usage", usage=USAGE)
    if len(args) > 3:
        raise UserError("error.args.extra", usage=USAGE)
    condition = args[1].lower()
    if condition not in CONDITIONS:
        raise UserError("alert.error.condition", value=args[1][:24], valid=", ".join(CONDITIONS))
    kind: AlertKind = condition
    threshold = parse_percent(args[2], alerts, caller.locale) if kind == "premium" else parse_usd(args[2], alerts, caller.locale)
    alert, state, block = await alerts.add(caller.user_key, ref.symbol, kind, threshold)
    rearm = shown_level(alert, rearm_level(alert, alerts.config))
    lines = [
        Msg("alert.created", {"id": alert.id, "line": describe(alert)}, style="title"),
        Msg("alert.watches.nav" if kind != "premium" else "alert.watches.premium"),
        now_line(state, block),
        Msg("alert.rule.down" if upward(alert) else "alert.rule.up", {"level": rearm}),
    ]
    if not alert.armed:
        lines.append(Msg("alert.already_crossed"))
    if not caller.request.is_private:
        lines.append(await reaches(services, caller, lines))
    return Reply.of(*lines, buttons=((delete_button(alert.id),), nav_row()))  # Home: on, without typing


async def reaches(services: Services, caller: Caller, lines: list[Msg]) -> Msg:
    """Asked in a group: the alert's confirmation goes to the user's private chat too, so a closed one (no
    private chat yet on Telegram, DMs closed on Discord) is told now rather than by an alert that never comes."""
    delivery = await services.outbox.reach(caller.user_key, Reply.of(*lines, Msg("alert.arrives_here")))
    return Msg("alert.dm_closed") if delivery is not None and delivery.status == "blocked" else Msg("alert.goes_private")


async def alert_command(services: Services, caller: Caller) -> Reply:
    """No argument: the list. `delete <id>`: delete one. `<index> above|below <usd>` or `<index> premium <pct>`."""
    args = caller.request.args
    if not args:
        return await show(services.price_alerts, caller)
    if args[0].lower() == "delete":
        if len(args) != 2:
            raise UserError("alert.error.delete_usage")
        return await delete(services.price_alerts, caller, args[1])
    return await create(services, caller, args)


async def delete_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    return await delete(services.price_alerts, caller, args[0] if args else "")


async def list_pressed(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """The list, in place of the pressed message (the Price alerts button of /alerts)."""
    return await show(services.price_alerts, caller, edit=True)


async def new_pressed(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """New alert, step 1: which index (a button each)."""
    buttons = tuple((Button(Msg("alert.button.index", {"index": ref.symbol}), "alert.index", (ref.symbol,)),)
                    for ref in services.profile.indexes)
    return Reply.of(Msg("alert.ask.index"), buttons=buttons, edit=True)


async def index_pressed(caller: Caller, args: tuple[str, ...]) -> Reply:
    """Step 2: which condition (a button each)."""
    buttons = tuple((Button(Msg(f"alert.button.{kind}"), "alert.condition", (args[0], kind)),) for kind in CONDITIONS)
    return Reply.of(Msg("alert.ask.condition", {"index": args[0]}), buttons=buttons, edit=True)


async def ask_line(caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """Step 3: the line, typed (USD for above and below, percent for premium)."""
    usd = state[1] != "premium"
    return Reply.of(Msg("alert.ask.usd" if usd else "alert.ask.premium", {"index": state[0], "condition": Msg(f"alert.button.{state[1]}")}),
                    edit=edit, ask=Ask("alert.line", state, Msg("prompt.field.usd" if usd else "prompt.field.percent")))


async def condition_pressed(caller: Caller, args: tuple[str, ...]) -> Reply:
    if len(args) != 2 or args[1] not in CONDITIONS:
        raise UserError("error.button.expired")
    return await ask_line(caller, args, edit=True)


async def line_answered(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """The line typed: the alert made exactly as `/alert <index> <condition> <line>` makes it."""
    return await create(services, caller, (*state, text.strip().split()[0] if text.strip() else ""))


def register(router: Router, services: Services) -> None:
    router.command("alert", partial(alert_command, services), personal=True)
    router.action("alert.delete", partial(delete_pressed, services))
    router.action("alert.new", partial(new_pressed, services))
    router.action("alert.list", partial(list_pressed, services), personal=True)
    router.action("alert.index", index_pressed)
    router.action("alert.condition", condition_pressed)
    router.prompt("alert.line", partial(line_answered, services), ask_line)
