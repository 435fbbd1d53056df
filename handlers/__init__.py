"""Chat features, one module each, platform-neutral: each parses a request, calls the core, builds a reply.

Every module has `register(router, services)`, a short table of its top-level handler functions; `register_all`
wires them in menu order (the order /help and the platforms' command menus show). What several features share
lives in `handlers.shared`; no feature module imports another (an import-linter contract).
"""

from __future__ import annotations

from bot.core.router import Router
from bot.services import Services
from handlers import help as help_feature
from handlers import alert, alerts, privately, suggestions
from handlers import (announce, boost, chart, connect, cooldown, dca, faucet, history, home, indexes, invite, lang, leaderboard, limits, order_buttons, orders, pin, pnl, points,
                      positions, quote, reserves, settings, share, slippage, stake, stake_menu, start, timezone, trade, trade_menu, wallet, withdraw)

FEATURES = (start, home, indexes, reserves, chart, quote, wallet, connect, faucet, pin, trade, trade_menu, orders, limits, order_buttons, slippage, settings, withdraw, stake, stake_menu, cooldown, dca, alert,
            alerts, positions, pnl, share, history, boost, points, leaderboard, invite, timezone, lang, announce, help_feature, privately, suggestions)


def register_all(router: Router, services: Services) -> None:
    for feature in FEATURES:
        feature.register(router, services)
