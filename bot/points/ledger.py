"""The points ledger: append-only rows, credited a day at a time by set-based SQL, never twice.

`credit(day)` turns the day's holdings (written by the snapshot) into ledger rows in one transaction:
held / staked / locked at their base multipliers, the boost on top (base × level, capped per index, minus
base), invitees' first qualifying day (self-referrals voided, welcome bonus), the referrers' share, and the
epoch totals. The day's `point_snapshots` row moves from `reading` to `credited` first, in that same transaction
(a conditional UPDATE: only the run that moves it writes anything), and every row has the unique key (user, day,
source, reason): running a day again, after a crash, twice by mistake or on two workers, credits nothing twice.
A correction is a new row (`correct`), never an edit. The SQL is in bot.storage.points.

Units: USD in integer 1e-4 units (`usd_e4`), points in integer milli-points, multipliers in thousandths; `Decimal` only at
the edges (`Points.of`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.points.boost import BoostTable
from bot.points.config import PointsConfig
from bot.storage.db import Database
from bot.storage.points import CreditRules, PointRows

MILLI = 1000


def milli(value: Decimal) -> int:
    return int((value * MILLI).to_integral_value())


def points_of(milli_points: int) -> Decimal:
    return Decimal(milli_points).scaleb(-3)


@dataclass(frozen=True)
class Standing:
    """A user's place in an epoch."""

    epoch: str
    points: Decimal  # this epoch
    all_time: Decimal
    rank: int | None  # None: no points this epoch yet
    ranked: int  # how many users have points this epoch


@dataclass(frozen=True)
class Leader:
    rank: int
    user_id: int
    name: str | None  # the /name the user chose; None: show them anonymized
    points: Decimal


@dataclass(frozen=True)
class ReferralSummary:
    joined: int
    active: int  # qualified and not voided
    epoch_points: Decimal
    total_points: Decimal


class Ledger:
    def __init__(self, db: Database, table: BoostTable, config: PointsConfig, clock: Callable[[], float] = time.time) -> None:
        self._rows = PointRows(db, clock)
        self._table = table
        self._config = config

    def _rules(self) -> CreditRules:
        t, c = self._table, self._config
        return CreditRules(
            base={"held": milli(t.held), "staked": milli(t.staked), "locked": milli(c.locked)},
            levels=[(int(lv.min_ratio * 1_000_000), milli(lv.boost)) for lv in t.levels],
            caps={k: milli(v) for k, v in t.caps.items()},
            cap=milli(t.cap),
            welcome=milli(c.welcome_bonus),
            share_ppm=int(c.referral_share * 1_000_000),
        )

    async def credit(self, day: date) -> bool:
        """Credit `day` from its holdings; False (and nothing written) when it is credited already or unread."""
        return await self._rows.credit(day.isoformat(), self._rules())

    async def correct(self, user_id: int, day: date, points: Decimal, note: str) -> bool:
        """Append a correction (positive or negative) and its effect on the totals; False if that very
        correction (user, day, note) exists already."""
        epoch = self._config.epoch_of(day).name
        return await self._rows.correct(user_id, day.isoformat(), epoch, "correction", note, milli(points))

    # -- reading -------------------------------------------------------------------------------------

    async def standing(self, user_id: int, epoch: str) -> Standing:
        row = await self._rows.standing(user_id, epoch)
        return Standing(epoch, points_of(row.points), points_of(row.all_time), row.rank, row.ranked)

    async def day_breakdown(self, user_id: int, day: date) -> dict[str, Decimal]:
        """The points credited to `user_id` for `day`, by source (referral and bonus rows summed per source)."""
        return {source: points_of(m) for source, m in (await self._rows.day_by_source(user_id, day.isoformat())).items()}

    async def totals_with_day(self, epoch: str, day: date) -> list[tuple[int, int, int]]:
        """Every user with points in `epoch`: (user, epoch total, credited for `day`), in milli-points. One scan:
        the daily digest ranks everyone before and after a day from it (bot.delivery.alerts.digest)."""
        return await self._rows.totals_with_day(epoch, day.isoformat())

    async def last_credited_day(self) -> date | None:
        day = await self._rows.last_credited_day()
        return date.fromisoformat(day) if day else None

    async def daily(self, user_id: int, epoch: str) -> list[tuple[date, Decimal]]:
        """Points per credited day of `epoch`, oldest first (the chart)."""
        return [(date.fromisoformat(d), points_of(m)) for d, m in await self._rows.daily(user_id, epoch)]

    async def leaders(self, epoch: str, limit: int = 20) -> list[Leader]:
        out: list[Leader] = []
        for i, r in enumerate(await self._rows.leaders(epoch, limit)):
            rank = out[-1].rank if out and milli(out[-1].points) == r.points else i + 1  # ties share a rank
            out.append(Leader(rank, r.user_id, r.name, points_of(r.points)))
        return out

    async def referral_summary(self, referrer_id: int, epoch: str) -> ReferralSummary:
        joined, active, epoch_points, total_points = await self._rows.referral_counts(referrer_id, epoch)
        return ReferralSummary(joined, active, points_of(epoch_points), points_of(total_points))
