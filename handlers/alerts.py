"""/alerts: what the bot may tell you unasked, and when.

`/alerts` lists each kind (rebalances, the points digest, cooldown ends, price alerts, DCA runs, announcements)
as on or off with a button to switch it, the quiet hours and the digest time. `/alerts price off` switches a
kind by name; `/alerts quiet 22:00-07:00` holds everything but urgent messages (price alerts, a trade's own
progress) until the window ends, `/alerts quiet off` lifts it; `/alerts digest 08:30` moves the daily digest.
Times are in the user's /timezone.
"""

import re
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.storage.alert_settings import AlertSettingsRow
from bot.storage.outbox import KIND_SWITCHES

_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
ON, OFF = ("on",), ("off",)
KINDS = ", ".join(KIND_SWITCHES)


def minute_of(typed: str) -> int:
    """`07:00`, `7:00`, `22:30` -> minutes after midnight; anything else is refused, saying what is valid."""
    match = _TIME.match(typed)
    if match is None:
        raise UserError("alerts.error.time", value=typed[:24])
    return int(match.group(1)) * 60 + int(match.group(2))


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def overview(settings: AlertSettingsRow, zone: str) -> Reply:
    lines = [Msg("alerts.title", style="title")]
    lines += [Msg("alerts.kind.on" if settings.switches[k] else "alerts.kind.off", {"kind": Msg(f"alerts.kind.{k}")})
              for k in KIND_SWITCHES]
    quiet = settings.quiet
    lines.append(Msg("alerts.quiet.on", {"start": clock(quiet[0]), "end": clock(quiet[1]), "zone": zone}) if quiet
                 else Msg("alerts.quiet.none"))
    lines.append(Msg("alerts.digest_at", {"time": clock(settings.digest_at), "zone": zone}))
    lines.append(Msg("alerts.usage"))
    prices = (Button(Msg("alerts.button.prices"), "alert.list"),)  # the price alerts themselves (handlers.alert), first
    buttons = (prices,) + tuple(
        (Button(Msg("alerts.button.off" if settings.switches[k] else "alerts.button.on", {"kind": Msg(f"alerts.kind.{k}")}),
                "alerts.switch", (k, "off" if settings.switches[k] else "on")),)
        for k in KIND_SWITCHES
    )
    return Reply(lines=tuple(lines), buttons=buttons)


async def show(services: Services, caller: Caller, *, edit: bool = False) -> Reply:
    reply = overview(await services.alert_settings.get(caller.user_key), await services.timezone(caller.user_key))
    return Reply(lines=reply.lines, buttons=reply.buttons, edit=edit)


async def switch(services: Services, caller: Caller, kind: str, state: str) -> None:
    if kind not in KIND_SWITCHES:
        raise UserError("alerts.error.kind", value=kind[:24], kinds=KINDS)
    if (state,) not in (ON, OFF):
        raise UserError("alerts.error.state", value=state[:24])
    await services.alert_settings.set_switch(caller.user_key, kind, state == "on")
    if kind == "digest":
        await services.digests.reschedule(caller.user_key)


async def alerts(services: Services, caller: Caller) -> Reply:
    """No argument: the overview. `<kind> on|off`, `quiet HH:MM-HH:MM|off`, `digest HH:MM`: change one thing."""
    settings = services.alert_settings
    args = tuple(a.lower() for a in caller.request.args)
    if not args:
        return await show(services, caller)
    if len(args) != 2:
        raise UserError("error.args.extra" if len(args) > 2 else "alerts.error.missing", usage=Msg("usage.alerts"))
    what, value = args
    if what == "quiet":
        if value == "off":
            await settings.set_quiet(caller.user_key, None)
        else:
            start, sep, end = value.partition("-")
            if not sep:
                raise UserError("alerts.error.quiet", value=value[:24])
            window = (minute_of(start), minute_of(end))
            if window[0] == window[1]:
                raise UserError("alerts.error.quiet", value=value[:24])
            await settings.set_quiet(caller.user_key, window)
    elif what == "digest" and (value,) not in (ON, OFF):
        await settings.set_digest_at(caller.user_key, minute_of(value))
        await services.digests.reschedule(caller.user_key)
    else:
        await switch(services, caller, what, value)
    return await show(services, caller)


async def pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A switch button: (kind, on|off); the overview is edited in place."""
    if len(args) != 2:
        raise UserError("error.button.expired")
    await switch(services, caller, args[0], args[1])
    return await show(services, caller, edit=True)


def register(router: Router, services: Services) -> None:
    router.command("alerts", partial(alerts, services), personal=True)
    router.action("alerts.switch", partial(pressed, services))
