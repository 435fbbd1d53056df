"""The devnet's chain plumbing on web3: connections, contract objects and a pipelined transaction sender.

JSON-RPC, batches, ABI encoding and event decoding are web3's (`AsyncWeb3`, contract objects built from the
compiled and npm artifacts). What is the devnet's own is `Sender`: a deploy sends ~70 transactions back to
back from one key with locally tracked nonces (so contract addresses are known before anything is mined),
signs them with eth-account, and fetches every receipt in one JSON-RPC batch at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import rlp
from aiohttp import ClientSession, ClientTimeout
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.contract.async_contract import AsyncContractConstructor, AsyncContractFunction
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import TxReceipt

from devnet.compile import Artifact, all_artifacts

# anvil's default mnemonic ("test test ... junk"), accounts 0-2. Public dev keys: devnet only, never in a profile.
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)
DEPLOYER_KEY = DEV_KEYS[0]
CALL_GAS = 1_500_000
DEPLOY_GAS = 8_000_000


class TxFailed(RuntimeError):
    """A transaction was mined with status 0."""


@asynccontextmanager
async def connect(url: str, timeout: float = 30.0) -> AsyncIterator[AsyncWeb3]:
    """`async with connect(url) as w3:` an AsyncWeb3 on one node, its HTTP session closed on exit.

    The session is ours, with keep-alive (web3's default opens a connection per request), and closing it
    here keeps web3's "disconnected" INFO line out of the CLI's output. No request retries: web3 retries
    evm_* on a timeout, and evm_increaseTime must not run twice. No validation middleware: it asks
    eth_chainId before every eth_call and eth_estimateGas (set_price 9 requests with it, 5 without), and
    the devnet signs its transactions with an explicit chain id.
    """
    async with ClientSession(raise_for_status=True) as session:
        provider = AsyncHTTPProvider(
            url, request_kwargs={"timeout": ClientTimeout(total=timeout)}, exception_retry_configuration=None
        )
        await provider.cache_async_session(session)
        w3 = AsyncWeb3(provider)
        w3.middleware_onion.remove("validation")
        yield w3


@lru_cache(maxsize=1)
def artifacts() -> dict[str, Artifact]:
    return all_artifacts()


def factory(w3: AsyncWeb3, name: str) -> type[AsyncContract]:
    """The contract class for the devnet artifact `name`; build it once for many addresses (web3 parses the
    whole ABI for it)."""
    return w3.eth.contract(abi=artifacts()[name].abi)


def contract(w3: AsyncWeb3, name: str, address: str) -> AsyncContract:
    """The devnet contract `name` (a compiled or Uniswap artifact) at `address`."""
    return factory(w3, name)(to_checksum_address(address))


def create_address(sender: str, nonce: int) -> str:
    """The address a contract deployed by `sender` at `nonce` gets (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([HexBytes(sender), nonce]))[12:])


def create2_address(deployer: str, salt: bytes, init_code_hash: str) -> str:
    """The address a contract created by `deployer` with CREATE2 gets (e.g. a Uniswap V2 pair)."""
    return to_checksum_address(keccak(b"\xff" + HexBytes(deployer) + salt + HexBytes(init_code_hash))[12:])


class Sender:
    """Signs and sends transactions from one key with locally tracked nonces (no wait between sends)."""

    def __init__(self, w3: AsyncWeb3, key: str = DEPLOYER_KEY, chain_id: int = 31337):
        self.w3 = w3
        self._key = keys.PrivateKey(HexBytes(key))  # parsed once: signing with the raw key re-derives it each time
        self.address: str = self._key.public_key.to_checksum_address()
        self.chain_id = chain_id
        self.nonce: int | None = None
        self.pending: list[HexBytes] = []

    async def _next_nonce(self) -> int:
        if self.nonce is None:
            self.nonce = await self.w3.eth.get_transaction_count(self.address, "pending")
        nonce, self.nonce = self.nonce, self.nonce + 1
        return nonce

    async def _send(self, to: str | None, data: str, value: int, gas: int) -> HexBytes:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": await self._next_nonce(),
            "data": data,
            "value": value,
            "gas": gas,
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
        }
        if to is not None:
            tx["to"] = to
        raw = Account.sign_transaction(tx, self._key).raw_transaction
        try:
            tx_hash = await self.w3.eth.send_raw_transaction(raw)
        except Exception:
            self.nonce = None  # resync: the node rejected it, so the nonce was not used
            raise
        self.pending.append(tx_hash)
        return tx_hash

    async def send(self, fn: AsyncContractFunction, value: int = 0, gas: int = CALL_GAS) -> HexBytes:
        """Send a call to a bound contract function without waiting for it to be mined."""
        return await self._send(fn.address, fn._encode_transaction_data(), value, gas)

    async def deploy(self, ctor: AsyncContractConstructor) -> str:
        """Send a contract creation and return the address it will have (computed from the nonce)."""
        if self.nonce is None:
            self.nonce = await self.w3.eth.get_transaction_count(self.address, "pending")
        address = create_address(self.address, self.nonce)
        await self._send(None, ctor.data_in_transaction, 0, DEPLOY_GAS)
        return address

    async def wait(self, timeout: float = 30.0) -> list[TxReceipt]:
        """Receipts of every transaction sent since the last wait; raises TxFailed on any status 0 (and
        web3's TimeExhausted if they are not mined in time).

        One sender's transactions are mined in nonce order, so once the last one has a receipt all do, and
        the others come in one batch.
        """
        hashes, self.pending = self.pending, []
        if not hashes:
            return []
        last = await self.w3.eth.wait_for_transaction_receipt(hashes[-1], timeout, poll_latency=0.02)
        receipts: list[TxReceipt] = []
        if len(hashes) > 1:
            async with self.w3.batch_requests() as batch:
                for h in hashes[:-1]:
                    batch.add(self.w3.eth.get_transaction_receipt(h))
                receipts = list(await batch.async_execute())
        receipts.append(last)
        failed = [r for r in receipts if r["status"] != 1]
        if failed:
            first = failed[0]["transactionHash"].to_0x_hex()
            raise TxFailed(f"transaction {first} reverted ({len(failed)} of {len(hashes)} failed)")
        return receipts

    async def transact(self, fn: AsyncContractFunction, value: int = 0) -> TxReceipt:
        """Send one call and wait for it; a revert raises web3's ContractLogicError with the reason."""
        gas = await fn.estimate_gas({"from": self.address, "value": value})
        await self.send(fn, value, gas=gas * 12 // 10 + 50_000)
        return (await self.wait())[-1]
