"""Locked LP in the daily snapshot: read with AssetLocking's `lockDatas(token, user)` at the snapshot's block, in
the same Multicall3 batch as the wallet's balances (no round trip of its own, no event history).

A lock made before the bot ever ran counts; an amount moved to cooldown by `unlock` does not; a lock made after the
day's block does not; the value is the pair's reserves at NAV times the locked share of the LP supply."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from test_points_ledger import pts, user_with_key
from auxil.chain import mint

from bot.chain import protocol as p
from bot.app import App
from bot.chain.client import Call
from bot.points.snapshot import E4
from conftest import make_config
from devnet import operator
from devnet.harness import Devnet
from devnet.rpc import Sender, connect, contract

DAY = date(2026, 11, 20)
KEYS = ("0x" + "4c" * 32, "0x" + "5d" * 32)  # two lockers of the tests' own, funded by `operator.fund`
UNIT = 10**8
D = Decimal


async def lp_value_e4(app: App, units: int, block: int) -> Decimal:
    """USD e4 of `units` LP at `block`: the pair's reserves (MAG7 at NAV, USDC at $1) times units / supply."""
    lp = operator.lp_of(app.profile, "MAG7.ssi")
    index = app.profile.index("MAG7.ssi")
    async with connect(app.profile.rpc_urls[0]) as w3:
        pair = contract(w3, "UniswapV2Pair", lp.token.address)
        r0, r1, _ = await pair.functions.getReserves().call(block_identifier=block)
        supply = await pair.functions.totalSupply().call(block_identifier=block)
        token0 = await pair.functions.token0().call()
    index_units, usdc_units = (r0, r1) if token0 == index.token.address else (r1, r0)
    nav = await operator.index_nav(app.profile, "MAG7.ssi")
    usd = D(index_units).scaleb(-index.token.decimals) * nav + D(usdc_units).scaleb(-app.profile.usdc.decimals)
    return usd * E4 * units / supply


async def locked_e4(app: App, uid: int) -> int | None:
    row = await app.db.fetch_one("SELECT usd_e4 FROM point_holdings WHERE user_id = :user AND source = 'locked'", {"user": uid})
    return int(row[0]) if row is not None else None


async def test_a_lock_made_before_the_bot_ever_ran_counts_and_cooldown_does_not(chain: Devnet, tmp_path: Path) -> None:
    key = KEYS[0]
    address = Account.from_key(key).address
    await operator.fund(chain.profile, address, usdc=D(5_000), eth=D(1))
    async with connect(chain.url) as w3:  # before any bot: no cursor, no event read could have seen it
        owner = Sender(w3, chain_id=chain.profile.chain_id)
        await owner.transact(contract(w3, "AssetToken", chain.profile.index("MAG7.ssi").token.address)
                             .functions.transfer(address, 100 * UNIT))
    locked = await operator.provide_and_lock(chain.profile, key, D(1_000))
    pair, locking = operator.lp_of(chain.profile, "MAG7.ssi").token.address, str(chain.profile.locking)
    async with connect(chain.url) as w3:  # a quarter moves to cooldown: it no longer counts
        await Sender(w3, key, chain_id=chain.profile.chain_id).transact(
            contract(w3, "AssetLocking", locking).functions.unlock(pair, locked // 4))

    app = await App.start(make_config(chain, tmp_path))
    try:
        uid = await user_with_key(app, "early", key)
        got = await pts(app).snapshot.run(DAY)
        assert got.credited
        want = await lp_value_e4(app, locked - locked // 4, got.block)
        assert abs(D(await locked_e4(app, uid) or 0) - want) <= 1  # floored to 1e-4 USD
        breakdown = await pts(app).ledger.day_breakdown(uid, DAY)
        assert abs(breakdown["locked"] - want / E4 * app.config.points.locked) < D("0.01")
    finally:
        await app.stop()


async def test_locked_lp_is_read_at_the_days_block_in_the_wallets_batches(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five wallets, two per eth_call: three batches, each carrying one lockDatas(pair, wallet) per wallet beside the
    balances; nothing else is asked of the node than the day's block, the NAV read and those three calls. A lock made
    after the day's block (fixed by an earlier, interrupted run) is not in that day."""
    lp = operator.lp_of(app.profile, "MAG7.ssi")
    mag7 = app.profile.index("MAG7.ssi")
    keys = KEYS
    for k in keys:
        await operator.fund(app.profile, Account.from_key(k).address, usdc=D(5_000), eth=D(1))
    users = [await user_with_key(app, f"k{i}", k) for i, k in enumerate(keys)]
    for i in range(3):
        await user_with_key(app, f"plain{i}", Account.create().key.hex())
    for k in keys:
        await mint(app, mag7.token.address, Account.from_key(k).address, 100 * UNIT)
    first = await operator.provide_and_lock(app.profile, keys[0], D(500))
    head = await app.chain.block_number()
    async with app.db.transaction() as tx:  # the day's block, fixed by a run that stopped before reading wallets
        await tx.execute("INSERT INTO point_snapshots (day, epoch, block, timestamp, state, started_at) VALUES (:day, '1', :block, 0, 'reading', 0)",
                         {"day": DAY.isoformat(), "block": head})
    await operator.provide_and_lock(app.profile, keys[0], D(300))  # after the day's block
    await operator.provide_and_lock(app.profile, keys[1], D(200))  # after the day's block

    sent: list[tuple[list[Call], Any]] = []
    real = app.chain.multicall

    async def spy(calls: Any, block: Any = "latest") -> Any:
        sent.append((list(calls), block))
        return await real(calls, block)

    monkeypatch.setattr(app.chain, "multicall", spy)
    snapshotter = pts(app).snapshot
    monkeypatch.setattr(snapshotter, "_config", type(snapshotter._config)(batch_wallets=2))
    with app.chain.counting() as trips:  # the run's own requests, not the head tracker's polls beside it
        got = await snapshotter.run(DAY)
    asked = trips.by_method

    assert got.block == head and got.wallets == 5
    assert asked == {"eth_call": 4}  # the NAV read at the block, then one per batch of wallets
    batches = [calls for calls, block in sent if any(c.fn is p.BALANCE_OF for c in calls)]
    assert [block for calls, block in sent] == [head] * 4
    assert len(batches) == 3
    wallets = [str(r[0]) for r in await app.db.fetch_all("SELECT address FROM wallets ORDER BY id")]
    asked_locks = [c.args for calls in batches for c in calls if c.fn is p.LOCK_DATAS]
    assert asked_locks == [(lp.token.address, w) for w in wallets]
    assert all(c.target == app.profile.locking for calls in batches for c in calls if c.fn is p.LOCK_DATAS)

    want = await lp_value_e4(app, first, head)
    assert abs(D(await locked_e4(app, users[0]) or 0) - want) <= 1  # the first lock only
    assert await locked_e4(app, users[1]) is None  # locked after the day's block
