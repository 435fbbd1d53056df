"""The index methodologies: selection, floors, thresholds, caps, exact sums and NAV-continuous tokensets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.market.engine.basket import nav_per_token
from bot.market.engine.methodology import Constituent, MethodologyError, tokenset_for, weights_for
from devnet.market import load_market

D = Decimal


def c(symbol: str, price: str, supply: str, *tags: str, decimals: int = 18, chain: str = "ETH") -> Constituent:
    return Constituent(symbol, chain, "", decimals, D(price), D(supply), frozenset(tags))


MAJORS = [
    c("BTC", "100000", "20000000", "major", decimals=8, chain="BTC"),  # 2T
    c("ETH", "3000", "120000000", "major"),  # 360B
    c("USDT", "1", "180000000000", "stable", decimals=6),  # 180B, excluded
    c("XRP", "2", "60000000000", "major", decimals=6, chain="XRP"),  # 120B
    c("BNB", "800", "140000000", "major", chain="BSC_BNB"),  # 112B
    c("SOL", "150", "500000000", "major", decimals=9, chain="SOL"),  # 75B
    c("DOGE", "0.2", "150000000000", "major", "meme", decimals=8, chain="DOGE"),  # 30B
    c("ADA", "0.5", "36000000000", "major", decimals=6, chain="ADA"),  # 18B
    c("TRX", "0.1", "90000000000", "major", decimals=6, chain="TRX"),  # 9B, 8th
    c("BTC-DN", "1", "9000000000000", "hedged"),  # huge notional, never in MAG7
]
MEMES = [
    c("SHIB", "0.00001", "600000000000000", "meme"),  # 6B
    c("PEPE", "0.000005", "400000000000000", "meme"),  # 2B
    c("BONK", "0.00001", "80000000000000", "meme", decimals=5, chain="SOL"),  # 800M exactly: kept
    c("WIF", "0.5", "1000000000", "meme", decimals=6, chain="SOL"),  # 500M: dropped
    c("FLOKI", "0.00008", "9900000000000", "meme", decimals=9, chain="BSC_BNB"),  # 792M: dropped
]


def test_mag7_picks_top_seven_non_stable_by_market_cap() -> None:
    w = weights_for("mag7", MAJORS)
    assert set(w) == {"BTC", "ETH", "XRP", "BNB", "SOL", "DOGE", "ADA"}


def test_mag7_floor_plus_market_cap_share() -> None:
    w = weights_for("mag7", MAJORS)
    caps = {x.symbol: x.market_cap for x in MAJORS if x.symbol in w}
    total = sum(caps.values())
    for symbol, weight in w.items():
        assert weight >= D("0.10")
        assert abs(weight - (D("0.10") + D("0.30") * caps[symbol] / total)) < D("1e-17")
    assert w["BTC"] > w["ETH"] > w["ADA"]


@pytest.mark.parametrize("floor", [D("0.05"), D("0.10"), D("0.142857")])
def test_mag7_floor_is_configurable(floor: Decimal) -> None:
    w = weights_for("mag7", MAJORS, floor=floor)
    assert min(w.values()) >= floor
    assert sum(w.values()) == 1


def test_mag7_needs_seven_assets() -> None:
    with pytest.raises(MethodologyError):
        weights_for("mag7", MAJORS[:5])


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (D(800_000_000), {"DOGE", "SHIB", "PEPE", "BONK"}),
        (D(1_000_000_000), {"DOGE", "SHIB", "PEPE"}),
        (D(500_000_000), {"DOGE", "SHIB", "PEPE", "BONK", "WIF", "FLOKI"}),
    ],
)
def test_meme_market_cap_filter(threshold: Decimal, expected: set[str]) -> None:
    w = weights_for("meme", MAJORS + MEMES, min_market_cap=threshold)
    assert set(w) == expected
    caps = {x.symbol: x.market_cap for x in MAJORS + MEMES if x.symbol in expected}
    total = sum(caps.values())
    for symbol, weight in w.items():
        assert abs(weight - caps[symbol] / total) < D("1e-17")


def test_meme_default_threshold_is_800m() -> None:
    assert set(weights_for("meme", MAJORS + MEMES)) == {"DOGE", "SHIB", "PEPE", "BONK"}


DEFI = [
    c("LINK", "15", "700000000", "defi"),  # 10.5B: 52% uncapped
    c("UNI", "8", "600000000", "defi"),  # 4.8B: 24%, then above 30% after the first pass
    c("AAVE", "200", "15000000", "defi"),  # 3B
    c("ENA", "0.3", "5000000000", "defi"),  # 1.5B
    c("LDO", "1", "300000000", "defi"),  # 0.3B
]


@pytest.mark.parametrize("cap", [D("0.30"), D("0.25"), D("0.40")])
def test_defi_cap_redistributes_iteratively(cap: Decimal) -> None:
    w = weights_for("defi", DEFI, cap=cap)
    assert sum(w.values()) == 1
    assert max(w.values()) <= cap
    assert w["LINK"] == cap
    uncapped = {s: x for s, x in w.items() if x < cap}
    caps = {x.symbol: x.market_cap for x in DEFI}
    # the uncapped constituents keep their market-cap proportions
    ratios = {s: w[s] / caps[s] for s in uncapped}
    assert max(ratios.values()) - min(ratios.values()) < D("1e-25")


def test_defi_second_round_caps_uni_at_30_percent() -> None:
    w = weights_for("defi", DEFI, cap=D("0.30"))
    assert w["UNI"] == D("0.30")  # 4.8/(4.8+3+1.5+0.3) x 0.7 = 35% after LINK is capped


def test_defi_infeasible_cap() -> None:
    with pytest.raises(MethodologyError):
        weights_for("defi", DEFI[:3], cap=D("0.30"))


def test_ussi_holds_only_hedged_legs() -> None:
    universe = MAJORS + [c("ETH-DN", "1", "3000000000000", "hedged")]
    w = weights_for("ussi", universe)
    assert w == {"BTC-DN": D("0.75"), "ETH-DN": D("0.25")}


def test_unknown_methodology() -> None:
    with pytest.raises(MethodologyError):
        weights_for("nope", MAJORS)


@pytest.mark.parametrize(
    ("methodology", "universe", "config"),
    [
        ("mag7", MAJORS, {}),
        ("meme", MAJORS + MEMES, {}),
        ("defi", DEFI, {"cap": D("0.30")}),
        ("mag7", [c(f"T{i}", "3", "7", "major") for i in range(7)], {}),  # 1/7 shares: rounding remainder
    ],
)
def test_weights_sum_to_exactly_one(methodology: str, universe: list[Constituent], config: dict[str, Decimal]) -> None:
    w = weights_for(methodology, universe, **config)
    assert sum(w.values()) == D(1)
    assert all(x.as_tuple().exponent >= -18 for x in w.values())


@pytest.mark.parametrize("nav", [D("100"), D("1"), D("12345.678"), D("0.05")])
@pytest.mark.parametrize(("methodology", "universe"), [("mag7", MAJORS), ("meme", MAJORS + MEMES), ("defi", DEFI)])
def test_tokenset_keeps_nav_continuous(methodology: str, universe: list[Constituent], nav: Decimal) -> None:
    w = weights_for(methodology, universe)
    tokenset = tokenset_for(w, nav, universe)
    prices = {x.symbol: x.price_usd for x in universe}
    new_nav = nav_per_token(tokenset, prices)
    assert new_nav <= nav  # floor rounding never creates value
    assert (nav - new_nav) / nav < D("1e-6")
    assert all(e.amount > 0 for e in tokenset)
    # each constituent within rounding granularity (one base unit of every constituent) of its weight
    slack = sum(prices[e.symbol].scaleb(-e.decimals) for e in tokenset) / nav
    for e in tokenset:
        assert abs(e.units * prices[e.symbol] / nav - w[e.symbol]) <= slack


def test_tokenset_rounds_down_in_base_units() -> None:
    universe = [c("BTC", "100000", "1", decimals=8, chain="BTC"), c("ETH", "3000", "1")]
    tokenset = tokenset_for({"BTC": D("0.5"), "ETH": D("0.5")}, D("100"), universe)
    by_symbol = {e.symbol: e for e in tokenset}
    assert by_symbol["BTC"].amount == 50000  # $50 / $100k = 0.0005 BTC exactly
    assert by_symbol["BTC"].chain == "BTC" and by_symbol["BTC"].decimals == 8
    assert by_symbol["ETH"].amount == 16666666666666666  # floor(50/3000 x 1e18)


def test_devnet_market_builds_every_index() -> None:
    market = load_market()
    for spec in market.indexes:
        w = weights_for(spec.methodology, market.constituents, **spec.config)
        assert sum(w.values()) == 1
        nav = nav_per_token(tokenset_for(w, spec.start_nav, market.constituents),
                            {x.symbol: x.price_usd for x in market.constituents})
        assert abs(nav - spec.start_nav) / spec.start_nav < D("1e-6")
    assert "TRX" not in weights_for("mag7", market.constituents)
    assert not {"WIF", "FLOKI", "BRETT"} & set(weights_for("meme", market.constituents))
