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

A fleet (several processes on one PostgreSQL database, issue 17) shares the address: the composition root hands
the manager a `SharedLock` (bot.storage.nonces: an advisory lock keyed by chain and address), taken after this
process's own lock and held until the block ends, so from reading the next nonce until the signed transactions
are stored (committed) and broadcast no other process takes a nonce of the address. The next nonce is then never
carried from one block to the next (another process may have taken some meanwhile): each block reads the chain's
pending count and the stored in-flight nonces again under the lock. Without one (SQLite, one process) the
sequence is kept in memory between blocks, as it always was: no extra round trip. The unique index on (chain,
address, nonce) of the live stored transactions refuses a second one of a nonce either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

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


class SharedLock(Protocol):
    """A lock on one sending address of one chain across every process that sends from it."""

    def hold(self, address: str) -> AbstractAsyncContextManager[None]: ...


class NonceManager:
    def __init__(self, pending_count: Callable[[str], Awaitable[int]], in_flight: Callable[[str], Awaitable[list[int]]],
                 shared: SharedLock | None = None) -> None:
        """`shared`: the fleet's lock (other processes send from these addresses too), or None when this process
        is the only one (its in-memory sequence is then the truth between two blocks)."""
        self._pending_count = pending_count
        self._in_flight = in_flight
        self._shared = shared
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, int] = {}

    @asynccontextmanager
    async def lock(self, address: str) -> AsyncIterator[None]:
        """The address to this block alone: this process's lock, then the fleet's (in that order, so a process
        waits on the shared lock with one connection per address at most). Under the fleet's lock the sequence is
        read afresh: what another process took before it was released is in storage and at the node by then."""
        async with self._locks.setdefault(address, asyncio.Lock()):
            if self._shared is None:
                yield
                return
            async with self._shared.hold(address):
                self._next.pop(address, None)
                try:
                    yield
                finally:
                    self._next.pop(address, None)

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
