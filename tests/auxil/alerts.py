"""The alert machinery as the bot builds it, for tests that drive one part by hand."""

from __future__ import annotations

from bot.delivery.alerts.rebalance import RebalanceWatcher
from bot.delivery.alerts.reserves import ReservesWatcher
from bot.market.reserves import ReserveReader
from bot.storage.reserves import ReserveStateRows
from bot.app import App
from bot.storage.market_alerts import PriceAlertRows, RebalanceRows


def watcher(app: App) -> RebalanceWatcher:
    """A rebalance watcher on the app's database, chain, market and outbox."""
    return RebalanceWatcher(RebalanceRows(app.db), PriceAlertRows(app.db), app.chain, app.services.market, app.profile,
                            app.outbox, app.config.alerts)


def reserves_watcher(app: App) -> ReservesWatcher:
    """The proof-of-reserves watcher as the app builds it (its holders are the rebalance watcher's)."""
    return ReservesWatcher(ReserveReader(app.services.market), ReserveStateRows(app.db), watcher(app).holders, app.outbox)
