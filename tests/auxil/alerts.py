"""The alert machinery as the bot builds it, for tests that drive one part by hand."""

from __future__ import annotations

from bot.delivery.alerts.rebalance import RebalanceWatcher
from bot.app import App
from bot.storage.market_alerts import PriceAlertRows, RebalanceRows


def watcher(app: App) -> RebalanceWatcher:
    """A rebalance watcher on the app's database, chain, market and outbox."""
    return RebalanceWatcher(RebalanceRows(app.db), PriceAlertRows(app.db), app.chain, app.services.market, app.profile,
                            app.outbox, app.config.alerts)
