"""The points ledger: append-only rows, credited a day at a time by set-based SQL, never twice.

`credit(day)` turns the day's holdings (written by the snapshot) into ledger rows in one transaction:
held / staked / locked at their base multipliers, the boost on top (base × level, capped per index, minus
base), invitees' first qualifying day (self-referrals voided, welcome bonus), the referrers' share, and the
epoch totals. The day's `point_snapshots` row moves from `reading` to `credited` in that same transaction,
and every row has the unique key (user, day, source, reason): running a day again, after a crash, twice by
mistake or on two workers, credits nothing twice. A correction is a new row (`correct`), never an edit.

Units: USD in integer 1e-4 units (`usd_e4`), points in integer milli-points, multipliers in thousandths; `Decimal` only at
the edges (`Points.of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.points.boost import BoostTable
from bot.points.config import PointsConfig
from bot.storage.db import Database, Tx

MILLI = 1000
BASE_SOURCES = ("held", "staked", "locked", "boost")  # what a referrer earns a share of
CREDITED_SOURCES = (*BASE_SOURCES, "referral", "bonus")


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
    def __init__(self, db: Database, table: BoostTable, config: PointsConfig) -> None:
        self._db = db
        self._table = table
        self._config = config

    # -- crediting -----------------------------------------------------------------------------------

    async def credit(self, day: date) -> bool:
        """Credit `day` from its holdings; False (and nothing written) when it is credited already or unread."""
        d = day.isoformat()
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("SELECT state, epoch FROM point_snapshots WHERE day = ?", (d,))
            if row is None or row["state"] != "reading":
                return False
            epoch = str(row["epoch"])
            await self._load_rules(tx)
            await self._base_rows(tx, d, epoch)
            await self._boost_rows(tx, d, epoch)
            await self._qualify_invitees(tx, d, epoch)
            await self._referral_rows(tx, d, epoch)
            placeholders = ",".join("?" * len(CREDITED_SOURCES))
            await tx.execute(
                f"""INSERT INTO point_totals (user_id, epoch, points)
                    SELECT user_id, ?, SUM(points) FROM point_ledger
                    WHERE day = ? AND source IN ({placeholders}) GROUP BY user_id
                    ON CONFLICT (user_id, epoch) DO UPDATE SET points = points + excluded.points""",
                (epoch, d, *CREDITED_SOURCES),
            )
            await tx.execute("UPDATE point_snapshots SET state = 'credited', finished_at = CAST(strftime('%s','now') AS INTEGER) "
                             "WHERE day = ? AND state = 'reading'", (d,))
        return True

    async def _load_rules(self, tx: Tx) -> None:
        """The multipliers, levels and caps as temporary tables the credit's SQL joins against."""
        t = self._table
        await tx.execute("CREATE TEMP TABLE IF NOT EXISTS rule_base (source TEXT PRIMARY KEY, m INTEGER NOT NULL)")
        await tx.execute("CREATE TEMP TABLE IF NOT EXISTS rule_level (ppm INTEGER PRIMARY KEY, m INTEGER NOT NULL)")
        await tx.execute("CREATE TEMP TABLE IF NOT EXISTS rule_cap (index_symbol TEXT PRIMARY KEY, m INTEGER NOT NULL)")
        await tx.execute("CREATE TEMP TABLE IF NOT EXISTS day_boost (user_id INTEGER PRIMARY KEY, m INTEGER NOT NULL)")
        for name in ("rule_base", "rule_level", "rule_cap", "day_boost"):
            await tx.execute(f"DELETE FROM temp.{name}")
        await tx.executemany("INSERT INTO rule_base VALUES (?, ?)",
                             [("held", milli(t.held)), ("staked", milli(t.staked)), ("locked", milli(self._config.locked))])
        await tx.executemany("INSERT INTO rule_level VALUES (?, ?)",
                             [(int(lv.min_ratio * 1_000_000), milli(lv.boost)) for lv in t.levels])
        await tx.executemany("INSERT INTO rule_cap VALUES (?, ?)", [(k, milli(v)) for k, v in t.caps.items()])

    async def _base_rows(self, tx: Tx, d: str, epoch: str) -> None:
        # usd_e4 × thousandths = 1e-7 points; / 10000 = milli-points
        await tx.execute(
            """INSERT OR IGNORE INTO point_ledger (user_id, day, source, reason, epoch, points)
               SELECT h.user_id, h.day, h.source, 'daily', ?, SUM(h.usd_e4 * b.m) / 10000 AS pts
               FROM point_holdings h JOIN rule_base b ON b.source = h.source
               WHERE h.day = ? GROUP BY h.user_id, h.source HAVING pts > 0""",
            (epoch, d),
        )

    async def _boost_rows(self, tx: Tx, d: str, epoch: str) -> None:
        """Each user's level from SOSO staked value / index value (held + staked), then base × level capped."""
        await tx.execute(
            """INSERT INTO day_boost (user_id, m)
               SELECT i.user_id, (SELECT l.m FROM rule_level l WHERE COALESCE(s.v, 0) * 1000000 >= l.ppm * i.v
                                  ORDER BY l.ppm DESC LIMIT 1) AS m
               FROM (SELECT user_id, SUM(usd_e4) AS v FROM point_holdings
                     WHERE day = ? AND source IN ('held', 'staked') GROUP BY user_id) i
               LEFT JOIN (SELECT user_id, SUM(usd_e4) AS v FROM point_holdings
                          WHERE day = ? AND source = 'soso' GROUP BY user_id) s ON s.user_id = i.user_id
               WHERE i.v > 0 AND m IS NOT NULL""",
            (d, d),
        )
        await tx.execute(
            """INSERT OR IGNORE INTO point_ledger (user_id, day, source, reason, epoch, points)
               SELECT h.user_id, h.day, 'boost', 'daily', ?,
                      SUM(h.usd_e4 * (MIN(b.m * k.m / 1000, COALESCE(c.m, ?)) - b.m)) / 10000 AS pts
               FROM point_holdings h
               JOIN rule_base b ON b.source = h.source
               JOIN day_boost k ON k.user_id = h.user_id
               LEFT JOIN rule_cap c ON c.index_symbol = h.index_symbol
               WHERE h.day = ? GROUP BY h.user_id HAVING pts != 0""",
            (epoch, milli(self._table.cap), d),
        )

    async def _qualify_invitees(self, tx: Tx, d: str, epoch: str) -> None:
        """Invitees holding something for the first time qualify today, unless they share a wallet with anyone
        up their referral chain (the same person under another identity): then the referral is void."""
        # The day's holders are listed once (a non-correlated IN): a correlated EXISTS per referral walked all
        # of the day's holdings each time (point_holdings is keyed by day and address, not user): 200 s at 100,000 users.
        newly = """SELECT r.invitee_id FROM referrals r
                   WHERE r.qualified_day IS NULL AND r.void_reason IS NULL AND r.invitee_id IN (
                     SELECT h.user_id FROM point_holdings h WHERE h.day = ?
                     AND h.source IN ('held', 'staked', 'locked') AND h.usd_e4 > 0)"""
        await tx.execute(
            f"""UPDATE referrals SET void_reason = 'self' WHERE invitee_id IN (
                  WITH RECURSIVE up (invitee, ancestor, depth) AS (
                    SELECT invitee_id, referrer_id, 1 FROM referrals WHERE invitee_id IN ({newly})
                    UNION ALL
                    SELECT up.invitee, r.referrer_id, up.depth + 1 FROM up JOIN referrals r ON r.invitee_id = up.ancestor
                    WHERE up.depth < 64)
                  SELECT up.invitee FROM up
                  JOIN wallets wi ON wi.user_id = up.invitee
                  JOIN wallets wa ON wa.address = wi.address AND wa.user_id = up.ancestor)""",
            (d,),
        )
        await tx.execute(f"UPDATE referrals SET qualified_day = ? WHERE invitee_id IN ({newly})", (d, d))
        await tx.execute(
            """INSERT OR IGNORE INTO point_ledger (user_id, day, source, reason, epoch, points)
               SELECT invitee_id, ?, 'bonus', 'welcome', ?, ? FROM referrals
               WHERE qualified_day = ? AND void_reason IS NULL AND ? > 0""",
            (d, epoch, milli(self._config.welcome_bonus), d, milli(self._config.welcome_bonus)),
        )

    async def _referral_rows(self, tx: Tx, d: str, epoch: str) -> None:
        share_ppm = int(self._config.referral_share * 1_000_000)
        await tx.execute(
            """INSERT OR IGNORE INTO point_ledger (user_id, day, source, reason, epoch, points)
               SELECT r.referrer_id, ?, 'referral', 'invitee:' || r.invitee_id, ?, SUM(l.points) * ? / 1000000 AS pts
               FROM referrals r
               JOIN point_ledger l ON l.user_id = r.invitee_id AND l.day = ?
                                  AND l.source IN ('held', 'staked', 'locked', 'boost')
               WHERE r.qualified_day IS NOT NULL AND r.void_reason IS NULL
               GROUP BY r.invitee_id HAVING pts > 0""",
            (d, epoch, share_ppm, d),
        )

    async def correct(self, user_id: int, day: date, points: Decimal, note: str) -> bool:
        """Append a correction (positive or negative) and its effect on the totals; False if that very
        correction (user, day, note) exists already."""
        epoch = self._config.epoch_of(day).name
        async with self._db.transaction() as tx:
            added = await tx.execute(
                "INSERT OR IGNORE INTO point_ledger (user_id, day, source, reason, epoch, points) VALUES (?, ?, 'correction', ?, ?, ?)",
                (user_id, day.isoformat(), note, epoch, milli(points)),
            )
            if not added:
                return False
            await tx.execute(
                """INSERT INTO point_totals (user_id, epoch, points) VALUES (?, ?, ?)
                   ON CONFLICT (user_id, epoch) DO UPDATE SET points = points + excluded.points""",
                (user_id, epoch, milli(points)),
            )
        return True

    # -- reading -------------------------------------------------------------------------------------

    async def standing(self, user_id: int, epoch: str) -> Standing:
        row = await self._db.fetch_one("SELECT points FROM point_totals WHERE user_id = ? AND epoch = ?", (user_id, epoch))
        everything = await self._db.fetch_one("SELECT COALESCE(SUM(points), 0) FROM point_totals WHERE user_id = ?", (user_id,))
        ranked = await self._db.fetch_one("SELECT COUNT(*) FROM point_totals WHERE epoch = ? AND points > 0", (epoch,))
        mine = int(row[0]) if row else 0
        rank = None
        if mine > 0:
            above = await self._db.fetch_one("SELECT COUNT(*) FROM point_totals WHERE epoch = ? AND points > ?", (epoch, mine))
            rank = int(above[0]) + 1 if above else 1
        return Standing(epoch, points_of(mine), points_of(int(everything[0]) if everything else 0), rank,
                        int(ranked[0]) if ranked else 0)

    async def day_breakdown(self, user_id: int, day: date) -> dict[str, Decimal]:
        """The points credited to `user_id` for `day`, by source (referral and bonus rows summed per source)."""
        rows = await self._db.fetch_all(
            "SELECT source, SUM(points) FROM point_ledger WHERE user_id = ? AND day = ? GROUP BY source", (user_id, day.isoformat()))
        return {str(r[0]): points_of(int(r[1])) for r in rows}

    async def totals_with_day(self, epoch: str, day: date) -> list[tuple[int, int, int]]:
        """Every user with points in `epoch`: (user, epoch total, credited for `day`), in milli-points. One scan:
        the daily digest ranks everyone before and after a day from it (bot.delivery.alerts.digest)."""
        rows = await self._db.fetch_all(
            """SELECT t.user_id, t.points, COALESCE(d.points, 0) FROM point_totals t
               LEFT JOIN (SELECT user_id, SUM(points) AS points FROM point_ledger WHERE epoch = ? AND day = ?
                          GROUP BY user_id) d ON d.user_id = t.user_id
               WHERE t.epoch = ?""",
            (epoch, day.isoformat(), epoch),
        )
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def last_credited_day(self) -> date | None:
        row = await self._db.fetch_one("SELECT MAX(day) FROM point_snapshots WHERE state = 'credited'")
        return date.fromisoformat(row[0]) if row and row[0] else None

    async def daily(self, user_id: int, epoch: str) -> list[tuple[date, Decimal]]:
        """Points per credited day of `epoch`, oldest first (the chart)."""
        rows = await self._db.fetch_all(
            "SELECT day, SUM(points) FROM point_ledger WHERE user_id = ? AND epoch = ? GROUP BY day ORDER BY day",
            (user_id, epoch))
        return [(date.fromisoformat(r[0]), points_of(int(r[1]))) for r in rows]

    async def leaders(self, epoch: str, limit: int = 20) -> list[Leader]:
        rows = await self._db.fetch_all(
            """SELECT t.user_id, u.leaderboard_name, t.points FROM point_totals t JOIN users u ON u.id = t.user_id
               WHERE t.epoch = ? AND t.points > 0 ORDER BY t.points DESC, t.user_id LIMIT ?""",
            (epoch, limit),
        )
        out: list[Leader] = []
        for i, r in enumerate(rows):
            rank = out[-1].rank if out and milli(out[-1].points) == int(r[2]) else i + 1  # ties share a rank
            out.append(Leader(rank, int(r[0]), r[1], points_of(int(r[2]))))
        return out

    async def referral_summary(self, referrer_id: int, epoch: str) -> ReferralSummary:
        counts = await self._db.fetch_one(
            """SELECT COUNT(*), COALESCE(SUM(qualified_day IS NOT NULL AND void_reason IS NULL), 0)
               FROM referrals WHERE referrer_id = ?""", (referrer_id,))
        earned = await self._db.fetch_one(
            """SELECT COALESCE(SUM(CASE WHEN epoch = ? THEN points END), 0), COALESCE(SUM(points), 0)
               FROM point_ledger WHERE user_id = ? AND source = 'referral'""", (epoch, referrer_id))
        assert counts is not None and earned is not None
        return ReferralSummary(int(counts[0]), int(counts[1]), points_of(int(earned[0])), points_of(int(earned[1])))
