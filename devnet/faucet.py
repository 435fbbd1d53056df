"""The devnet's faucet: mints USDC and adds ETH to an address through the operator (bot.faucet.Faucet)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.faucet import Grant
from bot.profile import Profile
from devnet import operator


class DevnetFaucet:
    def __init__(self, profile: Profile, eth: Decimal = Decimal(1), usdc: Decimal = Decimal(10_000)) -> None:
        self._profile = profile
        self._grant = Grant(eth=eth, usdc=usdc)
        self._lock = asyncio.Lock()  # one deployer key: concurrent mints would pick the same nonce

    async def fund(self, address: str) -> Grant:
        async with self._lock:
            await operator.fund(self._profile, address, usdc=self._grant.usdc, eth=self._grant.eth)
        return self._grant
