"""Moderator announcements: a draft with per-language variants, sent now or at a time through the outbox.

Sending fans out in one INSERT ... SELECT (one outbox row per subscribed user in scope, deduplicated per user),
plus one message per configured chat (and a community's own chat). Each row's payload only names the
announcement; the outbox asks `render` for the text at send time, in the reader's language. A crash in the
middle is resumed at start-up (`restore`): the announcement is still 'sending' and the dedupe keys skip whoever
has theirs. Every draft, send, schedule, cancel and refusal is in the audit log with its author.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bot.delivery.announce.config import AnnounceConfig
from bot.delivery.announce.rights import covers, rights_of, still_community_moderator
from bot.core.errors import UserError
from bot.core.frontends import FrontEnds, StandingOf
from bot.core.messages import Msg, Reply, When
from bot.core.request import Caller
from bot.delivery.outbox import Outbox
from bot.delivery.schedule import Schedule
from bot.storage.announcements import ALL, Announcement, AnnouncementRows

log = logging.getLogger(__name__)

SOURCE = "announcement"  # the outbox payload source that renders an announcement for its reader
UNSENT = ("draft", "scheduled")
OPEN = ("draft", "scheduled", "sending", "done")  # everything but cancelled
AUDITED_TEXT = 500  # characters of an announcement's text kept in the audit log
RECHECK_SECONDS = 60  # a due announcement whose author's rights the platform could not confirm is retried ...
RECHECKS = 5  # ... this many times, then not sent


def job_name(announcement_id: int) -> str:
    return f"announce:{announcement_id}"


@dataclass(frozen=True)
class Reach:
    users: int  # subscribed users in scope
    chats: int  # configured groups and channels, and the community's own chat


def header(announcement: Announcement) -> Msg:
    """The first line its readers see: a community's announcement names the community it came from."""
    if announcement.scope == ALL or not announcement.community_name:  # a name never read (an empty one) is none
        return Msg("announce.header", style="title")
    return Msg("announce.header.community", {"community": announcement.community_name}, style="title")


