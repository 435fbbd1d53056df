"""The devnet's faucet: mints USDC and SOSO and adds ETH to an address through the operator (bot.faucet.Faucet)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from bot.faucet import Grant
from bot.chain.profile import Profile
from devnet import operator
from devnet.rpc import Sender, connect, contract


class DevnetFaucet:
    def __init__(self, profile: Profile, eth: Decimal = Decimal(1), usdc: Decimal = Decimal(10_000), soso: Decimal = Decimal(1_000),
                 after: Callable[[], Awaitable[Any]] | None = None) -> None:
        self._profile = profile
        self._after = after  # e.g. a head poll, so what the user reads next includes the grant
        self._grant = Grant(eth=eth, usdc=usdc, soso=soso if profile.soso else Decimal(0))
        self._lock = asyncio.Lock()  # one deployer key: concurrent mints would pick the same nonce

    async def fund(self, address: str) -> Grant:
        async with self._lock:
            await operator.fund(self._profile, address, usdc=self._grant.usdc, eth=self._grant.eth)
            if self._profile.soso and self._grant.soso > 0:
                await self._mint_soso(address)
        if self._after is not None:
            await self._after()
        return self._grant

    async def _mint_soso(self, address: str) -> None:
        soso = self._profile.soso
        assert soso is not None
        async with connect(self._profile.rpc_urls[0]) as w3:
            token = contract(w3, "TestToken", soso.address)
            units = int(self._grant.soso.scaleb(soso.decimals).to_integral_value())
            await Sender(w3, chain_id=self._profile.chain_id).transact(token.functions.mint(address, units))
