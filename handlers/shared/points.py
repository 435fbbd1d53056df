"""How every points reply shows points."""

from decimal import Decimal

from bot.core.messages import Amount


def shown(value: Decimal) -> Amount:
    """Points as every points reply shows them: to the ledger's milli-points, trailing zeros dropped."""
    return Amount(value, 3)
