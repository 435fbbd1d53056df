"""A faucet: something that gives an address test funds. Only the devnet has one (devnet/faucet.py); the
composition root (bot.app) passes it in on the devnet and nowhere else, so `/faucet` exists only there."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class Grant:
    """What one faucet call gave."""

    eth: Decimal
    usdc: Decimal
    soso: Decimal = Decimal(0)  # so a devnet user can try /boost add


class Faucet(Protocol):
    async def fund(self, address: str) -> Grant:
        """Send test ETH, USDC and SOSO to `address`; returns the amounts once they are on-chain."""
        ...
