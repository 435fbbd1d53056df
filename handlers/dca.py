"""/dca: dollar-cost averaging plans (bot/dca).

    /dca <index> <usdc> daily|weekly [at HH:MM] <PIN>   set up a plan (weekly: on today's weekday)
    /dca                                               list plans with Pause / Resume / Cancel buttons
    /dca pause|resume|cancel <plan>                    the same by number

The list's New plan button asks step by step: the index (buttons), the amount (typed), daily or weekly (buttons),
the time (typed HH:MM, or Now), the PIN (its message deleted), then sets the plan up exactly as the typed form.

Private only, like /withdraw: setting up a plan is confirmed with the PIN, and the router deletes the message
holding it where the platform allows, whatever the outcome. The time is in the user's /timezone (default: the
current time of day there). Every input is checked before anything is stored; a refusal says what is valid.
"""

from dataclasses import replace
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from bot.core.amounts import from_base_units, parse_amount, parse_id
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Count, Msg, Param, Pct, Reply, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.core.secrets import PIN_DIGITS, is_pin
from bot.dca.cadence import CADENCES, parse_cadence, parse_time
from bot.dca.plans import PAUSE_AFTER, Dca, cadence_msg
from bot.chain.profile import IndexRef
from bot.services import Services
from bot.storage.dca import NewPlan, Plan

ACTIONS = ("pause", "resume", "cancel")


def _secret(args: tuple[str, ...]) -> str | None:
    """A set-up carries the PIN as its last word."""
    return "pin" if len(args) >= 4 and args[0].lower() not in ACTIONS else None


def _plan_arg(args: tuple[str, ...]) -> int:
    plan_id = parse_id(args[0]) if args else None
    if plan_id is None:
        raise UserError("dca.error.plan", value=(args[0] if args else "")[:24])
    return plan_id


def usage(services: Services) -> UserError:
    return UserError("dca.error.usage", valid=services.all_index_list())


def index_of(services: Services, typed: str) -> IndexRef:
    """The exact symbol on any chain (MAG7.nex), else the home chain's (`mag7` is MAG7.ssi)."""
    exact = [ref for ref in services.all_indexes if ref.symbol.lower() == typed.strip().lower()]
    ref = exact[0] if exact else services.find_index(typed)
    if ref is None:
        raise UserError("error.index.unknown", value=typed[:24], valid=services.all_index_list())
    return ref


def amount_of(plans: Dca, plan: Plan) -> Amount:
    decimals = plans.usdc_decimals(plan.token)
    return Amount(from_base_units(plan.usdc_units, decimals), decimals)


def next_of(plans: Dca, plan: Plan) -> Param:
    when = plans.next_run(plan)
    return When(when) if when is not None else Msg("dca.next.none")


def buttons_of(plan: Plan) -> tuple[Button, ...]:
    arg = (str(plan.id),)
    toggle = (Button(Msg("dca.button.pause", {"id": plan.id}), "dca.pause", arg) if plan.state == "active"
              else Button(Msg("dca.button.resume", {"id": plan.id}), "dca.resume", arg))
    return toggle, Button(Msg("dca.button.cancel", {"id": plan.id}), "dca.cancel", arg)


def plan_lines(plan: Plan, amount: Amount, next_run: Param) -> list[Msg]:
    """One plan as a card narrow enough for a phone: number, index and state, then one thing a line."""
    return [Msg("dca.list.item", {"id": plan.id, "index": plan.token, "state": Msg(f"dca.state.{plan.state}")}),
            Msg("dca.list.amount", {"amount": amount}), Msg("dca.list.cadence", {"cadence": cadence_msg(plan)}),
            Msg("dca.list.next", {"next": next_run}), Msg("dca.list.failures", {"failures": plan.failures})]


