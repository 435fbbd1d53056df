"""Devnet calls that several test files make: mint a token, call or read a contract by function name, read the
devnet's profile file."""

from __future__ import annotations

import tomllib
from typing import Any

from web3 import AsyncWeb3

from bot.app import App
from devnet.harness import Devnet
from devnet.rpc import Sender, connect, contract


async def mint(app: App, token: str, to: str, units: int, kind: str = "AssetToken") -> None:
    """`units` of `token` (a devnet `kind` contract) minted to `to` by the deployer."""
    async with connect(app.profile.rpc_urls[0]) as w3:
        await Sender(w3, chain_id=app.profile.chain_id).transact(contract(w3, kind, token).functions.mint(to, units))


async def view(w3: AsyncWeb3, name: str, addr: str, fn: str, *args: Any) -> Any:
    """What the view function `fn` of the `name` contract at `addr` answers."""
    return await contract(w3, name, addr).functions[fn](*args).call()


async def call(w3: AsyncWeb3, key: str, name: str, addr: str, fn: str, *args: Any) -> None:
    """`fn` of the `name` contract at `addr`, sent and mined from `key`'s account."""
    await Sender(w3, key).transact(contract(w3, name, addr).functions[fn](*args))


def devnet_data(devnet: Devnet) -> dict[str, Any]:
    """The devnet's profile file, as TOML data."""
    with devnet.profile_path.open("rb") as fh:
        return tomllib.load(fh)
