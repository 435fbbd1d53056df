"""A throwaway devnet for tests and the embedded default: fresh anvil on a free port, booted from the cache.

    devnet = await Devnet.start(tmp_path)
    ...  # devnet.url, devnet.profile, devnet.profile_path
    await devnet.stop()

`snapshot()` / `revert(id)` wrap evm_snapshot / evm_revert; anvil drops a snapshot once reverted to, so take
a new one after each revert.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.issuance.hours import MarketHours
from bot.profile import Profile, load_profile
from devnet import anvil as anvil_rpc
from devnet.anvil import CHAIN_ID, Anvil
from devnet.deploy import STOCKS_PROFILE, boot
from devnet.fulfil import Fulfiller
from devnet.hermes import HermesStandIn, chain_prices, point_profile
from devnet.rpc import connect


class Devnet:
    def __init__(self, anvil: Anvil, profile: Profile, profile_path: Path):
        self.anvil = anvil
        self.profile = profile
        self.profile_path = profile_path
        self._fulfilling: asyncio.Task[None] | None = None
        self.hermes: HermesStandIn | None = None  # the Hermes stand-in serving the devnet's Pyth prices

    @property
    def stocks_profile_path(self) -> Path:
        return self.profile_path.parent / STOCKS_PROFILE

    @property
    def stocks_profile(self) -> Profile:
        return load_profile(self.stocks_profile_path)

    async def fulfiller(self, hours: MarketHours | None = None) -> Fulfiller:
        """The stock index's fulfilment process over this devnet (`hours`: its market-hours window instead of the
        profile's); tests run its `step` or `run` themselves."""
        return Fulfiller(self.stocks_profile, hours)

    @property
    def url(self) -> str:
        return self.anvil.url

    @classmethod
    async def start(cls, workdir: Path, fulfil: bool = False, chain_id: int = CHAIN_ID) -> Devnet:
        """A fresh anvil booted to the deployed state; `fulfil`: with the stock index's fulfilment process
        running beside it (the embedded default devnet), stopped with it; `chain_id`: another chain's id (a
        second devnet standing for another chain beside the first)."""
        anvil = await Anvil(Path(workdir), chain_id).start()
        try:
            profile_path = Path(workdir) / "profile.toml"
            profile = await boot(anvil, profile_path)
        except BaseException:
            await anvil.stop()
            raise
        net = cls(anvil, profile, profile_path)
        await net._serve_hermes()
        if fulfil:
            net._fulfilling = asyncio.create_task((await net.fulfiller()).run(), name="devnet:fulfil")
        return net

    async def _serve_hermes(self) -> None:
        """Run the Hermes stand-in on 127.0.0.1 (prices from the devnet's own feeds) and point the profile at it."""
        self.hermes = await HermesStandIn(chain_prices(self.profile)).start()
        point_profile(self.profile_path, self.hermes.url)
        self.profile = load_profile(self.profile_path)

    async def stop(self) -> None:
        if self.hermes is not None:
            await self.hermes.stop()
        if self._fulfilling is not None:
            self._fulfilling.cancel()
            await asyncio.gather(self._fulfilling, return_exceptions=True)
        await self.anvil.stop()

    async def snapshot(self) -> str:
        async with connect(self.url) as w3:
            return await anvil_rpc.snapshot(w3)

    async def revert(self, snapshot_id: str) -> bool:
        async with connect(self.url) as w3:
            return await anvil_rpc.revert(w3, snapshot_id)

    async def __aenter__(self) -> Devnet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
