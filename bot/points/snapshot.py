"""The daily points snapshot: every linked wallet read at one block, valued at that block, then credited.

`Snapshotter.run(day)`:
1. fixes the day's block the first time (the newest block then) in `point_snapshots`, so a run that failed
   halfway and is run again reads the very same block;
2. reads, at that block, every index's NAV (the market's one-call state read) and the LP pairs' reserves and
   supply;
3. walks the live wallets in id order, `batch_wallets` at a time, each batch's balances (every index token,
   every staking token, sSOSO) and locked LP (AssetLocking's `lockDatas(token, user)` for every LP token,
   `bot.points.locks`) in one Multicall3 `eth_call`, and stores each batch's holdings with the cursor in one
   transaction: a crash loses at most the batch in flight, and the next run resumes after the last stored one
   (two runs at once: the one that moves the cursor on from where it read it stores the batch);
4. hands the day to `Ledger.credit`, which credits it once.

A symbol no source prices at the block (bot.market.prices: a partial NAV) is valued with its last fresh price, and the
day records which price that was and how old (`point_price_fallbacks`, migration 0012); an index that still
cannot be fully valued is valued at its pool price.

An address linked to two users (the same key imported twice) counts once, for the wallet linked first.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, Decimal

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, Result
from bot.core.amounts import from_base_units
from bot.market.engine.basket import nav_per_token
from bot.market.quotes import Market, Snapshot
from bot.points.config import PointsConfig
from bot.points.ledger import Ledger
from bot.points.locks import LockedLp
from bot.chain.profile import Profile
from bot.storage.db import Database
from bot.storage.points import Holding, PointRows
from bot.storage.prices import Fallback, LastFreshPriceRows

E4 = 10_000
MAX_E4 = 10**9 * E4  # $1B per holding: far above any real one; × 220X × 1000 still fits 64 bits


@dataclass(frozen=True)
class SnapshotResult:
    day: date
    block: int
    wallets: int  # read by this run (a resumed run: only the rest)
    credited: bool  # False: the day was credited already (nothing changed)
    round_trips: int
    seconds: float


@dataclass(frozen=True)
class _Slot:
    index: str
    source: str  # held, staked, soso
    token: str
    decimals: int


class Snapshotter:
    def __init__(self, db: Database, chain: Chain, market: Market, profile: Profile, ledger: Ledger,
                 config: PointsConfig, clock: Callable[[], float] = time.time,
                 prices: LastFreshPriceRows | None = None) -> None:
        self._rows = PointRows(db, clock)
        self._chain = chain
        self._market = market
        self._profile = profile
        self._ledger = ledger
        self._config = config
        self._locks = LockedLp(profile.locking, [lp.token.address for lp in profile.lp_tokens]) if profile.locking else None
        self._clock = clock
        self._prices = prices
        self._slots = self._layout()
        self.fault: Callable[[str], Awaitable[None]] | None = None  # fault tests: bot.trading.failpoints

    def _layout(self) -> list[_Slot]:
        slots = [_Slot(r.symbol, "held", r.token.address, r.token.decimals) for r in self._profile.indexes]
        slots += [_Slot(r.symbol, "staked", r.staking.address, r.staking.decimals) for r in self._profile.indexes if r.staking]
        soso = self._profile.soso_staking
        if soso is not None and self._profile.soso is not None:
            slots.append(_Slot(self._profile.soso.symbol, "soso", soso.address, soso.decimals))
        return slots

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    async def run(self, day: date | None = None) -> SnapshotResult:
        started, trips = time.perf_counter(), self._chain.round_trips
        day = day or self.today()
        block = await self._fix_block(day)
        if block is None:
            done = await self._rows.snapshot_day(day.isoformat())
            return SnapshotResult(day, done.block if done else 0, 0, False, self._chain.round_trips - trips, time.perf_counter() - started)
        extra = self._pair_calls()
        snap, pair_results = await self._market.snapshot_at(block, extra)
        snap = await self._with_fallbacks(day, snap)
        lp_e4 = self._lp_e4_per_unit(snap, pair_results)
        wallets = await self._read_wallets(day, block, snap, lp_e4)
        credited = await self._ledger.credit(day)
        return SnapshotResult(day, block, wallets, credited, self._chain.round_trips - trips, time.perf_counter() - started)

    async def _with_fallbacks(self, day: date, snap: Snapshot) -> Snapshot:
        """`snap` with each unpriced symbol valued at its last fresh price (published by the block's time), the
        fallbacks recorded for the day; fresh prices are remembered for the days to come."""
        if self._prices is None:
            return snap
        fresh = [r for s in snap.prices if (r := snap.source(s)) is not None]
        await self._prices.remember([*fresh, *self._market.last_fresh.values()])
        missing = set().union(*(st.unpriced for st in snap.indexes.values()))
        soso = self._profile.soso
        if soso is not None and soso.symbol in self._profile.prices and soso.symbol not in snap.prices:
            missing.add(soso.symbol)
        if not missing:
            return snap
        known = {s: r for s, r in (await self._prices.last(missing)).items() if r.published_at <= snap.timestamp}
        for symbol, r in self._market.last_fresh.items():
            newer = symbol not in known or r.published_at >= known[symbol].published_at
            if symbol in missing and r.published_at <= snap.timestamp and newer:
                known[symbol] = r
        used = [Fallback(s, r.price, r.source, r.published_at, snap.timestamp - r.published_at)
                for s, r in sorted(known.items()) if r.price is not None]
        await self._prices.record_fallbacks(day.isoformat(), used)
        prices = {**snap.prices, **{f.symbol: f.price for f in used}}
        indexes = {
            sym: replace(st, nav=nav_per_token(st.tokenset, prices), unpriced=())
            if st.partial and all(e.symbol in prices for e in st.tokenset) else st
            for sym, st in snap.indexes.items()
        }
        return replace(snap, prices=prices, indexes=indexes)

    async def _fix_block(self, day: date) -> int | None:
        """The day's block (fixed on the first run); None when the day is credited already."""
        d = day.isoformat()
        row = await self._rows.snapshot_day(d)
        if row is None:
            head = await self._chain.block_number()
            stamp = await self._chain.w3.eth.get_block(head)
            row = await self._rows.open_day(d, self._config.epoch_of(day).name, head, int(stamp["timestamp"]))
        return None if row.state == "credited" else row.block

    def _pair_calls(self) -> list[Call]:
        calls = []
        for lp in self._profile.lp_tokens:
            calls += [Call(lp.token.address, p.GET_RESERVES), Call(lp.token.address, p.TOTAL_SUPPLY), Call(lp.token.address, p.TOKEN0)]
        return calls

    def _lp_e4_per_unit(self, snap: Snapshot, results: list[Result]) -> dict[str, tuple[str, Decimal]]:
        """LP token address -> (its index, USD e4 units per base unit) from the pair's reserves at NAV and $1 USDC."""
        out: dict[str, tuple[str, Decimal]] = {}
        it = iter(results)
        for lp in self._profile.lp_tokens:
            reserves, supply, token0 = next(it), next(it), next(it)
            state = snap.indexes.get(lp.index)
            if not (reserves.ok and supply.ok and token0.ok) or state is None or state.price is None or int(supply.one()) == 0:
                continue
            ref = self._profile.index(lp.index)
            r0, r1, _ = (int(v) for v in reserves.values)
            index_units, usdc_units = (r0, r1) if str(token0.one()).lower() == ref.token.address.lower() else (r1, r0)
            usd = from_base_units(index_units, ref.token.decimals) * state.price + from_base_units(usdc_units, self._profile.usdc.decimals)
            out[lp.token.address] = (lp.index, usd * E4 / int(supply.one()))
        return out

    async def _read_wallets(self, day: date, block: int, snap: Snapshot, lp_e4: dict[str, tuple[str, Decimal]]) -> int:
        d = day.isoformat()
        soso_price = snap.prices.get(self._profile.soso.symbol) if self._profile.soso is not None else None
        read = 0
        while True:
            day_row = await self._rows.snapshot_day(d)
            if day_row is None or day_row.state != "reading":  # another run credited the day meanwhile
                return read
            batch = await self._rows.wallets_from(day_row.next_wallet, self._config.batch_wallets)
            if not batch:
                return read
            calls: list[Call] = []
            for w in batch:
                calls += [Call(s.token, p.BALANCE_OF, (w.address,)) for s in self._slots]
                calls += self._locks.calls(w.address) if self._locks is not None else []
            results = await self._chain.multicall(calls, block=block)
            rows: list[Holding] = []
            it = iter(results)
            for w in batch:
                address, user = w.address, w.user_id
                for slot in self._slots:
                    res = next(it)
                    units = int(res.one()) if res.ok else 0
                    if units <= 0:
                        continue
                    price = soso_price if slot.source == "soso" else (snap.indexes[slot.index].price if slot.index in snap.indexes else None)
                    if price is not None:
                        rows.append(Holding(user, address, slot.index, slot.source, _e4(from_base_units(units, slot.decimals) * price)))
                locked = self._locks.amounts(it) if self._locks is not None else {}
                for token, units in locked.items():
                    if token in lp_e4:  # else the pair could not be valued at this block
                        index, per_unit = lp_e4[token]
                        rows.append(Holding(user, address, index, "locked", _e4(per_unit * units / E4)))
            if await self._rows.store_batch(d, day_row.next_wallet, batch[-1].id + 1, rows):
                read += len(batch)  # else another run stored this batch first: go on from where it got
                if self.fault is not None:
                    await self.fault("snapshot_after_batch")


def _e4(usd: Decimal) -> int:
    """USD in integer 1e-4 units, floored, and bounded so the ledger's integer SQL can never overflow into REAL."""
    return min(MAX_E4, int((usd * E4).to_integral_value(rounding=ROUND_FLOOR)))
