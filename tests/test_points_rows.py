"""The points programme's storage (bot.storage.points) on its own, on each engine the `db` fixture gives: what a day's
credit writes, to the milli-point (integer division truncates on both), and that two processes racing on the same
database credit a day once, store a batch once, make one code per user and never close a referral cycle."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from bot.points.boost import BoostTable
from bot.points.config import PointsConfig
from bot.points.ledger import Ledger
from bot.points.referrals import Referrals
from bot.storage.db import Database
from bot.storage.points import Holding, PointRows
from bot.storage import schema

DAY = date(2026, 11, 20)
D = DAY.isoformat()
E4 = 10_000  # USD 1e-4 units


async def users(db: Database, n: int, prefix: str = "u") -> list[int]:
    ids = []
    async with db.transaction() as tx:
        for i in range(n):
            row = await tx.fetch_one(tx.insert(schema.users).values(
                platform="telegram", platform_user_id=f"{prefix}{i}", created_at=0, last_seen_at=0).returning(schema.users.c.id))
            assert row is not None
            ids.append(int(row.id))
    return ids


async def link(db: Database, user_id: int, address: str, kind: str = "connected") -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO wallets (user_id, kind, address, created_at) VALUES (:user, :kind, :address, 0)",
                         {"user": user_id, "kind": kind, "address": address})


async def second(db: Database) -> Database:
    """Another process's connection to the same database."""
    return await Database.open(db.engine.url.render_as_string(hide_password=False))


async def ledger_rows(db: Database) -> dict[tuple[int, str, str], int]:
    rows = await db.fetch_all("SELECT user_id, source, reason, points FROM point_ledger WHERE day = :day", {"day": D})
    return {(int(r.user_id), str(r.source), str(r.reason)): int(r.points) for r in rows}


async def totals_match_ledger(db: Database) -> bool:
    totals = {int(r[0]): int(r[1]) for r in await db.fetch_all("SELECT user_id, points FROM point_totals")}
    sums = {int(r[0]): int(r[1]) for r in await db.fetch_all("SELECT user_id, SUM(points) FROM point_ledger GROUP BY user_id")}
    return totals == sums


