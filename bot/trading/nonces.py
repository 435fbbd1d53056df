"""One nonce sequence per sending address.

Trades from one wallet are serialized on a per-address lock while they read balances, take nonces, sign,
store and broadcast, so twenty concurrent trades get twenty consecutive runs of nonces and reach the node in
order. The sequence starts at the chain's pending count, moved past the nonces the wallet's own stored
transactions in flight hold from there on (signed before a crash and not broadcast yet): never beyond the
pending count plus the wallet's own in-flight transactions, so nothing is signed with a nonce the chain would
wait on forever (a database that remembers more than the chain does: mined rows the chain lost, or a gap left by
a refused transaction). `forget` drops the sequence after a dropped or refused transaction, so the next trade
reconciles with the chain again. `gaps` finds the holes below a wallet's in-flight nonces (bot.trading.gaps
repairs them at start-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)
Take = Callable[[int], Awaitable[list[int]]]


def first_free(pending: int, in_flight: list[int]) -> int:
    """The lowest nonce from `pending` on that none of `in_flight` holds (at most pending + len(in_flight))."""
    held = set(in_flight)
    nonce = pending
    while nonce in held:
        nonce += 1
    return nonce


def gaps(pending: int, in_flight: list[int]) -> list[int]:
    """The nonces from `pending` up to the highest in flight that none holds: the chain would wait on them."""
    held = set(in_flight)
    return [n for n in range(pending, max(held, default=pending - 1)) if n not in held]


class NonceManager:
    def __init__(self, pending_count: Callable[[str], Awaitable[int]], in_flight: Callable[[str], Awaitable[list[int]]]) -> None:
        self._pending_count = pending_count
        self._in_flight = in_flight
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, int] = {}

    def lock(self, address: str) -> asyncio.Lock:
        return self._locks.setdefault(address, asyncio.Lock())

    async def _start(self, address: str) -> int:
        chain = await self._pending_count(address)
        flying = await self._in_flight(address)
        if gaps(chain, flying):
            log.warning("nonce gap for %s: the chain is at %s, in flight %s; signing at the first free nonce",
                        address, chain, flying)
        return first_free(chain, flying)

    @asynccontextmanager
    async def session(self, address: str) -> AsyncIterator[Take]:
        """Hold the address's lock; `await take(n)` hands out the next n consecutive nonces. If the block
        fails after taking some, the sequence is forgotten and re-read from the chain and storage next time."""
        taken = False

        async def take(count: int) -> list[int]:
            nonlocal taken
            first = await self.upcoming(address)
            self._next[address] = first + count
            taken = True
            return list(range(first, first + count))

        async with self.lock(address):
            try:
                yield take
            except BaseException:
                if taken:
                    self._next.pop(address, None)
                raise

    async def upcoming(self, address: str) -> int:
        """The nonce the address's next transaction will take (read inside its session, before taking)."""
        if address not in self._next:
            self._next[address] = await self._start(address)
        return self._next[address]

    def forget(self, address: str) -> None:
        """Drop the sequence (a transaction was dropped); the next session reconciles with the chain."""
        self._next.pop(address, None)

    def peek(self, address: str) -> int | None:
        return self._next.get(address)
