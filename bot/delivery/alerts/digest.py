"""The daily points digest: at the minute each user chose (/alerts digest HH:MM, default 09:00, in their
/timezone), their balance this epoch, what the last credited snapshot day earned them, how their rank moved
with it, and each filled index's PnL so far (bot.portfolio), its wallets' transfers reconciled just before (a
transfer since the last `portfolio:transfers` sweep is in it; the digests due together share their reads).

One job per reader, `digest:<user>` (a cron trigger in their zone), re-created at start-up for every user with
points and the digest on, and added for newly credited users after each snapshot. A digest reports the latest
credited day once (outbox key `digest:<user>:<day>`): a second run that day, or a day with no new snapshot,
sends nothing. Ranks before and after a day are computed from one scan per (epoch, day), shared by every
digest of that day.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.messages import Amount, Day, Msg, Pct, Reply, Usd
from bot.portfolio.pnl import IndexPnl
from bot.delivery.outbox import Outbox
from bot.points import Points
from bot.points.ledger import points_of
from bot.delivery.schedule import Schedule
from bot.storage.alert_settings import AlertSettingsRows

log = logging.getLogger(__name__)

JOB = "digest:{user}"
NEW_READERS_JOB = "digests:new-readers"
NEW_READERS_MINUTES = 5


@dataclass(frozen=True)
class DayRanks:
    """Everyone's epoch totals after a day and before it (milli-points), sorted descending for ranking."""

    after: dict[int, int]
    before: dict[int, int]
    after_sorted: list[int]  # negated, ascending (for bisect)
    before_sorted: list[int]

    def rank(self, user_id: int, *, before: bool = False) -> int | None:
        points = (self.before if before else self.after).get(user_id, 0)
        if points <= 0:
            return None
        ordered = self.before_sorted if before else self.after_sorted
        return bisect.bisect_left(ordered, -points) + 1  # 1 + how many have more


PnlOf = Callable[[int], Awaitable[dict[str, IndexPnl]]]  # a user's PnL per index now (bot.portfolio.ledger)
Settle = Callable[[int], Awaitable[None]]  # a user's wallets' transfers reconciled now (bot.portfolio.transfers)


class Digests:
    def __init__(self, points: Points, settings: AlertSettingsRows, outbox: Outbox, schedule: Schedule, pnl: PnlOf,
                 settle: Settle | None = None) -> None:
        self._pnl = pnl
        self._settle = settle
        self._points = points
        self._settings = settings
        self._outbox = outbox
        self._schedule = schedule
        self._ranks: tuple[tuple[str, date], DayRanks] | None = None

    async def rebuild(self) -> None:
        """Start-up: one job per reader, and a look every few minutes for readers credited by a snapshot that
        ran in another process (`indexbot points snapshot`)."""
        for user_id, minute, zone in await self._settings.digest_readers():
            self._put(user_id, minute, zone)
        self._schedule.put(NEW_READERS_JOB, IntervalTrigger(minutes=NEW_READERS_MINUTES), self.after_snapshot)

    async def reschedule(self, user_id: int) -> None:
        """After /alerts changed the user's digest time, switch or zone: their job as it should be now."""
        readers = await self._settings.digest_readers(user_id)
        if not readers:
            self._schedule.remove(JOB.format(user=user_id))
        for user, minute, zone in readers:
            self._put(user, minute, zone)

    async def after_snapshot(self) -> None:
        """A day was credited: readers who had no job yet (new points) get one."""
        have = set(self._schedule.names("digest:"))
        for user_id, minute, zone in await self._settings.digest_readers():
            if JOB.format(user=user_id) not in have:
                self._put(user_id, minute, zone)

    def _put(self, user_id: int, minute: int, zone: str) -> None:
        trigger = CronTrigger(hour=minute // 60, minute=minute % 60, timezone=zone)
        self._schedule.put(JOB.format(user=user_id), trigger, self.send, user_id)

    async def send(self, user_id: int) -> int | None:
        """The `digest:<user>` job: queue the digest of the latest credited day (once per day); the outbox id."""
        day = await self._points.ledger.last_credited_day()
        if day is None:
            return None
        reply = await self.digest(user_id, day)
        if reply is None:
            return None
        return await self._outbox.put(user_id, reply, "digest", key=f"digest:{user_id}:{day.isoformat()}")

    async def digest(self, user_id: int, day: date) -> Reply | None:
        """What the digest says about `day`; None when the user has no points this epoch."""
        epoch = self._points.config.epoch_of(day).name
        ranks = await self._day_ranks(epoch, day)
        total = ranks.after.get(user_id, 0)
        if total <= 0:
            return None
        earned = total - ranks.before.get(user_id, 0)
        now, was = ranks.rank(user_id), ranks.rank(user_id, before=True)
        lines = [
            Msg("digest.title", {"day": Day(day)}, style="title"),
            Msg("digest.balance", {"points": Amount(points_of(total), 3), "epoch": epoch}),
            Msg("digest.earned", {"points": Amount(points_of(earned), 3), "day": Day(day)}),
        ]
        if now is not None:
            lines.append(Msg("digest.rank", {"rank": now, "ranked": len(ranks.after_sorted), "change": _change(now, was)}))
        lines += await self._pnl_lines(user_id)
        lines.append(Msg("digest.settings"))
        return Reply.of(*lines)

    async def _pnl_lines(self, user_id: int) -> list[Msg]:
        """Each filled index's PnL so far, realized and unrealized together (average cost), the user's transfers
        reconciled first; none while unpriced."""
        try:
            if self._settle is not None:
                await self._settle(user_id)
            pnl = await self._pnl(user_id)
        except Exception:  # noqa: BLE001 - the digest goes out without PnL rather than not at all
            log.warning("digest: PnL of user %s unreadable", user_id, exc_info=True)
            return []
        return [Msg("digest.pnl", {"index": p.index, "usd": Usd(total), "pct": Pct(p.pct(total) or Decimal(0), signed=True)})
                for p in pnl.values() if (total := p.total) is not None]

    async def _day_ranks(self, epoch: str, day: date) -> DayRanks:
        if self._ranks is not None and self._ranks[0] == (epoch, day):
            return self._ranks[1]
        rows = await self._points.ledger.totals_with_day(epoch, day)
        after = {user: total for user, total, _ in rows if total > 0}
        before = {user: total - of_day for user, total, of_day in rows if total - of_day > 0}
        ranks = DayRanks(after, before, sorted(-p for p in after.values()), sorted(-p for p in before.values()))
        self._ranks = ((epoch, day), ranks)
        return ranks


def _change(now: int, was: int | None) -> Msg:
    if was is None:
        return Msg("digest.rank.new")
    if now < was:
        return Msg("digest.rank.up", {"places": was - now})
    if now > was:
        return Msg("digest.rank.down", {"places": now - was})
    return Msg("digest.rank.same")
