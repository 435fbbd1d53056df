"""LP locked in the AssetLocking contract, from its Lock and UnLock events.

The facts file's interface has no view of a locker's amount, but both events carry `userLockAmount` (the
locker's locked amount of that token after the call). `LockIndex.scan(to_block)` stores every such event up
to `to_block` (in ranges of `step` blocks, resuming from the stored cursor), and `amounts_at(block)` gives,
for every (locker, token), the amount after the last event at or before `block`: what was locked then.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address

from bot import protocol as p
from bot.chain import Chain
from bot.storage.db import Database


class LockIndex:
    def __init__(self, db: Database, chain: Chain, contract: str, step: int = 10_000) -> None:
        self._db = db
        self._chain = chain
        self._contract = contract
        self._step = step

    async def scan(self, to_block: int) -> int:
        """Store the events up to `to_block`; returns how many were new."""
        row = await self._db.fetch_one("SELECT block FROM lock_scan WHERE contract = ?", (self._contract,))
        start = int(row[0]) + 1 if row else 0
        added = 0
        while start <= to_block:
            end = min(to_block, start + self._step - 1)
            logs = await self._chain.w3.eth.get_logs({
                "address": to_checksum_address(self._contract), "fromBlock": start, "toBlock": end,
                "topics": [[p.LOCK_EVENT, p.UNLOCK_EVENT]],
            })
            rows = [_row(log) for log in logs]
            async with self._db.transaction() as tx:
                await tx.executemany("INSERT OR IGNORE INTO lock_events VALUES (?, ?, ?, ?, ?)", rows)
                await tx.execute("INSERT INTO lock_scan VALUES (?, ?) ON CONFLICT (contract) DO UPDATE SET block = excluded.block",
                                 (self._contract, end))
            added += len(rows)
            start = end + 1
        return added

    async def amounts_at(self, block: int) -> dict[tuple[str, str], int]:
        """(locker, token) -> base units locked after the last event at or before `block` (zeros left out)."""
        rows = await self._db.fetch_all(
            """SELECT locker, token, amount FROM (
                 SELECT locker, token, amount, ROW_NUMBER() OVER (
                   PARTITION BY locker, token ORDER BY block DESC, log_index DESC) AS n
                 FROM lock_events WHERE block <= ?) WHERE n = 1""",
            (block,),
        )
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows if int(r[2]) > 0}


def _row(log: Any) -> tuple[str, str, int, int, str]:
    locker, token, _, user_amount, _ = decode(list(p.LOCK_EVENT_DATA), bytes(log["data"]))
    return (to_checksum_address(locker), to_checksum_address(token), int(log["blockNumber"]), int(log["logIndex"]), str(user_amount))