class Announcements:
    def __init__(self, rows: AnnouncementRows, outbox: Outbox, schedule: Schedule, config: AnnounceConfig,
                 clock: Callable[[], float] = time.time, *, front_ends: FrontEnds | None = None) -> None:
        self.rows = rows
        self.outbox = outbox
        self.schedule = schedule
        self.config = config
        self._clock = clock
        self._members: set[tuple[str, str, int]] = set()  # community memberships written by this process
        self._sent: dict[int, Announcement] = {}  # announcements past their draft (their texts no longer change)
        self.front_ends = front_ends or FrontEnds()  # each started front end's way to ask of a user's rights
        outbox.source(SOURCE, self.render)
        schedule.rebuild(self.restore)

    @property
    def standings(self) -> Mapping[str, StandingOf]:
        """Platform -> how to ask it of a user's rights, as each front end said when it started (FrontEnds.attach)."""
        return MappingProxyType(self.front_ends.standings)

    # -- who -----------------------------------------------------------------------------------------------

    async def authorize(self, caller: Caller, what: str) -> str:
        """The caller's rights now (ALL or their community's scope); anyone else is refused and audited."""
        rights = await rights_of(caller.request, self.config)
        if rights is None:  # audited once a minute per user, repeats counted: hammering writes no row each time
            await self._audit(caller, "announce.refused", refusal=True, what=what[:AUDITED_TEXT])
            raise UserError("announce.refused")
        return rights

    async def seen(self, caller: Caller) -> None:
        """Router watcher: remember who uses the bot in which group or server (once per process)."""
        request = caller.request
        if request.community is None or request.is_private:
            return
        key = (request.platform, request.community, caller.user_key)
        if key not in self._members:
            await self.rows.join(*key)
            self._members.add(key)

    # -- drafting ------------------------------------------------------------------------------------------

    async def draft(self, caller: Caller, rights: str, text: str) -> Announcement:
        """A new draft (replacing the author's previous one) for everyone the author may reach."""
        origin, name = (None, None) if rights == ALL else (caller.request.chat_id, caller.request.community_name)
        draft = await self.rows.create(caller.user_key, caller.request.platform, rights, origin, text, int(self._clock()), name)
        await self._audit(caller, "announce.draft", id=draft.id, scope=draft.scope, text=text[:AUDITED_TEXT])
        return draft

    async def vary(self, caller: Caller, rights: str, locale: str, text: str) -> Announcement:
        """Add (or replace) the `locale` variant of the author's current draft."""
        draft = await self.rows.latest(caller.user_key, ("draft",))
        if draft is None or not covers(rights, draft.scope):
            raise UserError("error.announce.no_draft")
        changed = await self.rows.set_text(draft.id, locale, text)
        if changed is None:  # sent or cancelled meanwhile
            raise UserError("error.announce.no_draft")
        await self._audit(caller, "announce.variant", id=draft.id, locale=locale, text=text[:AUDITED_TEXT])
        return changed

    async def reach(self, announcement: Announcement) -> Reach:
        return Reach(await self.rows.count_recipients(announcement.scope), len(self._chats(announcement)))

    # -- sending -------------------------------------------------------------------------------------------

    async def send_now(self, caller: Caller, rights: str, announcement_id: int) -> tuple[Announcement, Reach]:
        """Send a draft (or a scheduled announcement) now; how many users and chats it goes to."""
        announcement = await self._managed(rights, announcement_id)
        if not await self.rows.move(announcement.id, UNSENT, "sending"):
            raise UserError("error.announce.not_draft", id=announcement.id)
        self.schedule.remove(job_name(announcement.id))
        await self._audit(caller, "announce.send", id=announcement.id, scope=announcement.scope)
        return announcement, await self._fan_out(announcement)

    async def send_at(self, caller: Caller, rights: str, when: int) -> Announcement:
        """Schedule the author's current draft (or move their scheduled one) to `when`."""
        announcement = await self.rows.latest(caller.user_key, UNSENT)
        if announcement is None or not covers(rights, announcement.scope):
            raise UserError("error.announce.no_draft")
        if when <= self._clock():
            raise UserError("error.announce.past", when=When(when))
        if not await self.rows.move(announcement.id, UNSENT, "scheduled", send_at=when):
            raise UserError("error.announce.not_draft", id=announcement.id)
        self._plan(announcement.id, when)
        await self._audit(caller, "announce.schedule", id=announcement.id, send_at=when)
        return await self._managed(rights, announcement.id)

    async def send_due(self, announcement_id: int, attempt: int = 0) -> None:
        """The job `announce:<id>`: send a scheduled announcement (unless it was cancelled or sent since) if its
        author may still announce: a configured moderator still configured, a group admin or server manager
        still one as their platform says now. Otherwise it is cancelled, audited and the author told; when the
        platform cannot be asked, it is asked again a minute later, `RECHECKS` times."""
        announcement = await self.rows.get(announcement_id)
        if announcement is None or announcement.state != "scheduled":
            return
        allowed = await self._author_may_still(announcement)
        if allowed is None and attempt < RECHECKS:
            log.info("announcement %d: its author's rights could not be asked; again in %ds", announcement_id, RECHECK_SECONDS)
            self._plan(announcement_id, int(self._clock()) + RECHECK_SECONDS, attempt + 1)
            return
        if not allowed:
            await self._refuse_due(announcement, "no longer a moderator" if allowed is False else "rights not confirmed")
            return
        if not await self.rows.move(announcement_id, ("scheduled",), "sending"):
            return
        await self.rows.audit(announcement.author_id, "announce.send", {"id": announcement_id, "scheduled": True})
        await self._fan_out(announcement)

    async def _author_may_still(self, announcement: Announcement) -> bool | None:
        """Whether the author may still announce to the announcement's scope (None: the platform cannot say)."""
        who = await self.rows.author_identity(announcement.author_id)
        if who is None:
            return False
        if announcement.scope == ALL:
            return self.config.is_moderator(*who)
        return await still_community_moderator(announcement.scope, who[1], self.config, self.standings)

    async def _refuse_due(self, announcement: Announcement, reason: str) -> None:
        """Not sent: cancelled, in the audit log, and the author told in their private chat."""
        if not await self.rows.move(announcement.id, ("scheduled",), "cancelled"):
            return
        log.warning("announcement %d: not sent (%s)", announcement.id, reason)
        await self.rows.audit(announcement.author_id, "announce.refused",
                              {"id": announcement.id, "scope": announcement.scope, "scheduled": True, "reason": reason})
        key = "announce.due.lost" if reason == "no longer a moderator" else "announce.due.unconfirmed"
        await self.outbox.put(announcement.author_id, Reply.of(Msg(key, {"id": announcement.id})), "moderation",
                              key=f"announce:{announcement.id}:refused", urgent=True)

    async def restore(self) -> None:
        """At start-up: re-create the jobs of scheduled announcements (one due while the bot was down is sent
        now) and finish the fan-out of any that a stop interrupted."""
        now = int(self._clock())
        for announcement in await self.rows.in_state("scheduled"):
            self._plan(announcement.id, max(announcement.send_at or now, now))
        for announcement in await self.rows.in_state("sending"):
            log.warning("announcement %d: resuming its fan-out", announcement.id)
            await self._fan_out(announcement)

    async def _fan_out(self, announcement: Announcement) -> Reach:
        payload = {"source": SOURCE, "id": announcement.id}
        users = await self.rows.fan_out(announcement.id, announcement.scope, json.dumps(payload), int(self._clock()))
        chats = self._chats(announcement)
        for platform, chat in chats:
            await self.outbox.put_chat(platform, chat, payload, "announcement", key=f"announce:{announcement.id}:{platform}:{chat}",
                                       announcement_id=announcement.id)
        self.outbox.wake()
        if not await self.rows.move(announcement.id, ("sending",), "done"):  # cancelled during the fan-out
            await self.rows.stop_pending(announcement.id)
        log.info("announcement %d: %d users and %d chats queued", announcement.id, users, len(chats))
        return Reach(users, len(chats))

    def _plan(self, announcement_id: int, when: int, attempt: int = 0) -> None:
        again = (attempt,) if attempt else ()  # a re-check of the author's rights counts its attempts
        self.schedule.put(job_name(announcement_id), datetime.fromtimestamp(when, UTC), self.send_due, announcement_id, *again)

    def _chats(self, announcement: Announcement) -> list[tuple[str, str]]:
        chats = list(self.config.chats)
        if announcement.origin_chat is not None and (announcement.platform, announcement.origin_chat) not in chats:
            chats.append((announcement.platform, announcement.origin_chat))
        return chats

    # -- afterwards ----------------------------------------------------------------------------------------

    async def find(self, caller: Caller, rights: str, announcement_id: int | None, states: tuple[str, ...] = OPEN) -> Announcement:
        """Announcement `announcement_id` if the caller may manage it, else (no id) the caller's latest."""
        if announcement_id is not None:
            return await self._managed(rights, announcement_id)
        latest = await self.rows.latest(caller.user_key, states)
        if latest is None or not covers(rights, latest.scope):
            raise UserError("error.announce.none")
        return latest

    async def progress(self, announcement: Announcement) -> dict[str, int]:
        """Its outbox rows by state: sent, pending (including in flight), blocked, failed, unknown, cancelled."""
        counts = await self.rows.progress(announcement.id)
        counts["pending"] = counts.get("pending", 0) + counts.pop("sending", 0)
        return counts

    async def cancel(self, caller: Caller, rights: str, announcement_id: int | None) -> tuple[Announcement, int]:
        """Cancel it and stop its messages not yet sent; how many were stopped."""
        announcement = await self.find(caller, rights, announcement_id)
        if not await self.rows.move(announcement.id, OPEN, "cancelled"):
            raise UserError("error.announce.cancelled", id=announcement.id)
        self.schedule.remove(job_name(announcement.id))
        stopped = await self.rows.stop_pending(announcement.id)
        await self._audit(caller, "announce.cancel", id=announcement.id, stopped=stopped)
        return announcement, stopped

    async def render(self, payload: dict[str, Any], user_id: int | None, locale: str) -> Reply:
        """The outbox source: the announcement as its reader receives it (their language's variant, else the
        default text)."""
        announcement_id = int(payload["id"])
        announcement = self._sent.get(announcement_id) or await self.rows.get(announcement_id)
        if announcement is None:
            raise LookupError(f"announcement {announcement_id} does not exist")
        if announcement.state != "draft":
            self._sent[announcement_id] = announcement
        return Reply.of(header(announcement), Msg("announce.body", {"text": announcement.text_for(locale)}),
                        image=announcement.image)

    async def _managed(self, rights: str, announcement_id: int) -> Announcement:
        announcement = await self.rows.get(announcement_id)
        if announcement is None or not covers(rights, announcement.scope):
            raise UserError("error.announce.not_found", id=announcement_id)
        return announcement

    async def _audit(self, caller: Caller, action: str, refusal: bool = False, **detail: Any) -> None:
        request = caller.request
        where = {"platform": request.platform, "user": request.user_id, "chat": request.chat_id, "community": request.community}
        if refusal:
            await self.rows.audit_refusal(caller.user_key, action, {**where, **detail}, int(self._clock()))
        else:
            await self.rows.audit(caller.user_key, action, {**where, **detail}, int(self._clock()))
