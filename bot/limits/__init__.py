"""Orders that act by themselves: limit buys and sells on the pool price, stop-loss and take-profit on NAV."""
