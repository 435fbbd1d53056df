"""Proof of reserves' arithmetic alone (bot.market.reserves) and the lines /reserves builds from it: backing over the
priced constituents, the daily fee's share of a gap named as the fee's and not as a shortfall, a constituent held
beyond the tokenset, a rebalance in progress, a constituent without a fresh price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.market.fees import DailyFee
from bot.market.reserves import DAY, Holding, Reserves
from handlers.reserves import reserve_lines

D = Decimal
RATE = DailyFee(D("0.0000411"))  # the devnet's daily fee
NOW = 1_800_000_000


def reserves(*holdings: Holding, fee: DailyFee | None = RATE, since: int = NOW - 3600, rebalancing: bool = False) -> Reserves:
    return Reserves("MAG7.ssi", 100, NOW, 21_000 * 10**8, holdings, rebalancing, fee, since)


def btc(held: int, owed: int = 10**8, price: Decimal | None = D(95_000)) -> Holding:
    return Holding("BTC", 8, held, owed, price)


@pytest.mark.parametrize(
    ("r", "backing", "short", "note"),
    [
        (reserves(btc(10**8)), D(1), False, None),  # fully backed
        (reserves(btc(10**8 + 5)), D("1.00000005"), False, None),  # over-backed
        (reserves(btc(10**8 - 3000)), D("0.99997"), False, "reserves.within_fee"),  # less than one day's fee
        (reserves(btc(10**8 - 5000)), D("0.99995"), True, "reserves.short"),  # more than a day's fee
        (reserves(btc(10**8 - 5000), since=NOW - DAY - 60), D("0.99995"), False, "reserves.within_fee"),  # 2 days due
        (reserves(btc(10**8 - 3000), fee=None), D("0.99997"), True, "reserves.short"),  # no fee: any gap is short
        (reserves(btc(95 * 10**6)), D("0.95"), True, "reserves.short"),
    ],
)
def test_backing_and_what_the_fee_explains(r: Reserves, backing: Decimal, short: bool, note: str | None) -> None:
    assert r.backing == backing and r.short is short
    keys = [m.key for m in reserve_lines(r)]
    assert keys[:2] == ["reserves.title", "reserves.line"] and "reserves.total" in keys and keys[-1] == "common.block"
    assert [k for k in keys if k in ("reserves.short", "reserves.within_fee")] == ([note] if note else [])
    assert ("reserves.fee" in keys) is (r.fee is not None)


def test_a_rebalance_an_extra_constituent_and_a_missing_price_are_said() -> None:
    r = reserves(btc(10**8), Holding("ETH", 18, 10**18, 10**18, None), Holding("SOL", 9, 5 * 10**9, 0, D(150)),
                 rebalancing=True)
    assert r.unpriced == ("ETH",) and r.backing == D(95_750) / D(95_000)  # over what is priced, the extra SOL counted
    lines = reserve_lines(r)
    assert [m.key for m in lines[1:12]] == [  # a card per constituent: priced, unpriced, beyond the tokenset
        "reserves.line", "reserves.holds", "reserves.owed", "reserves.usd",
        "reserves.line", "reserves.holds", "reserves.owed", "reserves.line_unpriced",
        "reserves.extra", "reserves.holds", "reserves.usd"]
    keys = [m.key for m in lines]
    assert "reserves.rebalancing" in keys and "reserves.unpriced" in keys


def test_nothing_in_circulation_owes_nothing() -> None:
    r = Reserves("MAG7.ssi", 100, NOW, 0, (btc(0, 0),), False, RATE, NOW)
    assert r.backing is None and not r.short
    assert "reserves.no_supply" in [m.key for m in reserve_lines(r)]
