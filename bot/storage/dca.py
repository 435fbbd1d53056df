"""DCA plans and their runs (bot/dca): a plan's state only moves active <-> paused -> cancelled; one run row per
(plan, due time), written before the buy, so a run fired twice buys once, on one process or on two (the row's
primary key decides: INSERT ... ON CONFLICT DO NOTHING, and the row count says who claimed it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, case, func, literal, select, update

from bot.storage.db import Database
from bot.storage.schema import dca_plans, dca_runs, users

_p, _r = dca_plans.c, dca_runs.c
_PLAN_COLUMNS = (_p.id, _p.user_id, _p.token, _p.usdc_units, _p.cadence, _p.at_minute, _p.weekday, _p.zone, _p.platform,
                 _p.chat_id, _p.state, _p.failures, _p.created_at)
_PLANS = select(*_PLAN_COLUMNS)


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


def _plan(r: Row[Any]) -> Plan:
    return Plan(id=int(r.id), user_id=int(r.user_id), token=str(r.token), usdc_units=int(r.usdc_units),
                cadence=str(r.cadence), at_minute=int(r.at_minute), weekday=None if r.weekday is None else int(r.weekday),
                zone=str(r.zone), platform=str(r.platform), chat_id=str(r.chat_id), state=str(r.state),
                failures=int(r.failures), created_at=int(r.created_at))


class DcaPlanRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    # -- plans ---------------------------------------------------------------------------------------------

    async def create(self, plan: NewPlan, now: int | None = None, *, limit: int | None = None) -> int | None:
        """Store a new active plan; None when the user already has `limit` plans that are not cancelled. The count
        and the insert are one transaction under the user's row lock (PostgreSQL; SQLite's one writer on its own), so
        two plans made at once from two chats or two workers cannot pass the limit together."""
        p = plan
        async with self._db.transaction() as tx:
            if limit is not None:
                await tx.lock(select(users.c.id).where(users.c.id == p.user_id), key_share=True)
                held = await tx.scalar(select(func.count()).select_from(dca_plans)
                                       .where(_p.user_id == p.user_id, _p.state != "cancelled"))
                if int(held or 0) >= limit:
                    return None
            made = await tx.scalar(
                tx.insert(dca_plans).values(
                    user_id=p.user_id, token=p.token, usdc_units=p.usdc_units, cadence=p.cadence, at_minute=p.at_minute,
                    weekday=p.weekday, zone=p.zone, platform=p.platform, chat_id=p.chat_id, state="active", failures=0,
                    created_at=int(self._clock()) if now is None else now,
                ).returning(_p.id)
            )
        assert made is not None
        return int(made)

    async def get(self, plan_id: int) -> Plan | None:
        row = await self._db.fetch_one(_PLANS.where(_p.id == plan_id))
        return _plan(row) if row else None

    async def of_user(self, user_id: int) -> list[Plan]:
        """The user's plans that are not cancelled, oldest first."""
        rows = await self._db.fetch_all(_PLANS.where(_p.user_id == user_id, _p.state != "cancelled").order_by(_p.id))
        return [_plan(r) for r in rows]

    async def active(self) -> list[Plan]:
        return [_plan(r) for r in await self._db.fetch_all(_PLANS.where(_p.state == "active").order_by(_p.id))]

    async def move(self, plan_id: int, user_id: int, from_states: tuple[str, ...], to: str) -> bool:
        """Compare-and-set the plan's state; resuming also clears the failure count. False when it was not in
        `from_states` (or is not the user's)."""
        values: dict[str, Any] = {"state": to}
        if to == "active":
            values["failures"] = 0
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                update(dca_plans).where(_p.id == plan_id, _p.user_id == user_id, _p.state.in_(from_states)).values(values))
        return changed == 1

    async def failed(self, plan_id: int, pause_at: int) -> Plan | None:
        """Count one more failure in a row; the plan pauses when the count reaches `pause_at`. One UPDATE ...
        RETURNING: the count grows in the database (no read-then-write), and the plan returned is as it left."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                update(dca_plans).where(_p.id == plan_id)
                .values(failures=_p.failures + 1,
                        state=case((and_(_p.failures + 1 >= pause_at, _p.state == "active"), "paused"), else_=_p.state))
                .returning(*_PLAN_COLUMNS))
        return _plan(row) if row else None

    async def succeeded(self, plan_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(update(dca_plans).where(_p.id == plan_id).values(failures=0))

    # -- runs ----------------------------------------------------------------------------------------------

    async def start_run(self, plan_id: int, due_at: int) -> bool:
        """Claim the run (plan, due time) of an active plan; False when it was claimed before (a second firing, a
        restart, another process's job) or the plan is no longer active. One statement, INSERT ... SELECT from the
        active plan ... ON CONFLICT DO NOTHING on the run's primary key: of two processes claiming the same slot
        the second waits for the first's row and inserts nothing (row count 0), and a plan paused or cancelled
        after the job read it is not run."""
        active = select(literal(plan_id, _r.plan_id.type), literal(due_at, _r.due_at.type)).where(
            _p.id == plan_id, _p.state == "active")
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                tx.insert(dca_runs).from_select([_r.plan_id, _r.due_at], active)
                .on_conflict_do_nothing(index_elements=[_r.plan_id, _r.due_at])
                .execution_options(preserve_rowcount=True))  # psycopg's INSERT row count, kept (else -1)
        return changed == 1

    async def run_intent(self, plan_id: int, due_at: int, intent_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(update(dca_runs).where(_r.plan_id == plan_id, _r.due_at == due_at).values(intent_id=intent_id))

    async def finish_run(self, plan_id: int, due_at: int, outcome: str, error: str | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                update(dca_runs).where(_r.plan_id == plan_id, _r.due_at == due_at).values(outcome=outcome, error=error))

    async def runs(self, plan_id: int) -> list[Run]:
        rows = await self._db.fetch_all(
            select(_r.plan_id, _r.due_at, _r.intent_id, _r.outcome, _r.error).where(_r.plan_id == plan_id)
            .order_by(_r.due_at))
        return [Run(int(r.plan_id), int(r.due_at), None if r.intent_id is None else int(r.intent_id), r.outcome, r.error)
                for r in rows]
