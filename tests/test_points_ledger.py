"""The daily snapshot and the points ledger on the devnet: what is credited, that nothing is credited twice,
that a run failing halfway resumes, locked LP, boosts, and the referral rules."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from auxil.trading import funded_user

from bot.app import App
from bot.points import Points
from bot.points.ledger import points_of
from bot.points.referrals import code_from
from devnet import operator
from devnet.rpc import DEV_KEYS, Sender, connect, contract
from auxil.chain import mint

DAY = date(2026, 11, 20)
UNIT = 10**8
CENT = Decimal("0.01")


def pts(app: App) -> Points:
    assert app.services.points is not None
    return app.services.points


async def stake_as(app: App, key: str, staking: str, token: str, units: int) -> None:
    async with connect(app.profile.rpc_urls[0]) as w3:
        me = Sender(w3, key, chain_id=app.profile.chain_id)
        await me.transact(contract(w3, "AssetToken", token).functions.approve(staking, units))
        await me.transact(contract(w3, "StakeToken", staking).functions.stake(units))


async def ledger_rows(app: App) -> list[tuple[Any, ...]]:
    rows = await app.db.fetch_all("SELECT user_id, day, source, reason, points FROM point_ledger ORDER BY 1, 2, 3, 4")
    return [tuple(r) for r in rows]


async def totals(app: App) -> dict[int, int]:
    return {int(r[0]): int(r[1]) for r in await app.db.fetch_all("SELECT user_id, points FROM point_totals")}


async def user_with_key(app: App, name: str, key: str) -> int:
    row = await app.services.users.seen("console", name)
    await app.services.wallets.import_key(row.id, key)
    return row.id


def close(got: Decimal, want: Decimal, slack: Decimal = CENT) -> bool:
    return abs(got - want) <= slack


async def test_held_and_staked_are_credited_at_nav_once_however_often_the_day_runs(app: App) -> None:
    mag7 = app.profile.index("MAG7.ssi")
    assert mag7.staking is not None
    uid, address = await funded_user(app)
    await mint(app, mag7.token.address, address, 3 * UNIT)
    account = await app.services.wallets.account(uid)
    await stake_as(app, account.key.hex(), mag7.staking.address, mag7.token.address, 1 * UNIT)
    nav = await operator.index_nav(app.profile, "MAG7.ssi")

    first = await pts(app).snapshot.run(DAY)
    assert first.credited and first.wallets == 1
    got = await pts(app).ledger.day_breakdown(uid, DAY)
    assert close(got["held"], 2 * nav * 3) and close(got["staked"], 1 * nav * 15) and "boost" not in got
    rows, sums = await ledger_rows(app), await totals(app)

    again = await pts(app).snapshot.run(DAY)
    assert not again.credited and again.wallets == 0
    assert await pts(app).ledger.credit(DAY) is False
    assert await ledger_rows(app) == rows and await totals(app) == sums
    standing = await pts(app).ledger.standing(uid, "1")
    assert standing.rank == 1 and standing.points == points_of(sums[uid]) == got["held"] + got["staked"]


async def test_a_snapshot_failing_halfway_resumes_at_the_same_block_without_double_credit(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    mag7 = app.profile.index("MAG7.ssi")
    users = []
    for i in range(3):
        uid, address = await funded_user(app, f"u{i}")
        await mint(app, mag7.token.address, address, (i + 1) * UNIT)
        users.append(uid)
    snapshotter = pts(app).snapshot
    monkeypatch.setattr(snapshotter, "_config", type(snapshotter._config)(batch_wallets=1))
    real = app.chain.multicall
    balance_calls = 0

    async def failing(calls: Any, block: Any = "latest") -> Any:
        nonlocal balance_calls
        if calls and any(c.fn.signature.startswith("balanceOf") for c in calls):  # a batch of wallets
            balance_calls += 1
            if balance_calls == 2:
                raise ConnectionError("the node went away")
        return await real(calls, block)

    monkeypatch.setattr(app.chain, "multicall", failing)
    with pytest.raises(ConnectionError):
        await snapshotter.run(DAY)
    row = await app.db.fetch_one("SELECT next_wallet, state, block FROM point_snapshots")
    assert row is not None and row.state == "reading"
    held = await app.db.fetch_all("SELECT user_id FROM point_holdings")
    assert [r[0] for r in held] == users[:1]  # the first batch is stored, the second was in flight

    await mint(app, mag7.token.address, (await app.services.wallets.address_of(users[2])) or "", 50 * UNIT)  # after the block
    done = await snapshotter.run(DAY)
    assert done.credited and done.wallets == 2 and done.block == row.block
    nav = await operator.index_nav(app.profile, "MAG7.ssi")
    for i, uid in enumerate(users):  # each once, and the late mint is not in it: the day's block was fixed
        assert close((await pts(app).ledger.day_breakdown(uid, DAY))["held"], (i + 1) * nav * 3)


async def test_locked_lp_earns_the_locked_multiplier(app: App) -> None:
    key = DEV_KEYS[2]  # funded with devnet USDC and ETH
    uid = await user_with_key(app, "locker", key)
    address = Account.from_key(key).address
    mag7 = app.profile.index("MAG7.ssi")
    await mint(app, mag7.token.address, address, 100 * UNIT)
    await operator.provide_and_lock(app.profile, key, Decimal(1_000))  # $1,000 of USDC and as much MAG7.ssi
    got = await pts(app).snapshot.run(DAY)
    assert got.credited
    breakdown = await pts(app).ledger.day_breakdown(uid, DAY)
    assert close(breakdown["locked"], Decimal(2_000) * 20, slack=Decimal(40))  # about $2,000 of LP at 20X
    rows = await app.db.fetch_all("SELECT source FROM point_holdings WHERE user_id = :user", {"user": uid})
    assert {r[0] for r in rows} >= {"held", "locked"}


async def test_staked_soso_boosts_capped_per_index(app: App) -> None:
    soso, ssoso = app.profile.soso, app.profile.soso_staking
    assert soso is not None and ssoso is not None
    mag7 = app.profile.index("MAG7.ssi")
    uid, address = await funded_user(app)
    await mint(app, mag7.token.address, address, 10 * UNIT)  # about $1,000
    await mint(app, soso.address, address, 10_000 * 10**18, kind="TestToken")  # $6,000 at $0.60
    account = await app.services.wallets.account(uid)
    async with connect(app.profile.rpc_urls[0]) as w3:
        me = Sender(w3, account.key.hex(), chain_id=app.profile.chain_id)
        await me.transact(contract(w3, "TestToken", soso.address).functions.approve(ssoso.address, 10_000 * 10**18))
        await me.transact(contract(w3, "StakeToken", ssoso.address).functions.stake(10_000 * 10**18))
    await pts(app).snapshot.run(DAY)
    got = await pts(app).ledger.day_breakdown(uid, DAY)
    table = app.services.boost
    top = table.levels[-1]  # ratio 6: the top level
    nav = await operator.index_nav(app.profile, "MAG7.ssi")
    effective = min(table.held * top.boost, table.cap_for("MAG7.ssi"))
    assert close(got["held"] + got["boost"], 10 * nav * effective, slack=Decimal("0.5"))


async def test_referral_share_welcome_bonus_and_the_rules(app: App) -> None:
    referrals = pts(app).referrals
    ref_id, _ = await funded_user(app, "referrer")
    code = await referrals.code_of(ref_id)
    assert code == await referrals.code_of(ref_id) and code_from(f"ref_{code.lower()}") == code

    friend = await app.services.users.seen("telegram", "friend")
    assert await referrals.start(friend.id, f"ref_{code}") == "joined"
    assert await referrals.start(friend.id, "ref_" + await referrals.code_of(friend.id)) == "already_started"
    assert await referrals.referrer_of(friend.id) == ref_id  # fixed at the first /start

    outcomes = {}
    for name, text in [("a", "ref_ZZZZZZZZ"), ("b", "ref_bad!"), ("c", None)]:
        u = await app.services.users.seen("telegram", name)
        outcomes[name] = await referrals.start(u.id, text)
    assert outcomes == {"a": "unknown", "b": "malformed", "c": None}
    loner = await app.services.users.seen("telegram", "loner")
    assert await referrals.start(loner.id, await referrals.code_of(loner.id)) == "self"
    # a cycle: the referrer (never started) tries to join through their own invitee's code
    assert await referrals.start(ref_id, await referrals.code_of(friend.id)) == "cycle"

    # the same person's Discord identity, invited by the friend, then linking the referrer's own wallet
    alias = await app.services.users.seen("discord", "referrer-alias")
    assert await referrals.start(alias.id, await referrals.code_of(friend.id)) == "joined"
    mag7 = app.profile.index("MAG7.ssi")
    alias_address = await app.services.wallets.create(alias.id)
    await mint(app, mag7.token.address, alias_address, 1 * UNIT)
    async with app.db.transaction() as tx:  # the referrer connects that same wallet (as /connect would link it)
        await tx.execute("INSERT INTO wallets (user_id, kind, address, created_at) VALUES (:user, 'connected', :address, 0)",
                         {"user": ref_id, "address": alias_address})

    friend_address = await app.services.wallets.create(friend.id)
    await mint(app, mag7.token.address, friend_address, 2 * UNIT)
    await mint(app, mag7.token.address, (await app.services.wallets.address_of(ref_id)) or "", 1 * UNIT)
    await pts(app).snapshot.run(DAY)

    friend_day = await pts(app).ledger.day_breakdown(friend.id, DAY)
    referrer_day = await pts(app).ledger.day_breakdown(ref_id, DAY)
    welcome = pts(app).config.welcome_bonus
    assert friend_day["bonus"] == welcome
    assert close(referrer_day["referral"], friend_day["held"] * pts(app).config.referral_share)
    assert "referral" not in await pts(app).ledger.day_breakdown(friend.id, DAY)  # the alias is void
    assert "bonus" not in await pts(app).ledger.day_breakdown(alias.id, DAY)
    void = await app.db.fetch_one("SELECT void_reason, qualified_day FROM referrals WHERE invitee_id = :user", {"user": alias.id})
    assert void is not None and void[0] == "self"
    summary = await pts(app).ledger.referral_summary(ref_id, "1")
    assert (summary.joined, summary.active) == (1, 1) and summary.total_points == referrer_day["referral"]
    rows = await ledger_rows(app)
    await pts(app).snapshot.run(DAY)
    assert await ledger_rows(app) == rows


async def test_corrections_are_new_rows_and_move_the_totals(app: App) -> None:
    uid, address = await funded_user(app)
    await mint(app, app.profile.index("MAG7.ssi").token.address, address, UNIT)
    await pts(app).snapshot.run(DAY)
    before = (await pts(app).ledger.standing(uid, "1")).points
    assert await pts(app).ledger.correct(uid, DAY, Decimal("-1.5"), "duplicate wallet")
    assert not await pts(app).ledger.correct(uid, DAY, Decimal("-1.5"), "duplicate wallet")  # once
    assert (await pts(app).ledger.standing(uid, "1")).points == before - Decimal("1.5")
    sources = [r[2] for r in await ledger_rows(app)]
    assert "correction" in sources and "held" in sources


async def test_two_workers_on_the_same_day_credit_it_once(app: App, tmp_path: Any) -> None:
    """A second bot process on the same database (its own connection) runs the same day at the same time."""
    from bot.points.ledger import Ledger
    from bot.points.snapshot import Snapshotter
    from bot.storage.db import Database

    for i in range(4):
        _, address = await funded_user(app, f"w{i}")
        await mint(app, app.profile.index("MAG7.ssi").token.address, address, UNIT)
    other_db = await Database.open(app.config.database_where)
    try:
        p = pts(app)
        other = Snapshotter(other_db, app.chain, app.services.market, app.profile,
                            Ledger(other_db, app.services.boost, p.config), p.config)
        first, second = await asyncio.gather(p.snapshot.run(DAY), other.run(DAY))
    finally:
        await other_db.close()
    assert sorted([first.credited, second.credited]) == [False, True]
    counts = await app.db.fetch_all("SELECT user_id, COUNT(*) FROM point_ledger WHERE source = 'held' GROUP BY user_id")
    assert len(counts) == 4 and all(int(c[1]) == 1 for c in counts)
    sums = await totals(app)
    held = {int(r[0]): int(r[1]) for r in await app.db.fetch_all("SELECT user_id, SUM(points) FROM point_ledger GROUP BY user_id")}
    assert sums == held  # the totals moved exactly once
