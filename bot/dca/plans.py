"""DCA plans: set up, list, pause, resume, cancel, and the scheduled run that buys.

A plan buys `usdc_units` of USDC worth of an index daily or weekly at a local time in its zone (job `dca:<plan>`,
a `CronTrigger` in that zone; re-created from the active plans at start-up, removed on pause and cancel). Only
custodial wallets: a connected wallet signs every transaction itself, which a schedule cannot wait for.

A run is a normal buy intent through the pipeline (`Executor.quote_swap` then `confirm`, with the user's
slippage), or, for an index issued by a factory (MAG7.nex), an issuance request on that index's chain
(`Issuance.request` then its desk's `confirm`), pending until the factory fills it and told then like any
request; its progress and outcome go to the plan's chat like any trade. The run row (plan, due time) is
written before the intent, so a job fired twice, or a restart in the middle of a run, never buys twice. A run
that fails (the `UserError` the pipeline raised: balance short, no ETH for gas, price moved, chain down) tells
the user why through the outbox; `PAUSE_AFTER` failures in a row pause the plan and say so, a success resets the
count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

from web3.exceptions import Web3RPCError

from bot.chain.client import ChainUnavailable
from bot.core.amounts import from_base_units, to_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Count, Msg, Reply
from bot.dca.cadence import clock_text, last_due, next_run, trigger
from bot.issuance.venue import Issuance
from bot.delivery.outbox import Outbox
from bot.chain.profile import IndexRef, Profile
from bot.delivery.schedule import Schedule
from bot.storage.dca import DcaPlanRows, NewPlan, Plan
from bot.trading.executor import Executor
from bot.trading.status import TradeStatus
from bot.trading.present import status_reply

log = logging.getLogger(__name__)

PAUSE_AFTER = 3  # failures in a row
MAX_PLANS = 10  # per user, active and paused


def job_name(plan_id: int) -> str:
    return f"dca:{plan_id}"


class Dca:
    def __init__(self, plans: DcaPlanRows, trading: Executor, outbox: Outbox, schedule: Schedule, profile: Profile,
                 clock: Callable[[], float] = time.time, issuance: Issuance | None = None) -> None:
        self.plans = plans
        self.trading = trading
        self.outbox = outbox
        self.schedule = schedule
        self.profile = profile
        self.clock = clock
        self.issuance = issuance  # issued indexes, each bought by a request on its own chain

    def index(self, symbol: str) -> IndexRef:
        """The plan's index: the home chain's, or one issued by a factory on any loaded chain."""
        issued = {ref.symbol: ref for ref in self.issuance.indexes} if self.issuance else {}
        return issued.get(symbol) or self.profile.index(symbol)

    def usdc_decimals(self, symbol: str) -> int:
        """The decimals of the USDC that buys this index (its own chain's)."""
        ref = self.index(symbol)
        chain = self.issuance.chain_of(ref) if self.issuance and ref.venue == "issuance" else self.profile
        return chain.usdc.decimals

    # -- setting up and managing -------------------------------------------------------------------------

    async def check_wallet(self, user_id: int) -> None:
        """Refuse a user without a wallet, who trades from a connected one, or whose wallet cannot trade yet."""
        who = await self.trading.sender(user_id)
        if who.kind != "custodial":
            raise UserError("dca.error.connected")
        await self.trading.ready(user_id, who)

    async def create(self, user_id: int, ref: IndexRef, usdc: Decimal, cadence: str, at_minute: int,
                     weekday: int | None, zone: str, platform: str, chat_id: str) -> Plan:
        await self.check_wallet(user_id)
        if len(await self.plans.of_user(user_id)) >= MAX_PLANS:
            raise UserError("dca.error.too_many", count=Count(MAX_PLANS))
        units = to_base_units(usdc, self.usdc_decimals(ref.symbol))
        new = NewPlan(user_id, ref.symbol, units, cadence, at_minute, weekday if cadence == "weekly" else None, zone,
                      platform, chat_id)
        made = await self.plans.create(new, int(self.clock()), limit=MAX_PLANS)  # the check above, again, atomically
        if made is None:
            raise UserError("dca.error.too_many", count=Count(MAX_PLANS))
        plan = await self.plans.get(made)
        assert plan is not None
        self._put_job(plan)
        return plan

    async def of_user(self, user_id: int) -> list[Plan]:
        return await self.plans.of_user(user_id)

    async def owned(self, plan_id: int, user_id: int) -> Plan:
        plan = await self.plans.get(plan_id)
        if plan is None or plan.user_id != user_id or plan.state == "cancelled":
            raise UserError("dca.error.plan", value=str(plan_id))
        return plan

    async def pause(self, plan_id: int, user_id: int) -> Plan:
        return await self._move(plan_id, user_id, ("active",), "paused")

    async def resume(self, plan_id: int, user_id: int) -> Plan:
        return await self._move(plan_id, user_id, ("paused",), "active")

    async def cancel(self, plan_id: int, user_id: int) -> Plan:
        return await self._move(plan_id, user_id, ("active", "paused"), "cancelled")

    async def _move(self, plan_id: int, user_id: int, from_states: tuple[str, ...], to: str) -> Plan:
        plan = await self.owned(plan_id, user_id)
        if not await self.plans.move(plan.id, user_id, from_states, to):
            current = await self.owned(plan_id, user_id)
            raise UserError("dca.error.state", id=plan.id, state=Msg(f"dca.state.{current.state}"))
        moved = await self.plans.get(plan.id)
        assert moved is not None
        if to == "active":
            self._put_job(moved)
        else:
            self.schedule.remove(job_name(plan.id))
        return moved

    def next_run(self, plan: Plan) -> int | None:
        return next_run(plan, self.clock()) if plan.state == "active" else None

    # -- scheduling ----------------------------------------------------------------------------------------

    def _put_job(self, plan: Plan) -> None:
        self.schedule.put(job_name(plan.id), trigger(plan), self.run, plan.id)

    async def rebuild(self) -> None:
        """Start-up: a job for every active plan."""
        for plan in await self.plans.active():
            self._put_job(plan)

    # -- running -------------------------------------------------------------------------------------------

    async def run(self, plan_id: int) -> str:
        """The `dca:<plan>` job: buy once for the run due now. "done", "failed", or "skipped" (not active, or
        this run was claimed before)."""
        plan = await self.plans.get(plan_id)
        if plan is None or plan.state != "active":
            return "skipped"
        due = last_due(plan, self.clock())
        if not await self.plans.start_run(plan.id, due):
            log.info("dca plan %s: the run due %s ran already", plan.id, due)
            return "skipped"
        try:
            status = await self._buy(plan, due)
        except UserError as exc:
            return await self._failed(plan, due, exc.key, [exc.msg])
        except (ChainUnavailable, Web3RPCError):
            return await self._failed(plan, due, "error.chain.unavailable", [Msg("error.chain.unavailable")])
        except Exception:
            log.exception("dca plan %s: the run due %s failed", plan.id, due)
            return await self._failed(plan, due, "error.internal", [Msg("error.internal")])
        if status.stage in ("reverted", "dropped", "expired"):
            return await self._failed(plan, due, f"trade.{status.stage}", list(status_reply(status, self.profile, self.trading.kinds).lines))
        await self.plans.finish_run(plan.id, due, "done")
        await self.plans.succeeded(plan.id)
        lines = (self._title(plan), *status_reply(status, self.profile, self.trading.kinds).lines)
        await self.outbox.put(plan.user_id, Reply.of(*lines), "dca", key=f"dca:{plan.id}:{due}")
        return "done"

    async def _buy(self, plan: Plan, due: int) -> TradeStatus:
        desk = self.trading
        who = await desk.sender(plan.user_id)
        if who.kind != "custodial":
            raise UserError("dca.error.connected")
        amount = from_base_units(plan.usdc_units, self.usdc_decimals(plan.token))
        ref = self.index(plan.token)
        if ref.venue == "issuance" and self.issuance is not None:
            intent_id, _ = await self.issuance.request(plan.user_id, plan.platform, plan.chat_id, ref, "buy", amount, who)
            desk = self.issuance.desk(ref)
        else:
            intent_id, _ = await desk.quote_swap(plan.user_id, plan.platform, plan.chat_id, ref, "buy", amount, who)
        await self.plans.run_intent(plan.id, due, intent_id)
        return await desk.confirm(intent_id, plan.user_id, None, plan.chat_id)

    async def _failed(self, plan: Plan, due: int, error: str, why: list[Msg]) -> str:
        await self.plans.finish_run(plan.id, due, "failed", error)
        after = await self.plans.failed(plan.id, PAUSE_AFTER)
        lines = [self._title(plan), Msg("dca.run.failed"), *why]
        buttons: tuple[tuple[Button, ...], ...] = ()
        if after is not None and after.state == "paused" and after.failures >= PAUSE_AFTER:
            self.schedule.remove(job_name(plan.id))
            lines.append(Msg("dca.run.paused", {"count": Count(after.failures), "id": plan.id}))
            buttons = ((Button(Msg("dca.button.resume", {"id": plan.id}), "dca.resume", (str(plan.id),)),),)
        await self.outbox.put(plan.user_id, Reply.of(*lines, buttons=buttons), "dca", key=f"dca:{plan.id}:{due}")
        return "failed"

    def _title(self, plan: Plan) -> Msg:
        amount = Amount(from_base_units(plan.usdc_units, self.usdc_decimals(plan.token)), 6)
        return Msg("dca.run.title", {"id": plan.id, "amount": amount, "index": plan.token})


def cadence_msg(plan: NewPlan) -> Msg:
    """`daily at 09:00 (Asia/Shanghai)` / `every Monday at 09:00 (UTC)`."""
    at = clock_text(plan.at_minute)
    if plan.cadence == "weekly" and plan.weekday is not None:
        return Msg("dca.cadence.weekly", {"weekday": Msg(f"dca.weekday.{plan.weekday}"), "time": at, "zone": plan.zone})
    return Msg("dca.cadence.daily", {"time": at, "zone": plan.zone})
