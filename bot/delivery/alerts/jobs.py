"""The market's timed jobs: `alerts:rebalance`, `alerts:prices`, `alerts:reserves` and `charts:nav` (the NAV samples
/chart draws), re-created at every start-up."""

from __future__ import annotations

from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.alerts.config import AlertsConfig
from bot.delivery.alerts.prices import PriceAlerts
from bot.delivery.alerts.rebalance import RebalanceWatcher
from bot.delivery.alerts.reserves import ReservesWatcher
from bot.delivery.schedule import Schedule
from bot.market.history import NavHistory

REBALANCE_JOB = "alerts:rebalance"
PRICES_JOB = "alerts:prices"
RESERVES_JOB = "alerts:reserves"
NAV_JOB = "charts:nav"


def schedule_market_alerts(schedule: Schedule, config: AlertsConfig, rebalances: RebalanceWatcher, prices: PriceAlerts) -> None:
    """Register the start-up step: set the rebalance cursors of new index tokens at the head, then (re)place both
    interval jobs. A run still going when the next is due is not doubled (the schedule's max_instances=1)."""

    async def make_jobs() -> None:
        schedule.put(REBALANCE_JOB, IntervalTrigger(seconds=config.rebalance_every_seconds), rebalances.check)
        schedule.put(PRICES_JOB, IntervalTrigger(seconds=config.prices_every_seconds), prices.check)
        await rebalances.start()

    schedule.rebuild(make_jobs)


def schedule_reserves(schedule: Schedule, config: AlertsConfig, reserves: ReservesWatcher) -> None:
    """(Re)place the proof-of-reserves interval job at start-up."""

    async def make_jobs() -> None:
        schedule.put(RESERVES_JOB, IntervalTrigger(seconds=config.reserves_every_seconds), reserves.check)

    schedule.rebuild(make_jobs)


def schedule_nav_samples(schedule: Schedule, history: NavHistory) -> None:
    """(Re)place the NAV sampling job at start-up: once per interval across a fleet (a durable schedule's periodic job)."""

    async def make_jobs() -> None:
        schedule.put(NAV_JOB, IntervalTrigger(seconds=history.every_seconds), history.sample)

    schedule.rebuild(make_jobs)
