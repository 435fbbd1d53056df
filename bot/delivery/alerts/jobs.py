"""The market alerts' timed jobs: `alerts:rebalance` and `alerts:prices`, re-created at every start-up."""

from __future__ import annotations

from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.alerts.config import AlertsConfig
from bot.delivery.alerts.prices import PriceAlerts
from bot.delivery.alerts.rebalance import RebalanceWatcher
from bot.delivery.schedule import Schedule

REBALANCE_JOB = "alerts:rebalance"
PRICES_JOB = "alerts:prices"


def schedule_market_alerts(schedule: Schedule, config: AlertsConfig, rebalances: RebalanceWatcher, prices: PriceAlerts) -> None:
    """Register the start-up step: set the rebalance cursors of new index tokens at the head, then (re)place both
    interval jobs. A run still going when the next is due is not doubled (the schedule's max_instances=1)."""

    async def make_jobs() -> None:
        schedule.put(REBALANCE_JOB, IntervalTrigger(seconds=config.rebalance_every_seconds), rebalances.check)
        schedule.put(PRICES_JOB, IntervalTrigger(seconds=config.prices_every_seconds), prices.check)
        await rebalances.start()

    schedule.rebuild(make_jobs)
