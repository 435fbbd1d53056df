"""DCA plans and their runs (bot/dca): a plan's state only moves active <-> paused -> cancelled; one run row per
(plan, due time), written before the buy, so a run fired twice buys once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

from bot.storage.db import Database

_COLUMNS = ("id, user_id, token, usdc_units, cadence, at_minute, weekday, zone, platform, chat_id, state, failures, "
            "created_at")


@dataclass(frozen=True)
class NewPlan:
    user_id: int
    token: str  # index symbol
    usdc_units: int
    cadence: str  # daily, weekly
    at_minute: int  # minutes after local midnight
    weekday: int | None  # 0 = Monday; weekly plans only
    zone: str
    platform: str
    chat_id: str


@dataclass(frozen=True)
class Plan(NewPlan):
    id: int
    state: str  # active, paused, cancelled
    failures: int  # in a row
    created_at: int


@dataclass(frozen=True)
class Run:
    plan_id: int
    due_at: int
    intent_id: int | None
    outcome: str | None  # None while running; done, failed
    error: str | None


def _plan(r: aiosqlite.Row) -> Plan:
    return Plan(id=int(r[0]), user_id=int(r[1]), token=str(r[2]), usdc_units=int(r[3]), cadence=str(r[4]),
                at_minute=int(r[5]), weekday=None if r[6] is None else int(r[6]), zone=str(r[7]), platform=str(r[8]),
                chat_id=str(r[9]), state=str(r[10]), failures=int(r[11]), created_at=int(r[12]))


class DcaPlanRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    # -- plans ---------------------------------------------------------------------------------------------

    async def create(self, plan: NewPlan, now: int | None = None) -> int:
        p = plan
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                """INSERT INTO dca_plans (user_id, token, usdc_units, cadence, at_minute, weekday, zone, platform,
                                          chat_id, state, failures, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 0, ?) RETURNING id""",
                (p.user_id, p.token, p.usdc_units, p.cadence, p.at_minute, p.weekday, p.zone, p.platform, p.chat_id,
                 int(self._clock()) if now is None else now),
            )
        assert row is not None
        return int(row[0])

    async def get(self, plan_id: int) -> Plan | None:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM dca_plans WHERE id = ?", (plan_id,))
        return _plan(row) if row else None

    async def of_user(self, user_id: int) -> list[Plan]:
        """The user's plans that are not cancelled, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM dca_plans WHERE user_id = ? AND state != 'cancelled' ORDER BY id", (user_id,))
        return [_plan(r) for r in rows]

    async def active(self) -> list[Plan]:
        return [_plan(r) for r in await self._db.fetch_all(f"SELECT {_COLUMNS} FROM dca_plans WHERE state = 'active'")]

    async def move(self, plan_id: int, user_id: int, from_states: tuple[str, ...], to: str) -> bool:
        """Compare-and-set the plan's state; resuming also clears the failure count. False when it was not in
        `from_states` (or is not the user's)."""
        marks = ", ".join("?" for _ in from_states)
        reset = ", failures = 0" if to == "active" else ""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE dca_plans SET state = ?{reset} WHERE id = ? AND user_id = ? AND state IN ({marks})",
                (to, plan_id, user_id, *from_states))
        return changed == 1

    async def failed(self, plan_id: int, pause_at: int) -> Plan | None:
        """Count one more failure in a row; the plan pauses when the count reaches `pause_at`."""
        async with self._db.transaction() as tx:
            await tx.execute(
                """UPDATE dca_plans SET failures = failures + 1,
                          state = CASE WHEN failures + 1 >= ? AND state = 'active' THEN 'paused' ELSE state END
                   WHERE id = ?""", (pause_at, plan_id))
            row = await tx.fetch_one(f"SELECT {_COLUMNS} FROM dca_plans WHERE id = ?", (plan_id,))
        return _plan(row) if row else None

    async def succeeded(self, plan_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE dca_plans SET failures = 0 WHERE id = ?", (plan_id,))

    # -- runs ----------------------------------------------------------------------------------------------

    async def start_run(self, plan_id: int, due_at: int) -> bool:
        """Claim the run (plan, due time); False when it was claimed before (a second firing, a restart)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute("INSERT INTO dca_runs (plan_id, due_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                       (plan_id, due_at))
        return changed == 1

    async def run_intent(self, plan_id: int, due_at: int, intent_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE dca_runs SET intent_id = ? WHERE plan_id = ? AND due_at = ?", (intent_id, plan_id, due_at))

    async def finish_run(self, plan_id: int, due_at: int, outcome: str, error: str | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE dca_runs SET outcome = ?, error = ? WHERE plan_id = ? AND due_at = ?",
                             (outcome, error, plan_id, due_at))

    async def runs(self, plan_id: int) -> list[Run]:
        rows = await self._db.fetch_all(
            "SELECT plan_id, due_at, intent_id, outcome, error FROM dca_runs WHERE plan_id = ? ORDER BY due_at", (plan_id,))
        return [Run(int(r[0]), int(r[1]), None if r[2] is None else int(r[2]), r[3], r[4]) for r in rows]
