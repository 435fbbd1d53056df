"""Nonces across processes (issue 17): several workers on one PostgreSQL database sending from one wallet take
turns on the address (bot.storage.nonces' advisory lock), and the unique (chain, address, nonce) of the live stored
transactions refuses a second one of a nonce on both engines.

The fleet here is three NonceManagers in one test process, each on its own `Database.open(pg_url)` (its own
connection pool: the advisory lock is a PostgreSQL session's, as it would be in another process) and its own chain
client, all sending from one fresh wallet on the shared anvil devnet. A trade in this file is the nonce layer's
part of one: take a nonce, sign, store the row (committed), broadcast, all under the session, as
Executor.sign_store_send does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from alembic import command
from sqlalchemy import exc, insert, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.chain.client import Chain
from bot.storage import migrate
from bot.storage import nonces as stored
from bot.storage.db import Database, database_url
from bot.storage.schema import intent_txs, intents, users
from bot.trading.nonces import NonceManager
from devnet.harness import Devnet
from devnet.operator import fund

SINK = "0x000000000000000000000000000000000000dEaD"
TRADES = 50
WORKERS = 3


async def _user(db: Database) -> int:
    async with db.transaction() as tx:
        return int(await tx.scalar(insert(users).values(platform="console", platform_user_id="u1", created_at=1,
                                                        last_seen_at=1).returning(users.c.id)))


async def _intent(db: Database, user_id: int, address: str, chain_id: int) -> int:
    async with db.transaction() as tx:
        return int(await tx.scalar(insert(intents).values(
            user_id=user_id, address=address, kind="withdraw", chain_id=chain_id, params="{}", state="confirmed",
            quote_expires_at=0, platform="console", chat_id="c1", created_at=1, updated_at=1,
        ).returning(intents.c.id)))


def _row(intent_id: int, address: str, nonce: int, tx_hash: str, chain_id: int | None, state: str = "signed",
         raw: bytes = b"") -> dict[str, Any]:
    return {"intent_id": intent_id, "step": 0, "purpose": "transfer", "address": address, "nonce": nonce,
            "raw_tx": raw, "tx_hash": tx_hash, "max_fee": 1, "priority_fee": 1, "state": state, "signed_at": 1.0,
            "chain_id": chain_id}


async def _store(db: Database, row: dict[str, Any]) -> None:
    async with db.transaction() as tx:
        await tx.execute(insert(intent_txs).values(**row))


# -- the unique (chain, address, nonce), both engines -----------------------------------------------------------

async def test_one_live_transaction_per_chain_address_and_nonce(db: Database) -> None:
    address = "0x" + "ab" * 20
    uid = await _user(db)
    on_1, on_2 = await _intent(db, uid, address, 1), await _intent(db, uid, address, 2)
    await _store(db, _row(on_1, address, 7, "0x01", 1))
    with pytest.raises(exc.IntegrityError):  # a second worker's row for nonce 7 on chain 1
        await _store(db, _row(on_1, address, 7, "0x02", 1))
    await _store(db, _row(on_2, address, 7, "0x03", 2))  # the same address and nonce on another chain: its own
    async with db.transaction() as tx:  # a fee bump: the old row replaced, the new one holds the nonce
        await tx.execute(update(intent_txs).where(intent_txs.c.tx_hash == "0x01").values(state="replaced"))
        await tx.execute(insert(intent_txs).values(**_row(on_1, address, 7, "0x04", 1)))
    with pytest.raises(exc.IntegrityError):  # the chain id is required: with NULL the index would hold nothing
        await _store(db, _row(on_1, address, 8, "0x05", None))
    assert await stored.in_flight(db, 1, address) == [7]
    assert await stored.in_flight(db, 2, address) == [7]
    assert await stored.in_flight(db, 3, address) == []
    rows = await db.fetch_all(select(intent_txs.c.tx_hash, intent_txs.c.chain_id).order_by(intent_txs.c.id))
    assert [(r.tx_hash, r.chain_id) for r in rows] == [("0x01", 1), ("0x03", 2), ("0x04", 1)]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_0018_fills_a_missing_chain_id_from_the_intent(engine: str, request: pytest.FixtureRequest,
                                                              tmp_path: Path) -> None:
    where = str(tmp_path / "at17.sqlite3") if engine == "sqlite" else request.getfixturevalue("pg_empty_url")
    at17 = create_async_engine(database_url(where), **({"connect_args": {"isolation_level": None}}
                                                        if engine == "sqlite" else {}))
    try:
        async with at17.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(migrate.alembic_config(c), "0017"))
            await conn.execute(text("INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at) "
                                    "VALUES (7, 'console', 'u', 1, 1)"))
            await conn.execute(text(
                "INSERT INTO intents (id, user_id, address, kind, chain_id, params, state, quote_expires_at, platform, "
                "chat_id, created_at, updated_at) VALUES (3, 7, '0xa', 'withdraw', 8453, '{}', 'sent', 0, 'console', "
                "'c', 1, 1)"))
            await conn.execute(text(
                "INSERT INTO intent_txs (intent_id, step, purpose, address, nonce, tx_hash, state, signed_at) "
                "VALUES (3, 0, 'transfer', '0xa', 4, '0x01', 'sent', 1.0)"))  # chain_id NULL, as 0017 allowed
    finally:
        await at17.dispose()
    db = await Database.open(where)
    try:
        assert await stored.in_flight(db, 8453, "0xa") == [4]
        assert await db.scalar(select(intent_txs.c.chain_id)) == 8453
    finally:
        await db.close()


async def test_sqlite_has_no_shared_lock(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "one.sqlite3")
    try:
        assert stored.address_lock(db, 1) is None  # one process: the manager keeps its sequence in memory
    finally:
        await db.close()


# -- the manager: round trips alone, and under a shared lock ------------------------------------------------------

@dataclass
class Counting:
    pending: int = 5
    reads: int = 0
    holds: int = 0

    async def pending_count(self, address: str) -> int:
        self.reads += 1
        return self.pending

    async def in_flight(self, address: str) -> list[int]:
        return []

    def hold(self, address: str) -> Any:
        outer = self

        class _Held:
            async def __aenter__(self) -> None:
                outer.holds += 1

            async def __aexit__(self, *exc_info: object) -> None:
                return None

        return _Held()


async def test_alone_the_sequence_is_kept_in_memory() -> None:
    """SQLite's case, as before issue 17: the chain and storage are read once, then the sequence runs on in memory
    (bench/trade.py counts these round trips)."""
    c = Counting()
    manager = NonceManager(c.pending_count, c.in_flight)
    for expected in ([5, 6], [7]):
        async with manager.session("0xa") as take:
            assert await take(len(expected)) == expected
    assert c.reads == 1


async def test_under_a_shared_lock_each_session_reads_again() -> None:
    """Another process may have taken nonces between two sessions: each reads the chain and storage afresh."""
    c = Counting()
    manager = NonceManager(c.pending_count, c.in_flight, c)
    async with manager.session("0xa") as take:
        assert await take(2) == [5, 6]
        assert await manager.upcoming("0xa") == 7  # within the session the sequence runs on
    c.pending = 9  # another worker sent 7 and 8
    async with manager.session("0xa") as take:
        assert await take(1) == [9]
    async with manager.lock("0xa"):
        pass
    assert (c.reads, c.holds) == (2, 3)


# -- the advisory lock, PostgreSQL -------------------------------------------------------------------------------

@pytest.fixture
async def fleet(pg_url: str) -> AsyncIterator[list[Database]]:
    dbs = [await Database.open(pg_url) for _ in range(WORKERS)]
    try:
        yield dbs
    finally:
        for db in dbs:
            await db.close()


async def test_the_lock_is_per_chain_and_address(fleet: list[Database]) -> None:
    a, b = stored.AdvisoryLock(fleet[0], 1), stored.AdvisoryLock(fleet[1], 1)
    address = "0x" + "Cd" * 20
    async with a.hold(address):
        with pytest.raises(TimeoutError):  # another worker waits for the same address on the same chain
            await asyncio.wait_for(_enter(b, address.lower()), 0.5)
        await asyncio.wait_for(_enter(stored.AdvisoryLock(fleet[1], 2), address), 5)  # another chain: free
        await asyncio.wait_for(_enter(b, "0x" + "ef" * 20), 5)  # another address: free
    await asyncio.wait_for(_enter(b, address), 5)  # released with the holder's transaction


async def _enter(lock: stored.AdvisoryLock, address: str) -> None:
    async with lock.hold(address):
        pass


async def test_a_cancelled_holder_lets_go(fleet: list[Database]) -> None:
    a, b = stored.AdvisoryLock(fleet[0], 1), stored.AdvisoryLock(fleet[1], 1)
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with a.hold("0x1"):
            entered.set()
            await asyncio.sleep(3600)

    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    await asyncio.wait_for(_enter(b, "0x1"), 5)


# -- the fleet on a devnet ---------------------------------------------------------------------------------------

@dataclass
class Worker:
    db: Database
    chain: Chain
    nonces: NonceManager


async def _trade(worker: Worker, account: LocalAccount, intent_id: int, chain_id: int, fees: tuple[int, int],
                 wei: int) -> str:
    """One trade's nonce part: under the session a nonce taken, the transfer signed and stored (committed) and
    broadcast, as Executor.sign_store_send does. `wei`: sent, one amount per trade (two
    trades signed at one nonce differ in more than their nonce's row)."""
    async with worker.nonces.session(account.address) as take:
        [nonce] = await take(1)
        await asyncio.sleep(random.uniform(0, 0.01))  # the reads and estimates of a real trade, for other workers to race
        fields: dict[str, Any] = {
            "type": 2, "chainId": chain_id, "nonce": nonce, "to": SINK, "value": wei, "gas": 21_000,
            "maxFeePerGas": fees[0], "maxPriorityFeePerGas": fees[1],
        }
        signed = account.sign_transaction(fields)
        tx_hash = "0x" + bytes(signed.hash).hex()
        await _store(worker.db, _row(intent_id, account.address, nonce, tx_hash, chain_id,
                                     raw=bytes(signed.raw_transaction)))
        await worker.chain.send_raw(bytes(signed.raw_transaction))
        async with worker.db.transaction() as tx:
            await tx.execute(update(intent_txs).where(intent_txs.c.tx_hash == tx_hash).values(state="sent"))
    return tx_hash


async def _run_fleet(chain: Devnet, fleet: list[Database],
                     shared: Callable[[Database, int], stored.AdvisoryLock | None]) -> tuple[LocalAccount, int, list[Any]]:
    """TRADES trades from one fresh wallet, spread over the workers, all at once; (account, the wallet's first
    nonce, each trade's hash or exception)."""
    profile = chain.profile
    account: LocalAccount = Account.create()
    await fund(profile, account.address, eth=Decimal(1))
    workers = []
    for db in fleet:
        client = Chain(profile.rpc_urls, profile.multicall3)
        in_flight: Callable[[str], Awaitable[list[int]]] = partial(stored.in_flight, db, profile.chain_id)
        workers.append(Worker(db, client, NonceManager(client.nonce, in_flight, shared(db, profile.chain_id))))
    try:
        first = await workers[0].chain.nonce(account.address, "pending")
        uid = await _user(fleet[0])
        # the intents first, one at a time: a worker's sessions then hold two connections at most at once (the
        # lock's, and a read or a write), which keeps the test small on a server other test runs share
        ids = [await _intent(fleet[0], uid, account.address, profile.chain_id) for _ in range(TRADES)]
        block = await workers[0].chain.w3.eth.get_block("latest")
        fees = (2 * int(block["baseFeePerGas"]) + 10**9, 10**9)
        outcomes = await asyncio.gather(
            *(_trade(workers[i % WORKERS], account, ids[i], profile.chain_id, fees, i + 1) for i in range(TRADES)),
            return_exceptions=True,
        )
    finally:
        for w in workers:
            await w.chain.close()
    return account, first, outcomes


async def _receipts(chain: Devnet, hashes: list[str], timeout: float = 30.0) -> dict[str, Any]:
    client = Chain(chain.profile.rpc_urls, chain.profile.multicall3)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = await client.receipts(hashes)
            if len(found) == len(hashes) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.2)
    finally:
        await client.close()


