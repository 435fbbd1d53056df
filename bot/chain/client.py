"""Chain access: JSON-RPC over AsyncWeb3, every read batched through Multicall3.

`Fn` is a function signature with its output types, encoded with eth_abi; `Chain.multicall` sends any
number of calls as one `eth_call` to Multicall3.aggregate3 at one block, so what the bot shows is one
consistent state and costs one round trip. Most answers are byte-for-byte what the previous block said (a
tokenset, a feed between rounds), so decoding is memoized on the bytes. `CountingProvider` counts requests so benchmarks measure real
round trips. `HeadTracker` follows the chain head in the background so callers can key caches by block
without asking the chain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import aiohttp
from aiohttp import ClientSession, ClientTimeout
from eth_abi.abi import decode, encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.providers.rpc import AsyncHTTPProvider

from bot.chain.logreader import DEFAULT_SPAN, LogReader
from bot.metrics import rpc_answered, rpc_request

log = logging.getLogger(__name__)
BlockId = int | str


def _split_types(inner: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(inner[start:i])
            start = i + 1
    if inner[start:]:
        out.append(inner[start:])
    return out


@lru_cache(maxsize=8192)
def _decode(types: tuple[str, ...], data: bytes) -> tuple[Any, ...]:
    return tuple(decode(types, data))  # eth_abi returns tuples all the way down: safe to share


@lru_cache(maxsize=8192)
def _encode(types: tuple[str, ...], args: tuple[Any, ...]) -> bytes:
    return encode(types, args)


@dataclass(frozen=True)
class Fn:
    """`Fn("getPool(address,address,uint24)", "address")`: encode arguments, decode results.

    `memo=False` for calls whose arguments or answers are never repeated (the Multicall3 envelope).
    """

    signature: str
    outputs: str = ""
    memo: bool = True

    @cached_property
    def selector(self) -> bytes:
        return function_signature_to_4byte_selector(self.signature)

    @cached_property
    def input_types(self) -> tuple[str, ...]:
        return tuple(_split_types(self.signature[self.signature.index("(") + 1 : -1]))

    @cached_property
    def output_types(self) -> tuple[str, ...]:
        return tuple(_split_types(self.outputs))

    def encode(self, *args: Any) -> bytes:
        if not self.input_types:
            return self.selector
        return self.selector + (_encode(self.input_types, args) if self.memo else encode(self.input_types, args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return _decode(self.output_types, data) if self.memo else tuple(decode(self.output_types, data))


@dataclass(frozen=True)
class Call:
    target: str
    fn: Fn
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Result:
    ok: bool
    values: tuple[Any, ...] = ()

    def one(self) -> Any:
        return self.values[0]


AGGREGATE3 = Fn("aggregate3((address,bool,bytes)[])", "(bool,bytes)[]", memo=False)


def encode_aggregate3(calls: Sequence[tuple[str, bool, bytes]]) -> bytes:
    """`aggregate3((address,bool,bytes)[])` calldata, byte-for-byte what eth_abi produces (tests/test_chain.py).

    Every read the bot makes goes through this one envelope; eth_abi's generic encoder, with its validation,
    spent ~0.45 ms on a 20-call batch (a fifth of the bot's CPU per cold quote), this ~0.02 ms. Only this fixed
    type is hand-encoded; everything else goes through eth_abi.
    """
    heads, tails, offset = [], [], 32 * len(calls)
    for target, allow_failure, data in calls:
        heads.append(offset.to_bytes(32, "big"))
        tail = b"".join((
            bytes(12), bytes.fromhex(target[2:]), int(allow_failure).to_bytes(32, "big"), (96).to_bytes(32, "big"),
            len(data).to_bytes(32, "big"), data, bytes(-len(data) % 32),
        ))
        tails.append(tail)
        offset += len(tail)
    return AGGREGATE3.selector + (32).to_bytes(32, "big") + len(calls).to_bytes(32, "big") + b"".join(heads + tails)


def decode_aggregate3(data: bytes) -> list[tuple[bool, bytes]]:
    """The `(bool,bytes)[]` aggregate3 returns, exactly as eth_abi decodes it; raises ValueError on malformed
    data (offsets or lengths outside the data, non-canonical booleans). The same reasoning as above applies."""

    def word(at: int) -> int:
        if at < 0 or at + 32 > len(data):
            raise ValueError("aggregate3 result is truncated")
        return int.from_bytes(data[at : at + 32], "big")

    base = word(0)
    count = word(base)
    if count > len(data) // 64:
        raise ValueError("aggregate3 result claims more entries than it holds")
    heads = base + 32
    out = []
    for i in range(count):
        element = heads + word(heads + 32 * i)
        success = word(element)
        if success > 1:
            raise ValueError("aggregate3 result has a non-boolean success flag")
        start = element + word(element + 32)
        length = word(start)
        if start + 32 + length > len(data):
            raise ValueError("aggregate3 result bytes run past the end")
        out.append((bool(success), data[start + 32 : start + 32 + length]))
    return out


class Trips:
    """The round trips made by one piece of work (see `Chain.counting`), in all and by JSON-RPC method."""

    def __init__(self) -> None:
        self.count = 0
        self.by_method: Counter[str] = Counter()


_trips: ContextVar[Trips | None] = ContextVar("chain_trips", default=None)


def _count_trip(method: str) -> None:
    trips = _trips.get()
    if trips is not None:
        trips.count += 1
        trips.by_method[method] += 1


class CountingProvider(AsyncHTTPProvider):
    """An HTTP provider that counts the JSON-RPC requests it sends (a batch counts once)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__(url, request_kwargs={"timeout": ClientTimeout(total=timeout)})
        self.timeout = timeout
        self.session: ClientSession | None = None
        self.round_trips = 0
        self.by_method: Counter[str] = Counter()

    async def keep_alive(self) -> None:
        """Use one keep-alive HTTP session: web3's default closes the connection after every request, which
        against a remote node means a new TCP and TLS handshake per read."""
        if self.session is None or self.session.closed:
            self.session = ClientSession(raise_for_status=True, timeout=ClientTimeout(total=self.timeout))
            await self.cache_async_session(self.session)

    async def make_request(self, method: Any, params: Any) -> Any:
        await self.keep_alive()
        self.round_trips += 1
        _count_trip(str(method))
        self.by_method[str(method)] += 1
        with rpc_request(str(method)):  # timed, and counted in bot.metrics when it fails
            answer = await super().make_request(method, params)
        rpc_answered(str(method), answer)
        return answer

    async def _make_request(self, method: Any, request_data: bytes) -> bytes:
        if method != "eth_getLogs":
            return bytes(await super()._make_request(method, request_data))
        # Some providers answer a capped eth_getLogs with HTTP 400 or 413 and the JSON-RPC error in the body
        # (QuickNode, Alchemy): that is the node's answer, for the log reader to narrow its range, not a transport
        # failure that would move to the next endpoint.
        assert self.session is not None
        async with self.session.post(str(self.endpoint_uri), data=request_data, raise_for_status=False,
                                     **self.get_request_kwargs()) as reply:
            body = await reply.read()
            if reply.status >= 400 and not (reply.status in (400, 413) and _is_rpc_error(body)):
                reply.raise_for_status()
            return body

    async def make_batch_request(self, requests: Any) -> Any:
        await self.keep_alive()
        self.round_trips += 1
        _count_trip("batch")
        self.by_method["batch"] += 1
        with rpc_request("batch"):
            answer = await super().make_batch_request(requests)
        rpc_answered("batch", answer)
        return answer


def _is_rpc_error(body: bytes) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and isinstance(answer.get("error"), dict)


class ChainUnavailable(Exception):
    """No RPC endpoint answered."""


class Chain:
    """One chain, reached through the profile's RPC URLs in order (the next one on failure)."""

    def __init__(self, rpc_urls: Sequence[str], multicall3: str, timeout: float = 10.0,
                 log_range_blocks: int = DEFAULT_SPAN) -> None:
        self.providers = [CountingProvider(u, timeout) for u in rpc_urls]
        self._w3s = [AsyncWeb3(p) for p in self.providers]
        for w3 in self._w3s:
            # The validation middleware asks eth_chainId before every eth_call; the chain id is checked once
            # at start-up (bot.chain.verify), so a read costs exactly one round trip.
            w3.middleware_onion.remove("validation")
        self._current = 0
        self.multicall3 = multicall3
        self.log_reader = LogReader(self._get_logs, log_range_blocks)  # every eth_getLogs goes through it

    @property
    def w3(self) -> AsyncWeb3[Any]:
        return self._w3s[self._current]

    @property
    def round_trips(self) -> int:
        return sum(p.round_trips for p in self.providers)

    @staticmethod
    @contextmanager
    def counting() -> Iterator[Trips]:
        """Count only the round trips made by this task (and tasks it starts) inside the block: `round_trips`
        counts every caller's, the head tracker's background polls included."""
        trips = Trips()
        token = _trips.set(trips)
        try:
            yield trips
        finally:
            _trips.reset(token)

    def method_counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.providers:
            total.update(p.by_method)
        return total

    async def _failover(self, op: Any) -> Any:
        last: Exception | None = None
        for _ in range(len(self._w3s)):
            try:
                return await op(self.w3)
            except (OSError, asyncio.TimeoutError, aiohttp.ClientError) as exc:  # transport failures only
                last = exc
                log.warning("rpc %s failed (%s); trying the next endpoint", self._current, type(exc).__name__)
                self._current = (self._current + 1) % len(self._w3s)
        raise ChainUnavailable(str(last)) from last

    async def block_number(self) -> int:
        return int(await self._failover(lambda w3: w3.eth.block_number))

    async def call(self, target: str, fn: Fn, *args: Any, block: BlockId = "latest") -> tuple[Any, ...]:
        data = await self._failover(lambda w3: w3.eth.call({"to": target, "data": fn.encode(*args)}, block))
        return fn.decode(bytes(data))

    async def multicall(self, calls: Sequence[Call], block: BlockId = "latest") -> list[Result]:
        """All `calls` in one eth_call; a failing call yields Result(ok=False) instead of failing the batch."""
        if not calls:
            return []
        data = encode_aggregate3([(c.target, True, c.fn.encode(*c.args)) for c in calls])
        reply = await self._failover(lambda w3: w3.eth.call({"to": self.multicall3, "data": data}, block))
        raw = decode_aggregate3(bytes(reply))
        results = []
        for call, (ok, data) in zip(calls, raw, strict=True):
            if not ok:
                results.append(Result(False))
                continue
            try:
                results.append(Result(True, call.fn.decode(bytes(data))))
            except Exception:  # noqa: BLE001 - undecodable data (no code at address) is a failed call
                results.append(Result(False))
        return results

    # -- transactions ----------------------------------------------------------------------------------

    async def send_raw(self, raw: bytes) -> str:
        """Broadcast a signed transaction; its hash. Node refusals raise web3's Web3RPCError."""
        tx_hash = await self._failover(lambda w3: w3.eth.send_raw_transaction(raw))
        return "0x" + bytes(tx_hash).hex()

    async def nonce(self, address: str, block: BlockId = "pending") -> int:
        return int(await self._failover(lambda w3: w3.eth.get_transaction_count(address, block)))

    async def estimate_gas(self, tx: dict[str, Any], state_override: dict[str, Any] | None = None) -> int:
        """eth_estimateGas; `state_override` (address -> {"stateDiff": {slot: value}}) estimates as if the state
        were so (anvil, geth and reth take it as the third parameter)."""
        if state_override:
            return int(await self._failover(lambda w3: w3.eth.estimate_gas(tx, "latest", state_override)))
        return int(await self._failover(lambda w3: w3.eth.estimate_gas(tx)))

    async def call_with_override(self, tx: dict[str, Any], state_override: dict[str, Any]) -> bytes:
        """eth_call at the latest block with a state override."""
        return bytes(await self._failover(lambda w3: w3.eth.call(tx, "latest", state_override)))

    async def receipts(self, hashes: Sequence[str]) -> dict[str, Any]:
        """The receipts of `hashes` that are mined, in one JSON-RPC batch; unmined ones are absent."""
        if not hashes:
            return {}

        async def op(w3: AsyncWeb3[Any]) -> list[Any]:
            async with w3.batch_requests() as batch:
                for h in hashes:
                    batch.add(w3.eth.get_transaction_receipt(h))  # type: ignore[arg-type]
                return list(await batch.async_execute())

        try:
            found = await self._failover(op)
        except Exception as exc:  # noqa: BLE001 - web3 raises TransactionNotFound inside a batch for a missing one
            if isinstance(exc, ChainUnavailable):
                raise
            found = [await self._receipt_or_none(h) for h in hashes]
        return {h: r for h, r in zip(hashes, found, strict=True) if r is not None and not isinstance(r, Exception)}

    async def _receipt_or_none(self, tx_hash: str) -> Any:
        try:
            return await self._failover(lambda w3: w3.eth.get_transaction_receipt(tx_hash))
        except TransactionNotFound:
            return None

    async def mined_with_nonce(self, address: str, nonce: int, within: int = 10_000) -> dict[str, Any] | None:
        """The mined transaction `address` sent with `nonce`, found in the last `within` blocks: the block where
        the sender's count passes `nonce` is searched backwards from the head in doubling steps, then
        bisected, so a recent one costs a few dozen reads. None when it is older, not mined, or the node has
        no state that far back."""
        head = int(await self._failover(lambda w3: w3.eth.block_number))

        async def count(block: int) -> int:
            return await self.nonce(address, block)

        try:
            if await count(head) <= nonce:
                return None
            step, hi = 1, head  # count(hi) > nonce
            while True:
                lo = max(hi - step, 0)
                if lo == 0 or await count(lo) <= nonce:
                    break
                hi, step = lo, step * 2
                if head - hi > within:
                    return None
            while hi - lo > 1:  # count(lo) <= nonce < count(hi), or lo is genesis
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if await count(mid) <= nonce else (lo, mid)
            block = await self._failover(lambda w3: w3.eth.get_block(hi, full_transactions=True))
        except Web3RPCError:
            return None  # pruned state
        return next((dict(tx) for tx in block["transactions"]
                     if str(tx["from"]).lower() == address.lower() and int(tx["nonce"]) == nonce), None)

    async def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node knows the transaction (in its pool or mined)."""
        try:
            await self._failover(lambda w3: w3.eth.get_transaction(tx_hash))
        except TransactionNotFound:
            return False
        return True

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            return dict(await self._failover(lambda w3: w3.eth.get_transaction(tx_hash)))
        except TransactionNotFound:
            return None

    async def call_tx(self, tx: dict[str, Any], block: BlockId) -> bytes:
        """eth_call of a transaction's fields (to read a revert reason); node errors propagate."""
        return bytes(await self._failover(lambda w3: w3.eth.call(tx, block)))

    async def logs(self, address: str, topics: Sequence[Any], from_block: int, to_block: BlockId = "latest") -> list[Any]:
        """The logs `address` emitted matching `topics` between the two blocks, through the chunked reader."""
        last = await self.block_number() if to_block == "latest" else int(to_block)
        return await self.log_reader.read(address, topics, from_block, last)

    async def _get_logs(self, query: dict[str, Any]) -> list[Any]:
        """One eth_getLogs (the log reader's; everything else asks the reader)."""
        return list(await self._failover(lambda w3: w3.eth.get_logs(query)))

    async def codes(self, addresses: Sequence[str]) -> dict[str, bytes]:
        """eth_getCode for many addresses in one JSON-RPC batch."""

        async def op(w3: AsyncWeb3[Any]) -> list[Any]:
            async with w3.batch_requests() as batch:
                for a in addresses:
                    batch.add(w3.eth.get_code(a))  # type: ignore[arg-type]
                return list(await batch.async_execute())

        found = await self._failover(op)
        return {a: bytes(c) for a, c in zip(addresses, found, strict=True)}

    async def close(self) -> None:
        for p in self.providers:
            if p.session is not None:
                await p.session.close()
            try:
                await p.disconnect()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


class HeadTracker:
    """Polls the head in the background; `head` is the newest block seen, `None` before the first poll.

    `await next_block(after)` is the signal trade followers wait on instead of sleeping in their own loops:
    it returns as soon as the tracker sees a block above `after`. While anyone waits, the tracker polls every
    `fast_interval` (a tenth of a second by default) so a receipt is noticed soon after its block.
    """

    def __init__(self, chain: Chain, interval: float, fast_interval: float = 0.1) -> None:
        self._chain = chain
        self.interval = interval
        self.fast_interval = min(interval, fast_interval)
        self.head: int | None = None
        self.seen_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._new_block = asyncio.Event()
        self._waiting = 0
        self._wake = asyncio.Event()

    async def next_block(self, after: int | None, timeout: float | None = None, *, urgent: bool = True) -> int | None:
        """The head once it is above `after` (at once if it already is); None after `timeout` seconds. `urgent` (a
        trade being followed) switches the poller to its fast pace while it waits; a standing watcher (the limit
        orders' check) waits at the usual pace, or the node would be asked ten times a second for good."""
        if urgent:
            self._waiting += 1
            self._wake.set()  # switch the poller to its fast pace now rather than after its current sleep
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while self.head is None or (after is not None and self.head <= after):
                event = self._new_block
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
            return self.head
        finally:
            if urgent:
                self._waiting -= 1

    def fresh_head(self) -> int | None:
        """The head, if it was polled recently enough to trust for cache keys."""
        if self.head is not None and time.monotonic() - self.seen_at <= 3 * self.interval:
            return self.head
        return None

    def observe(self, block: int) -> None:
        if self.head is None or block >= self.head:
            advanced = self.head is None or block > self.head
            self.head, self.seen_at = block, time.monotonic()
            if advanced:
                event, self._new_block = self._new_block, asyncio.Event()
                event.set()

    async def poll_once(self) -> int:
        block = await self._chain.block_number()
        self.observe(block)
        return block

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a missed poll only makes the cache colder
                log.warning("head poll failed: %s", exc)
            self._wake.clear()
            pace = self.fast_interval if self._waiting else self.interval
            try:
                await asyncio.wait_for(self._wake.wait(), pace)
            except asyncio.TimeoutError:
                pass

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="head-tracker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