async def test_a_days_credit_to_the_milli_point(db: Database) -> None:
    a, b, c, d, e, f, g = await users(db, 7)
    referrals = Referrals(db)
    assert await referrals.start(e, await referrals.code_of(a)) == "joined"
    assert await referrals.start(g, await referrals.code_of(f)) == "joined"
    for uid in (a, b, c, d, e, f, g):
        await link(db, uid, f"0x{uid:040x}")
    await link(db, g, f"0x{f:040x}", "custodial")  # g links f's wallet too: the same person, so g's referral is void
    rows = PointRows(db)
    assert (await rows.open_day(D, "1", 100, 0)).block == 100
    assert (await rows.open_day(D, "1", 999, 0)).block == 100  # the first run's block stands
    big = 10**9 * E4  # the snapshot's cap on one holding
    held = [
        Holding(a, "0xa", "MAG7.ssi", "held", 100 * E4),  # $100 at 3X: 300 points
        Holding(b, "0xb", "MAG7.ssi", "held", 100 * E4),  # and SOSO worth 10 % of it: level 3 (6X): +15X
        Holding(b, "0xb", "SOSO", "soso", 10 * E4),
        Holding(c, "0xc", "DEFI.ssi", "staked", 100 * E4),  # 15X × level 6 (15X) = 225X, capped at 165X
        Holding(c, "0xc", "SOSO", "soso", 100 * E4),
        Holding(d, "0xd", "MAG7.ssi", "held", 9),  # 9 × 3000 / 10000 = 2.7: 2 milli-points, truncated
        Holding(d, "0xd", "MEME.ssi", "locked", 1),  # 1 × 20000 / 10000 = 2
        Holding(e, "0xe", "MAG7.ssi", "staked", big),  # 15X and no boost: 1.5e16 milli-points, past 2**32 and exact
        Holding(f, "0xf", "MAG7.ssi", "held", 10 * E4),
        Holding(g, "0xg", "MAG7.ssi", "held", 10 * E4),
    ]
    assert await rows.store_batch(D, 0, 10**6, held)
    assert not await rows.store_batch(D, 0, 10**6, held)  # the cursor moved on: stored once
    ledger = Ledger(db, BoostTable(), PointsConfig(), clock=lambda: 1234.0)
    assert await ledger.credit(DAY)
    assert await ledger_rows(db) == {
        (a, "held", "daily"): 300_000,
        (a, "referral", f"invitee:{e}"): 15 * big // 10 // 10,  # 10 % of e's base points
        (b, "held", "daily"): 300_000,
        (b, "boost", "daily"): 1_500_000,
        (c, "staked", "daily"): 1_500_000,
        (c, "boost", "daily"): 15_000_000,
        (d, "held", "daily"): 2,
        (d, "locked", "daily"): 2,
        (e, "staked", "daily"): 15 * big // 10,
        (e, "bonus", "welcome"): 100_000,
        (f, "held", "daily"): 30_000,
        (g, "held", "daily"): 30_000,
    }
    assert await totals_match_ledger(db)
    snapshot = await db.fetch_one("SELECT state, finished_at FROM point_snapshots WHERE day = :day", {"day": D})
    assert snapshot is not None and (snapshot.state, snapshot.finished_at) == ("credited", 1234)
    void = await db.fetch_one("SELECT void_reason FROM referrals WHERE invitee_id = :user", {"user": g})
    assert void is not None and void.void_reason == "self"

    before = await ledger_rows(db)
    assert not await ledger.credit(DAY)
    assert await ledger_rows(db) == before
    assert not await rows.store_batch(D, 10**6, 10**6 + 1, [Holding(a, "0xlate", "MAG7.ssi", "held", E4)])  # credited

    assert await ledger.correct(a, DAY, Decimal("-1.5"), "duplicate wallet")
    assert not await ledger.correct(a, DAY, Decimal("-1.5"), "duplicate wallet")
    assert await totals_match_ledger(db)
    standing = await ledger.standing(a, "1")
    assert standing.points == Decimal("300") + Decimal(15 * big // 100) / 1000 - Decimal("1.5") and standing.rank == 2
    assert [x.user_id for x in await ledger.leaders("1")] == [e, a, c, b, f, g, d]
    summary = await ledger.referral_summary(f, "1")
    assert (summary.joined, summary.active, summary.total_points) == (1, 0, 0)


async def test_two_processes_credit_each_day_once(db: Database) -> None:
    ids = await users(db, 20)
    for uid in ids:
        await link(db, uid, f"0x{uid:040x}")
    other = await second(db)
    try:
        for n in range(1, 6):
            day = date(2026, 11, n)
            mine, theirs = PointRows(db), PointRows(other)
            await mine.open_day(day.isoformat(), "1", n, 0)
            batch = [Holding(uid, f"0x{uid:040x}", "MAG7.ssi", "held", uid * E4) for uid in ids]
            stored = await asyncio.gather(*(r.store_batch(day.isoformat(), 0, 10**6, batch) for r in (mine, theirs)))
            assert sorted(stored) == [False, True]
            ledgers = [Ledger(x, BoostTable(), PointsConfig()) for x in (db, other)]
            credited = await asyncio.gather(*(ledger.credit(day) for ledger in ledgers))
            assert sorted(credited) == [False, True]
    finally:
        await other.close()
    assert await totals_match_ledger(db)
    count = await db.scalar("SELECT COUNT(*) FROM point_ledger WHERE user_id = :user", {"user": ids[0]})
    assert int(count) == 5


async def test_joins_at_once_never_close_a_cycle_and_a_user_has_one_code(db: Database) -> None:
    ring = await users(db, 5)
    other = await second(db)
    try:
        codes = {uid: await Referrals(db).code_of(uid) for uid in ring}
        sides = [Referrals(db if i % 2 else other) for i in range(5)]
        outcomes = await asyncio.gather(*(sides[i].start(ring[i], codes[ring[(i + 1) % 5]]) for i in range(5)))
        assert "cycle" in outcomes and set(outcomes) <= {"joined", "cycle"}
        (fresh,) = await users(db, 1, "fresh")
        made = await asyncio.gather(*(Referrals(x).code_of(fresh) for x in (db, other)))
        assert made[0] == made[1] == await Referrals(db).code_of(fresh)
    finally:
        await other.close()
    edges = {int(r[0]): int(r[1]) for r in await db.fetch_all("SELECT invitee_id, referrer_id FROM referrals")}
    for start in edges:
        seen, at = set(), start
        while at in edges:
            assert at not in seen, f"a referral cycle through user {at}"
            seen.add(at)
            at = edges[at]