async def test_three_workers_sign_consecutive_nonces_that_all_mine(chain: Devnet, fleet: list[Database]) -> None:
    account, first, outcomes = await _run_fleet(chain, fleet, stored.address_lock)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failed, failed[:3]
    rows = await fleet[0].fetch_all(
        select(intent_txs.c.nonce, intent_txs.c.tx_hash, intent_txs.c.chain_id).order_by(intent_txs.c.nonce))
    assert [r.nonce for r in rows] == list(range(first, first + TRADES))  # consecutive, none twice, no hole
    assert {r.chain_id for r in rows} == {chain.profile.chain_id}
    receipts = await _receipts(chain, [str(o) for o in outcomes])
    assert len(receipts) == TRADES and all(int(r["status"]) == 1 for r in receipts.values())
    client = Chain(chain.profile.rpc_urls, chain.profile.multicall3)
    try:
        assert await client.nonce(account.address, "latest") == first + TRADES
    finally:
        await client.close()


async def test_without_the_shared_lock_the_workers_collide(chain: Devnet, fleet: list[Database]) -> None:
    """The test above can fail: the same fleet without the advisory lock (each worker trusting its own in-memory
    sequence, as one process may) signs nonces another worker signed, and the unique index refuses the rows."""
    _, _, outcomes = await _run_fleet(chain, fleet, lambda db, chain_id: None)
    refused = [o for o in outcomes if isinstance(o, exc.IntegrityError)]
    assert refused and "one_tx_per_nonce" in str(refused[0])
