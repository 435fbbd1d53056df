"""/announce: moderators' announcements.

    /announce <text>                          a new draft; the reply previews it in every language
    /announce <language> <text>               that language's variant of the current draft (e.g. zh_CN)
    /announce at <HH:MM | YYYY-MM-DD HH:MM>   send the current draft then, in the moderator's /timezone
    /announce status [id]                     sent, pending, blocked, failed, unconfirmed
    /announce cancel [id]                     stop what is not yet sent

Rights are checked on every use, presses of the preview's buttons included (bot.delivery.announce.rights).
"""

from __future__ import annotations

import time
from functools import partial

from bot.delivery.announce.service import Reach, header
from bot.delivery.announce.when import parse_when
from bot.core.amounts import parse_id
from bot.core.errors import UserError
from bot.core.messages import Button, Count, Msg, Param, Reply, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.storage.announcements import Announcement

MAX_ID_DIGITS = 12


async def announce(services: Services, caller: Caller) -> Reply:
    """A draft, a language's variant, `at <when>`, `status [id]` or `cancel [id]`; rights checked first."""
    announcements = services.announcements
    words = tuple(" ".join(caller.request.args).split())
    rights = await announcements.authorize(caller, " ".join(words) or "/announce")
    if not words:
        raise UserError("error.announce.usage", usage=Msg("usage.announce"))
    head, rest = words[0].lower(), words[1:]
    if head == "status":
        return await status(services, caller, rights, rest)
    if head == "cancel":
        found, stopped = await announcements.cancel(caller, rights, _id(rest))
        return Reply.of(Msg("announce.cancelled", {"id": found.id, "count": Count(stopped)}))
    if head == "at":
        return await schedule(services, caller, rights, rest)
    languages = {code.lower(): code for code in services.catalogs.locales}
    locale = languages.get(words[0].replace("-", "_").lower())
    if locale is not None:
        if not rest:
            raise UserError("error.announce.variant_text", language=locale, usage=Msg("usage.announce"))
        return await preview(services, caller, await announcements.vary(caller, rights, locale, " ".join(rest)))
    return await preview(services, caller, await announcements.draft(caller, rights, " ".join(words)))


async def preview(services: Services, caller: Caller, draft: Announcement) -> Reply:
    """How each shipped language receives it, how many it reaches, and Send now / Cancel."""
    catalogs = services.catalogs
    reach = await services.announcements.reach(draft)
    lines = [Msg("announce.preview.title", {"id": draft.id}, style="title")]
    lines += [
        Msg("announce.preview.variant", {"language": catalogs.language_name(code),
                                         "header": catalogs.render_msg(header(draft), code, str), "text": draft.text_for(code)})
        for code in catalogs.locales
    ]
    zone = await services.timezone(caller.user_key)
    lines += [Msg("announce.preview.reach", reached(reach)),
              Msg("announce.preview.hint", {"languages": ", ".join(catalogs.locales), "zone": zone})]
    ref = (str(draft.id),)
    buttons = ((Button(Msg("button.announce_send"), "announce.send", ref), Button(Msg("button.cancel"), "announce.cancel", ref)),)
    return Reply.of(*lines, buttons=buttons)


async def status(services: Services, caller: Caller, rights: str, rest: tuple[str, ...]) -> Reply:
    found = await services.announcements.find(caller, rights, _id(rest))
    counts = await services.announcements.progress(found)
    lines = [Msg("announce.status", {
        "id": found.id, "state": Msg(f"announce.state.{found.state}"), "sent": counts.get("sent", 0),
        "pending": counts.get("pending", 0), "blocked": counts.get("blocked", 0), "failed": counts.get("failed", 0),
        "unknown": counts.get("unknown", 0), "cancelled": counts.get("cancelled", 0)})]
    if found.state == "scheduled" and found.send_at is not None:
        lines.append(Msg("announce.status.at", {"when": When(found.send_at)}))
    return Reply.of(*lines)


async def schedule(services: Services, caller: Caller, rights: str, rest: tuple[str, ...]) -> Reply:
    zone = await services.timezone(caller.user_key)
    when = parse_when(rest, zone, time.time())
    if when is None:
        raise UserError("error.announce.time", value=" ".join(rest)[:32], zone=zone)
    scheduled = await services.announcements.send_at(caller, rights, when)
    return Reply.of(Msg("announce.scheduled", {"id": scheduled.id, "when": When(when)}))


async def send(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    announcements = services.announcements
    rights = await announcements.authorize(caller, f"send {args[0] if args else ''}")
    sent, reach = await announcements.send_now(caller, rights, _pressed_id(args))
    return Reply.of(Msg("announce.sending", {"id": sent.id, **reached(reach)}), edit=True)


async def cancel(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    announcements = services.announcements
    rights = await announcements.authorize(caller, f"cancel {args[0] if args else ''}")
    found, stopped = await announcements.cancel(caller, rights, _pressed_id(args))
    return Reply.of(Msg("announce.cancelled", {"id": found.id, "count": Count(stopped)}), edit=True)


def register(router: Router, services: Services) -> None:
    router.command("announce", partial(announce, services), moderator=True)
    router.action("announce.send", partial(send, services))
    router.action("announce.cancel", partial(cancel, services))
    router.watch(services.announcements.seen)


def reached(reach: Reach) -> dict[str, Param]:
    """Whom it reaches, as two counted phrases ("4 subscribed users", "1 group or channel")."""
    return {"users": Msg("announce.reach.users", {"count": Count(reach.users)}),
            "chats": Msg("announce.reach.chats", {"count": Count(reach.chats)})}


def _id(rest: tuple[str, ...]) -> int | None:
    """The optional announcement number after `status` / `cancel`."""
    if not rest:
        return None
    if len(rest) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.announce"))
    announcement_id = parse_id(rest[0], MAX_ID_DIGITS) if not rest[0].startswith("#") else None
    if announcement_id is None:
        raise UserError("error.announce.id", value=rest[0][:16])
    return announcement_id


def _pressed_id(args: tuple[str, ...]) -> int:
    """The announcement a button stands for (stored server-side by the router, so well-formed)."""
    return int(args[0])

