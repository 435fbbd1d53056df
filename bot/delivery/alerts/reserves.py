"""Proof-of-reserves alerts: tell holders who switched `reserves` on in /alerts when their index's backing falls
below 100 % by more than the daily fee explains (bot.market.reserves), once per crossing.

`ReservesWatcher.check()` (the `alerts:reserves` job) reads every index's reserves in one call at one block. An index
found short that was not short at the last check (reserve_state) is a crossing: its holders (users whose live
wallets hold or stake it at that block) are queued one message each under the key
`reserves:<token>:<crossing number>:<user>`, and only then is the crossing recorded, so a crash in between, or two
processes checking at once, queue each message once; the outbox keeps only those who switched the alert on. It is
told again only after a check found it backed again and a later one short again. While a rebalance runs the basket moves before the
tokenset does, so an index mid-rebalance is not judged (its state is kept until the rebalance ends).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

from bot.chain.profile import IndexRef
from bot.core.messages import Msg, Pct, Reply, Usd
from bot.delivery.outbox import Outbox
from bot.market.reserves import ReserveReader, Reserves
from bot.storage.reserves import ReserveStateRows

log = logging.getLogger(__name__)

Holders = Callable[[IndexRef, int], Awaitable[set[int]]]


def shortfall_reply(r: Reserves) -> Reply:
    backing = r.backing if r.backing is not None else Decimal(0)
    return Reply.of(
        Msg("reserves.alert.title", {"index": r.index, "backing": Pct(backing)}, style="title"),
        Msg("reserves.alert.body", {"held": Usd(r.held_usd), "owed": Usd(r.owed_usd), "beyond": Pct(r.gap - r.fee_explains),
                                    "fee": Pct(r.fee_explains, 4), "index": r.index}),
        Msg("common.block", {"block": r.block}),
    )


class ReservesWatcher:
    def __init__(self, reader: ReserveReader, rows: ReserveStateRows, holders: Holders, outbox: Outbox) -> None:
        self._reader = reader
        self._rows = rows
        self._holders = holders
        self._outbox = outbox

    async def check(self) -> int:
        """Read every index's reserves and tell holders of each new shortfall; how many messages were queued."""
        found = await self._reader.read()
        queued = 0
        for ref in self._reader.indexes:
            r = found.get(ref.symbol)
            if r is None or r.rebalancing or r.backing is None:
                continue
            was_short, crossings = await self._rows.state(ref.token.address)
            if r.short and not was_short:  # told before it is recorded: a crash in between tells again under the same keys
                queued += await self._tell(ref, r, crossings + 1)
                await self._rows.move(ref.token.address, True, crossings + 1, r.block)
            elif was_short and not r.short:  # backed again: the next fall is news
                await self._rows.move(ref.token.address, False, crossings, r.block)
        return queued

    async def _tell(self, ref: IndexRef, r: Reserves, crossing: int) -> int:
        reply = shortfall_reply(r)
        users = await self._holders(ref, r.block)
        queued = 0
        for user in sorted(users):
            key = f"reserves:{ref.token.address}:{crossing}:{user}"
            if await self._outbox.put(user, reply, "reserves", key=key, urgent=True) is not None:
                queued += 1
        log.warning("%s backing %s at block %s: %d holders, %d told", ref.symbol, r.backing, r.block, len(users), queued)
        return queued