async def listing(services: Services, caller: Caller) -> Reply:
    plans = services.dca
    mine = await plans.of_user(caller.user_key)
    new = (Button(Msg("button.dca_new"), "dca.new"),)
    if not mine:
        return Reply.of(Msg("dca.list.empty"), buttons=(new,))
    lines = [Msg("dca.list.title", style="title")]
    for plan in mine:
        lines += plan_lines(plan, amount_of(plans, plan), next_of(plans, plan))
    return Reply.of(*lines, buttons=(*(buttons_of(p) for p in mine), new))


async def setup(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """`<index> <usdc> daily|weekly [at HH:MM] <PIN>` (Discord sends an empty time when none was given); without the
    PIN, checked all the same and then the PIN asked for, as the guided set-up asks it."""
    plans = services.dca
    if len(args) < 3:
        raise usage(services)
    rest = list(args[3:])
    pin = rest.pop() if rest and rest[-1].isascii() and rest[-1].isdigit() else None  # digits: a PIN, even a short one
    if rest and rest[0].lower() == "at":
        rest = rest[1:]
        if len(rest) != 1 or not rest[0]:
            raise usage(services)
    if len(rest) > 1 or (pin is None and any(word.isdigit() for i, word in enumerate(args) if i != 1)):
        raise usage(services)  # a word of digits but the amount may be a PIN out of place: never echoed back
    ref = index_of(services, args[0])
    amount = parse_amount(args[1], decimals=plans.usdc_decimals(ref.symbol), maximum=services.limits.max_usdc,
                          unit=services.profile.usdc.symbol, locale=caller.locale)
    cadence = parse_cadence(args[2])
    zone = await services.timezone(caller.user_key)
    local = datetime.now(ZoneInfo(zone))
    at_minute = parse_time(rest[0]) if rest and rest[0] else local.hour * 60 + local.minute
    await plans.check_wallet(caller.user_key)  # before the PIN, like /withdraw
    if pin is None:
        return await ask_step(services, caller, (ref.symbol, args[1], args[2], rest[0] if rest else ""))
    await services.pins.check_pin(caller.user_key, pin)
    req = caller.request
    plan = await plans.create(caller.user_key, ref, amount, cadence, at_minute, local.weekday(), zone,
                              req.platform, req.private_chat or req.chat_id)
    slip = await services.desks.home.slippage_bps(caller.user_key)
    return Reply.of(
        Msg("dca.created", {"id": plan.id, "amount": amount_of(plans, plan), "index": plan.token, "cadence": cadence_msg(plan)}),
        Msg("dca.next", {"next": next_of(plans, plan)}),
        Msg("dca.created.terms.issuance", {"index": ref.symbol, "count": Count(PAUSE_AFTER)}) if ref.venue == "issuance"
        else Msg("dca.created.terms", {"slippage": Pct(from_base_units(slip, 4)), "count": Count(PAUSE_AFTER)}),
        buttons=(buttons_of(plan),),
    )


async def dca(services: Services, caller: Caller) -> Reply:
    """No argument: the plans. `pause|resume|cancel <plan>`: act on one. Anything else: set one up."""
    args = caller.request.args
    if not args:
        return await listing(services, caller)
    if args[0].lower() in ACTIONS:
        if len(args) != 2:
            raise usage(services)
        return await act(services.dca, caller, args[0].lower(), _plan_arg(args[1:]))
    return await setup(services, caller, args)


async def act(plans: Dca, caller: Caller, action: str, plan_id: int) -> Reply:
    if action == "pause":
        plan = await plans.pause(plan_id, caller.user_key)
        return Reply.of(Msg("dca.paused", {"id": plan.id}), buttons=(buttons_of(plan),))
    if action == "resume":
        plan = await plans.resume(plan_id, caller.user_key)
        return Reply.of(Msg("dca.resumed", {"id": plan.id, "next": next_of(plans, plan)}), buttons=(buttons_of(plan),))
    plan = await plans.cancel(plan_id, caller.user_key)
    return Reply.of(Msg("dca.cancelled", {"id": plan.id}))


async def pressed(action: str, services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A Pause / Resume / Cancel button: (plan id); the answer replaces the pressed message."""
    return replace(await act(services.dca, caller, action, _plan_arg(args)), edit=True)


async def ask_step(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """The next question of a new plan from what was chosen so far: (index), (index, amount), (…, cadence), (…, time)."""
    if not state:
        buttons = tuple((Button(Msg("dca.button.index", {"index": r.symbol}), "dca.step", (r.symbol,)),) for r in services.all_indexes)
        return Reply.of(Msg("dca.ask.index"), buttons=buttons, edit=edit)
    if len(state) == 1:
        return Reply.of(Msg("dca.ask.amount", {"index": state[0], "usdc": services.profile.usdc.symbol}), edit=edit,
                        ask=Ask("dca.amount", state, Msg("prompt.field.amount")))
    if len(state) == 2:
        cadences = tuple(Button(Msg(f"dca.button.{c}"), "dca.step", (*state, c)) for c in CADENCES)
        return Reply.of(Msg("dca.ask.cadence"), buttons=(cadences,), edit=edit)
    if len(state) == 3:
        return Reply.of(Msg("dca.ask.time"), buttons=((Button(Msg("button.now"), "dca.step", (*state, "")),),), edit=edit,
                        ask=Ask("dca.time", state, Msg("prompt.field.time")))
    return Reply.of(await _summary(services, caller, state), Msg("dca.ask.pin"), edit=edit,
                    ask=Ask("dca.pin", state, Msg("prompt.field.pin"), secret="pin"))


async def _summary(services: Services, caller: Caller, state: tuple[str, ...]) -> Msg:
    """The plan the PIN sets up, as its set-up will read (index, amount, cadence, time: now when none was given)."""
    ref = index_of(services, state[0])
    decimals = services.dca.usdc_decimals(ref.symbol)
    amount = parse_amount(state[1], decimals=decimals, maximum=services.limits.max_usdc,
                          unit=services.profile.usdc.symbol, locale=caller.locale)
    zone = await services.timezone(caller.user_key)
    local = datetime.now(ZoneInfo(zone))
    at = parse_time(state[3]) if state[3] else local.hour * 60 + local.minute
    cadence = parse_cadence(state[2])
    weekday = local.weekday() if cadence == "weekly" else None
    shown = NewPlan(caller.user_key, ref.symbol, 0, cadence, at, weekday, zone, "", "")
    return Msg("dca.ask.summary", {"amount": Amount(amount, decimals), "index": ref.symbol, "cadence": cadence_msg(shown)})


async def step_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """New plan and each button of its steps: the next question, in place of the message pressed on."""
    if len(args) == 3:
        parse_cadence(args[2])
    return await ask_step(services, caller, args[:4], edit=True)


async def answered(step: str, services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """An amount, a time (each checked now) or the PIN (the plan set up as `/dca` typed in full sets it up)."""
    if step == "amount":
        ref = index_of(services, state[0])
        parse_amount(text, decimals=services.dca.usdc_decimals(ref.symbol), maximum=services.limits.max_usdc,
                     unit=services.profile.usdc.symbol, locale=caller.locale)
        return await ask_step(services, caller, (*state, text.strip()))
    if step == "time":
        parse_time(text)
        return await ask_step(services, caller, (*state, text.strip()))
    if not is_pin(text):
        raise UserError("error.pin.length", min=PIN_DIGITS[0], count=Count(PIN_DIGITS[1]))
    at = ("at", state[3]) if state[3] else ()
    return await setup(services, caller, (*state[:3], *at, text))


def register(router: Router, services: Services) -> None:
    router.command("dca", partial(dca, services), private_only=True, secret=_secret)
    for name in ACTIONS:
        router.action(f"dca.{name}", partial(pressed, name, services), private_only=True)
    router.action("dca.new", partial(step_pressed, services), private_only=True)
    router.action("dca.step", partial(step_pressed, services), private_only=True)
    for step in ("amount", "time", "pin"):
        router.prompt(f"dca.{step}", partial(answered, step, services), partial(ask_step, services))
