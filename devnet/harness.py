"""A throwaway devnet for tests and the embedded default: fresh anvil on a free port, booted from the cache.

    devnet = await Devnet.start(tmp_path)
    ...  # devnet.url, devnet.profile, devnet.profile_path
    await devnet.stop()

`snapshot()` / `revert(id)` wrap evm_snapshot / evm_revert; anvil drops a snapshot once reverted to, so take
a new one after each revert.
"""

from __future__ import annotations

from pathlib import Path

from bot.profile import Profile
from devnet import anvil as anvil_rpc
from devnet.anvil import Anvil
from devnet.deploy import boot
from devnet.rpc import connect


class Devnet:
    def __init__(self, anvil: Anvil, profile: Profile, profile_path: Path):
        self.anvil = anvil
        self.profile = profile
        self.profile_path = profile_path

    @property
    def url(self) -> str:
        return self.anvil.url

    @classmethod
    async def start(cls, workdir: Path) -> Devnet:
        anvil = await Anvil(Path(workdir)).start()
        try:
            profile_path = Path(workdir) / "profile.toml"
            profile = await boot(anvil, profile_path)
        except BaseException:
            await anvil.stop()
            raise
        return cls(anvil, profile, profile_path)

    async def stop(self) -> None:
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
