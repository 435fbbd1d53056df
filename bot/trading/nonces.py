"""One nonce sequence per sending address.

Trades from one wallet are serialized on a per-address lock while they read balances, take nonces, sign,
store and broadcast, so twenty concurrent trades get twenty consecutive runs of nonces and reach the node in
order. The sequence starts from the larger of the chain's pending count and one past the highest nonce a
stored, live transaction holds (signed before a crash and not broadcast yet); `forget` drops it after a
dropped or refused transaction, so the next trade reconciles with the chain again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Take = Callable[[int], Awaitable[list[int]]]


class NonceManager:
    def __init__(self, pending_count: Callable[[str], Awaitable[int]], stored_max: Callable[[str], Awaitable[int | None]]) -> None:
        self._pending_count = pending_count
        self._stored_max = stored_max
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, int] = {}

    def lock(self, address: str) -> asyncio.Lock:
        return self._locks.setdefault(address, asyncio.Lock())

    async def _start(self, address: str) -> int:
        chain = await self._pending_count(address)
        stored = await self._stored_max(address)
        return max(chain, -1 if stored is None else stored + 1)

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
