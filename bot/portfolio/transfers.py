"""Transfers in and out of a wallet, detected from its balances: what the chain shows it holding that the ledger's
fills do not explain becomes a `transfer_in` or `transfer_out` fill.

What is reconciled, per wallet (every live custodial and connected wallet) and index traded in a pool on the home
chain (the indexes /positions values and the PnL covers): the index token held, plus its staking token and what
cools down after an unstake, read at one block (bot.market.positions: the one Multicall3 `eth_call` /positions
makes, many wallets at once for the periodic sweep). Staking is 1:1 and keeps the tokens the user's, so stake,
unstake and claim are no transfers. USDC is the ledger's cash, not a holding with a cost basis, and SOSO no index:
neither is reconciled. Indexes issued by a factory (venue "issuance", MAG7.nex) are read on their own chain, at one
block of that chain, and valued at their factory's NAV per token (bot.portfolio.issued), then reconciled against
that chain's fills (a factory's fill carries the block of its fill) one index at a time: while the wallet has a
request to the factory for that index still open (pending, or filled and not yet in the ledger), that index waits;
a cancelled one holds nothing up. An index without a price at that block is left out (a transfer is valued when
seen: it waits for a price).

The difference is priced at what /positions values the holding at (NAV per token, the pool price while NAV is
partial; an issued index at its factory's NAV, as /wallet shows it) and recorded at the block it was seen at, once per
chain, wallet, index and block (bot.storage.fills.reconcile).
Only settled state is reconciled: while an intent of the wallet may still move tokens (confirmed, signed, sent,
held), a mined trade has no fill yet, or the ledger holds a fill newer than the read, nothing is recorded, so a trade
mined but not yet recorded is never taken for a transfer; the next run looks again. How transfers are costed is
bot.portfolio.pnl's rule. Balances held before the ledger existed are, the first time, a transfer in at that day's
value: the bot cannot know what they cost.

When: the `portfolio:transfers` job (every `[portfolio] transfers_seconds`, 300 by default, once per interval across
a fleet on PostgreSQL), before /positions, /pnl and /history compute (`check`: at most one read per wallet and block),
and before the daily digest tells a user their PnL (`settle`: the digests due together share their reads, `BATCH`
wallets to one, as the job's). A wallet left waiting is counted for operators (bot.metrics: `TRANSFER_WAITS`, and
`TRANSFER_WAITING` after each sweep).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection
from decimal import Decimal
from functools import partial
from typing import Protocol

from apscheduler.triggers.interval import IntervalTrigger

from bot.chain.client import HeadTracker
from bot.chain.profile import Profile
from bot.core.amounts import from_base_units, to_base_units
from bot.delivery.schedule import Schedule
from bot.market.positions import PositionReader, Positions
from bot.metrics import TRANSFER_WAITING, TRANSFER_WAITS
from bot.portfolio.fill import Fill
from bot.portfolio.issued import Holdings, IssuedHoldings
from bot.portfolio.ledger import FillLedger, Stamp
from bot.portfolio.pnl import TRANSFER_IN, TRANSFER_OUT

log = logging.getLogger(__name__)

JOB = "portfolio:transfers"
BATCH = 40  # wallets per `eth_call` of the sweep (each about a dozen reads)
GATHER_SECONDS = 0.25  # how long a digest's `settle` waits for the others due with it, to read their wallets together


class LiveWallets(Protocol):
    def __call__(self, users: Collection[int] | None = None) -> Awaitable[list[tuple[int, str]]]:
        """(user, address) of every live wallet (of `users` only, when given): bot.storage.wallets.every_live."""


def held_units(read: Positions, profile: Profile) -> dict[str, tuple[int, int, Decimal]]:
    """Per priced pool index: (base units held, staked and cooling down, the token's decimals, USD per token)."""
    by_symbol = {pos.symbol: pos for pos in read.indexes}
    held = {}
    for ref in profile.indexes:
        pos = by_symbol.get(ref.symbol)
        if ref.venue != "pool" or pos is None or pos.price is None:
            continue
        decimals = ref.token.decimals
        units = read.balances.of(ref.symbol).units + to_base_units(pos.cooling, decimals)
        if ref.staking is not None:
            units += to_base_units(from_base_units(read.balances.of(ref.staking.symbol).units, ref.staking.decimals), decimals)
        held[ref.symbol] = (units, decimals, pos.price)
    return held


def pool_holdings(read: Positions, profile: Profile) -> Holdings:
    """The pool indexes of a /positions read, on the home chain at its block."""
    return Holdings(profile.chain_id, read.address, read.block, read.timestamp, held_units(read, profile))


def transfer_fill(user_id: int, seen: Holdings, stamp: Stamp, index: str, units: int) -> Fill:
    """`units` of `index` that came in (> 0) or left (< 0) by `seen`'s block, at its price then: nothing paid for what
    came in, nothing received for what left, no pool fee, no gas of the bot's."""
    _, decimals, price = seen.held[index]
    sides = (("", 0, 0, index, units, decimals) if units > 0 else (index, -units, decimals, "", 0, 0))
    return Fill(None, user_id, seen.chain_id, TRANSFER_IN if units > 0 else TRANSFER_OUT, index, *sides, price, 0,
                Decimal(0), stamp.btc_usd, "", seen.block, seen.timestamp, wallet=seen.address)


class Transfers:
    def __init__(self, ledger: FillLedger, positions: PositionReader, profile: Profile, head: HeadTracker,
                 wallets: LiveWallets, issued: IssuedHoldings | None = None) -> None:
        """`issued`: the holdings of factory-issued indexes, on their own chains (None: the bot loads none)."""
        self._ledger = ledger
        self._issued = issued
        self._positions = positions
        self._profile = profile
        self._head = head
        self._wallets = wallets
        self._reads: dict[str, Positions] = {}  # wallet -> its read by `check` at `_reads_block` (this process)
        self._reads_block = 0
        self._settled: dict[str, tuple[int, ...]] = {}  # wallet -> the blocks its reads were last reconciled at, settled
        self._asking: list[tuple[int, asyncio.Future[None]]] = []  # `settle`'s users gathered for the next read
        self._gathering: set[asyncio.Task[None]] = set()

    async def check(self, user_id: int, wallet: str, read: Positions | None = None,
                    issued: list[Holdings] | None = None) -> list[Fill]:
        """Before a portfolio view: reconcile `wallet` with `read` (the view's own read), else with a read of its own,
        at most one per block (the last one is reused while the head has not moved), and its issued indexes on their
        own chains likewise (with `issued`, the view's own reads of them); the ledger side is asked again until the
        wallet is settled at those blocks (a fill recorded since may settle it), and not after: nothing can change the
        wallet's holdings or its ledger at blocks already settled (`_unsettled`: no trade in flight, none mined without
        its fill, no fill newer), so a second view in the same block costs no query. The transfers recorded."""
        last = self._reads.get(wallet)
        if read is None:
            head = self._head.fresh_head()
            read = last if last is not None and head is not None and last.block == head else await self._positions.read(wallet)
        if read.block > self._reads_block:  # a new block: the older reads serve no one (kept per block only, so the
            self._reads, self._reads_block, self._settled = {}, read.block, {}  # caches never grow with every wallet)
        self._reads[wallet] = read
        if issued is None:
            issued = await self._issued.read(wallet) if self._issued is not None else []  # at most one per chain and block
        blocks = (read.block, *(s.block for s in issued))
        if self._settled.get(wallet) == blocks:
            return []
        recorded, waits = await self._reconcile_wallet(user_id, pool_holdings(read, self._profile), issued,
                                                       await self._ledger.stamp())
        if not waits:
            self._settled[wallet] = blocks
        return recorded

    async def sweep(self) -> int:
        """The `portfolio:transfers` job: every live wallet, `BATCH` to a read (and one per chain of issued indexes); how
        many transfers it recorded. How many wallets waited is the `TRANSFER_WAITING` gauge until the next sweep."""
        recorded, waiting = await self._settle_wallets(await self._wallets())
        TRANSFER_WAITING.set(waiting)
        return recorded

    async def settle(self, user_id: int) -> None:
        """Before the daily digest tells `user_id` their PnL: every live wallet of theirs reconciled now, so a transfer
        made since the last sweep is in it. The users asking within `GATHER_SECONDS` of each other (the digests due at
        the same minute, run at once) are read together, `BATCH` wallets to a read as the sweep's, never one call per
        user. Returns when their read is reconciled; a failure is logged, and the digest tells what is recorded."""
        waiter = asyncio.get_running_loop().create_future()
        self._asking.append((user_id, waiter))
        if not self._gathering:
            task = asyncio.create_task(self._settle_gathered())
            self._gathering.add(task)
            task.add_done_callback(self._gathering.discard)
        await waiter

    async def _settle_gathered(self) -> None:
        """The users gathered: their wallets reconciled; every one of them let go whatever happens (even cancelled)."""
        asking: list[tuple[int, asyncio.Future[None]]] | None = None
        try:
            await asyncio.sleep(GATHER_SECONDS)
            asking, self._asking = self._asking, []
            self._gathering.clear()  # who asks from now on starts the next gathering
            await self._settle_wallets(await self._wallets({user_id for user_id, _ in asking}))
        except Exception:  # noqa: BLE001 - the digests go out with what the ledger holds; the job looks again
            log.warning("transfer detection before the digests of %d users failed", len(asking or ()), exc_info=True)
        finally:
            if asking is None:  # cancelled while gathering
                asking, self._asking = self._asking, []
                self._gathering.clear()
            for _, waiter in asking:
                if not waiter.done():
                    waiter.set_result(None)

    async def _settle_wallets(self, wallets: list[tuple[int, str]]) -> tuple[int, int]:
        """`wallets` reconciled, `BATCH` to a read: how many transfers recorded, how many wallets waited."""
        if not wallets:
            return 0, 0
        stamp = await self._ledger.stamp()
        recorded = waiting = 0
        for at in range(0, len(wallets), BATCH):
            chunk = wallets[at:at + BATCH]
            addresses = [address for _, address in chunk]
            try:
                reads = await self._positions.read_many(addresses)
                issued = await self._issued.read_many(addresses) if self._issued is not None else []
            except Exception:  # noqa: BLE001 - an unreadable batch waits for the next run; the others go on
                log.warning("transfer detection: %d wallets unreadable", len(chunk), exc_info=True)
                continue
            for (user_id, address), read in zip(chunk, reads, strict=True):
                got, waits = await self._reconcile_wallet(user_id, pool_holdings(read, self._profile),
                                                          [s for s in issued if s.address == address], stamp)
                recorded, waiting = recorded + len(got), waiting + waits
        return recorded, waiting

    async def _reconcile_wallet(self, user_id: int, pool: Holdings, issued: list[Holdings],
                                stamp: Stamp) -> tuple[list[Fill], bool]:
        """The transfers a wallet's reads show, recorded, and whether it waits for something (counted once): its ledger
        is not settled for a read, or a request to an issued index's factory is open. The pool indexes are reconciled
        together, each issued index on its own (one waiting for its factory holds up no other)."""
        recorded: list[Fill] = []
        waits = False
        for seen, indexes in [(pool, list(pool.held)), *((s, [index]) for s in issued for index in s.held)]:
            got = await self._ledger.rows.reconcile(
                seen.chain_id, seen.address, seen.block, {s: seen.held[s][0] for s in indexes}, self._ledger.kinds,
                partial(transfer_fill, user_id, seen, stamp))
            if got is None:
                log.info("transfer detection: %s waits for %s on chain %d (a trade or factory request in flight or not "
                         "yet recorded at block %d)", seen.address, ", ".join(indexes), seen.chain_id, seen.block)
                waits = True
            else:
                recorded += got
        if waits:
            TRANSFER_WAITS.inc()
        return recorded, waits


def schedule_transfers(schedule: Schedule, transfers: Transfers, every_seconds: int) -> None:
    """(Re)place the detection job at start-up, every `every_seconds` ([portfolio] transfers_seconds): once per
    interval across a fleet (a durable schedule's periodic job)."""

    async def make_jobs() -> None:
        schedule.put(JOB, IntervalTrigger(seconds=every_seconds), transfers.sweep)

    schedule.rebuild(make_jobs)
