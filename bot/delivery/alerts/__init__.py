"""Alerts nobody asked for at that moment: rebalances, prices, cooldown ends, the daily points digest."""
