"""The portfolio: the ledger of fills (what was paid and received), cost basis and PnL."""
