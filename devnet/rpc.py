"""A small JSON-RPC client for the devnet: ABI encoding, batched calls, pipelined signed transactions.

Deliberately thin (aiohttp + eth_abi + eth_account): the deploy sends ~100 transactions back to back with
locally managed nonces and checks all receipts in one batch, which keeps a fresh deploy to a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

# anvil's default mnemonic ("test test ... junk"), accounts 0-2. Public dev keys: devnet only, never in a profile.
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)
DEPLOYER_KEY = DEV_KEYS[0]
CALL_GAS = 1_500_000
DEPLOY_GAS = 8_000_000


class RpcError(RuntimeError):
    """The node answered a request with an error (reverts carry the reason in the message)."""


class TxFailed(RpcError):
    """A transaction was mined with status 0."""


def abi_type(param: dict[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + t[len("tuple") :]
    return t


class Abi:
    """Encode calls and decode results and events for one contract ABI."""

    def __init__(self, abi: Sequence[dict[str, Any]]):
        self.abi = list(abi)
        self._fns = {e["name"]: e for e in self.abi if e["type"] == "function"}
        self._events = {e["name"]: e for e in self.abi if e["type"] == "event"}

    def encode(self, fn: str, *args: Any) -> str:
        entry = self._fns[fn]
        types = [abi_type(i) for i in entry["inputs"]]
        selector = keccak(text=f"{fn}({','.join(types)})")[:4]
        return "0x" + (selector + encode(types, list(args))).hex()

    def decode(self, fn: str, data: str) -> tuple[Any, ...]:
        types = [abi_type(o) for o in self._fns[fn]["outputs"]]
        return tuple(decode(types, bytes.fromhex(data.removeprefix("0x"))))

    def constructor(self, bytecode: str, *args: Any) -> str:
        ctor = next((e for e in self.abi if e["type"] == "constructor"), None)
        types = [abi_type(i) for i in ctor["inputs"]] if ctor else []
        return bytecode + encode(types, list(args)).hex()

    def topic(self, event: str) -> str:
        entry = self._events[event]
        sig = f"{event}({','.join(abi_type(i) for i in entry['inputs'])})"
        return "0x" + keccak(text=sig).hex().removeprefix("0x")


def create_address(sender: str, nonce: int) -> str:
    """The address a contract deployed by `sender` at `nonce` gets (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


class Rpc:
    """JSON-RPC over HTTP to one node. Use as `async with Rpc(url) as rpc:`."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url
        self._ids = itertools.count(1)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, payload: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(self.url, json=payload) as resp:
            return await resp.json(content_type=None)

    @staticmethod
    def _result(reply: dict[str, Any]) -> Any:
        if "error" in reply:
            err = reply["error"]
            raise RpcError(f"{err.get('message')} {err.get('data') or ''}".strip())
        return reply.get("result")

    async def call(self, method: str, *params: Any) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return self._result(await self._post(payload))

    async def batch(self, requests: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        if not requests:
            return []
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(requests)]
        replies = sorted(await self._post(payload), key=lambda r: r["id"])
        return [self._result(r) for r in replies]

    async def eth_call(self, to: str, data: str, sender: str | None = None) -> str:
        tx = {"to": to, "data": data} | ({"from": sender} if sender else {})
        return str(await self.call("eth_call", tx, "latest"))

    async def view(self, abi: Abi, to: str, fn: str, *args: Any) -> tuple[Any, ...]:
        return abi.decode(fn, await self.eth_call(to, abi.encode(fn, *args)))

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def block(self, tag: str = "latest") -> dict[str, Any]:
        return dict(await self.call("eth_getBlockByNumber", tag, False))


class Sender:
    """Signs and sends transactions from one key with locally tracked nonces (no wait between sends)."""

    def __init__(self, rpc: Rpc, key: str = DEPLOYER_KEY, chain_id: int = 31337):
        self.rpc = rpc
        self.account = Account.from_key(key)
        self.address: str = self.account.address
        self.chain_id = chain_id
        self.nonce: int | None = None
        self.pending: list[str] = []

    async def _next_nonce(self) -> int:
        if self.nonce is None:
            self.nonce = int(await self.rpc.call("eth_getTransactionCount", self.address, "pending"), 16)
        nonce, self.nonce = self.nonce, self.nonce + 1
        return nonce

    async def send(self, to: str | None, data: str, value: int = 0, gas: int | None = None) -> str:
        nonce = await self._next_nonce()
        tx = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to or b"",
            "data": data,
            "value": value,
            "gas": gas or (DEPLOY_GAS if to is None else CALL_GAS),
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
        }
        if to is None:
            del tx["to"]
        raw = self.account.sign_transaction(tx).raw_transaction
        try:
            tx_hash = str(await self.rpc.call("eth_sendRawTransaction", "0x" + raw.hex().removeprefix("0x")))
        except RpcError:
            self.nonce = None  # resync: the node rejected it, so the nonce was not used
            raise
        self.pending.append(tx_hash)
        return tx_hash

    async def deploy(self, abi: Abi, bytecode: str, *args: Any) -> str:
        """Send a contract creation and return the address it will have (computed from the nonce)."""
        nonce = self.nonce if self.nonce is not None else int(
            await self.rpc.call("eth_getTransactionCount", self.address, "pending"), 16
        )
        self.nonce = nonce
        await self.send(None, abi.constructor(bytecode, *args))
        return create_address(self.address, nonce)

    async def wait(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Receipts of every transaction sent since the last wait; raises TxFailed on any status 0."""
        hashes, self.pending = self.pending, []
        receipts: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while missing := [h for h in hashes if h not in receipts]:
            got = await self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in missing])
            receipts.update({h: r for h, r in zip(missing, got, strict=True) if r is not None})
            if len(receipts) < len(hashes):
                if time.monotonic() > deadline:
                    raise TxFailed(f"{len(hashes) - len(receipts)} transactions not mined, first {missing[0]}")
                await asyncio.sleep(0.02)
        failed = [h for h in hashes if int(receipts[h]["status"], 16) != 1]
        if failed:
            raise TxFailed(f"transaction {failed[0]} reverted ({len(failed)} of {len(hashes)} failed)")
        return [receipts[h] for h in hashes]

    async def transact(self, to: str, data: str, value: int = 0) -> dict[str, Any]:
        """Send one transaction and wait for it; reverts raise RpcError carrying the revert reason."""
        tx = {"from": self.address, "to": to, "data": data, "value": hex(value)}
        gas = int(await self.rpc.call("eth_estimateGas", tx), 16)  # raises with the revert reason
        await self.send(to, data, value, gas=gas * 12 // 10 + 50_000)
        return (await self.wait())[-1]
