"""Index methodologies: which constituents an index holds and with what weights, and the tokenset for a NAV.

Pure Decimal arithmetic, no chain access. Weights are quantized to 18 decimal places and always sum to
exactly 1: each weight is rounded down and the rounding remainder goes to the largest weight that can
take it without breaking a cap (ties broken by symbol), so the result is deterministic.

- `mag7`: the top `count` (7) non-stable, non-hedged assets by market cap; weight = `floor` (10%) plus
  (1 - count x floor) x the asset's share of the selection's circulating market cap.
- `meme`: assets tagged `meme` with market cap of at least `min_market_cap` ($800M); market-cap weighted.
- `defi`: assets tagged `defi`; market-cap weighted with a per-constituent `cap` (30%), the excess
  redistributed pro rata over the uncapped constituents until none is above the cap.
- `ussi`: the delta-neutral hedged legs (tag `hedged`); weighted by outstanding notional value (price x
  circulating supply), i.e. market-cap weighted over the hedged legs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext

from bot.market.engine.basket import TokensetEntry

WEIGHT_QUANTUM = Decimal("1e-18")
ONE = Decimal(1)


class MethodologyError(ValueError):
    """The universe cannot satisfy the methodology (too few constituents, infeasible cap, unknown name)."""


@dataclass(frozen=True)
class Constituent:
    symbol: str
    chain: str
    addr: str
    decimals: int
    price_usd: Decimal
    circulating_supply: Decimal
    tags: frozenset[str] = frozenset()

    @property
    def market_cap(self) -> Decimal:
        return self.price_usd * self.circulating_supply


def _by_cap(universe: Iterable[Constituent]) -> list[Constituent]:
    return sorted(universe, key=lambda c: (-c.market_cap, c.symbol))


def _normalize(raw: Mapping[str, Decimal], cap: Decimal | None = None) -> dict[str, Decimal]:
    """Quantize to 18 places rounding down; the remainder goes to the largest weight that stays <= cap."""
    if not raw:
        raise MethodologyError("no constituents selected")
    with localcontext() as ctx:
        ctx.prec = 60
        total = sum(raw.values(), Decimal(0))
        if total <= 0:
            raise MethodologyError("weights sum to zero")
        out = {s: (w / total).quantize(WEIGHT_QUANTUM, rounding=ROUND_FLOOR) for s, w in raw.items()}
        remainder = ONE - sum(out.values(), Decimal(0))
        order = sorted(out, key=lambda s: (-out[s], s))
        target = next((s for s in order if cap is None or out[s] + remainder <= cap), order[0])
        out[target] += remainder
    return out


def _cap_weighted(selection: list[Constituent]) -> dict[str, Decimal]:
    return {c.symbol: c.market_cap for c in selection}


def mag7(universe: Iterable[Constituent], count: int = 7, floor: Decimal = Decimal("0.10")) -> dict[str, Decimal]:
    eligible = [c for c in universe if not c.tags & {"stable", "hedged"}]
    selection = _by_cap(eligible)[:count]
    if len(selection) < count:
        raise MethodologyError(f"mag7 needs {count} non-stable assets, the universe has {len(selection)}")
    if count * floor > ONE:
        raise MethodologyError(f"a {floor} floor for {count} assets exceeds 100%")
    with localcontext() as ctx:
        ctx.prec = 60
        total = sum((c.market_cap for c in selection), Decimal(0))
        rest = ONE - count * floor
        raw = {c.symbol: floor + rest * c.market_cap / total for c in selection}
    return _normalize(raw)


def meme(universe: Iterable[Constituent], min_market_cap: Decimal = Decimal(800_000_000)) -> dict[str, Decimal]:
    selection = [c for c in universe if "meme" in c.tags and c.market_cap >= min_market_cap]
    return _normalize(_cap_weighted(selection))


def defi(universe: Iterable[Constituent], cap: Decimal = Decimal("0.30")) -> dict[str, Decimal]:
    selection = [c for c in universe if "defi" in c.tags]
    if not selection or len(selection) * cap < ONE:
        raise MethodologyError(f"a {cap} cap is infeasible for {len(selection)} constituents")
    caps = _cap_weighted(selection)
    capped: set[str] = set()
    with localcontext() as ctx:
        ctx.prec = 60
        while True:
            free = {s: m for s, m in caps.items() if s not in capped}
            free_share = ONE - cap * len(capped)
            free_total = sum(free.values(), Decimal(0))
            weights = {s: cap for s in capped} | {s: free_share * m / free_total for s, m in free.items()}
            over = {s for s, w in weights.items() if s not in capped and w > cap}
            if not over:
                break
            capped |= over
    return _normalize(weights, cap=cap)


def ussi(universe: Iterable[Constituent]) -> dict[str, Decimal]:
    selection = [c for c in universe if "hedged" in c.tags]
    return _normalize(_cap_weighted(selection))


METHODOLOGIES: dict[str, Callable[..., dict[str, Decimal]]] = {"mag7": mag7, "meme": meme, "defi": defi, "ussi": ussi}


def weights_for(methodology: str, universe: Iterable[Constituent], **config: object) -> dict[str, Decimal]:
    """Target weights (summing to exactly 1) by constituent symbol."""
    try:
        fn = METHODOLOGIES[methodology.lower()]
    except KeyError as exc:
        raise MethodologyError(f"unknown methodology {methodology!r}") from exc
    return fn(list(universe), **config)


def _base_units(usd: Decimal, c: Constituent) -> int:
    """Base units of `c` worth `usd`, rounded down."""
    return int((usd / c.price_usd).scaleb(c.decimals).to_integral_value(ROUND_FLOOR))


def tokenset_for(
    weights: Mapping[str, Decimal], nav_usd: Decimal, universe: Iterable[Constituent]
) -> list[TokensetEntry]:
    """Amounts per whole index token (base units) worth `nav_usd` at the universe's prices.

    Each amount is weight x NAV / price rounded down; the USD lost to rounding is then put (rounded down
    again) into the constituent with the finest price granularity (smallest price / 10**decimals), so the
    new NAV is within one base unit of that constituent below `nav_usd`: a rebalance keeps NAV continuous.
    """
    by_symbol = {c.symbol: c for c in universe}
    missing = [s for s in weights if s not in by_symbol]
    if missing:
        raise MethodologyError(f"no price for {', '.join(sorted(missing))}")
    with localcontext() as ctx:
        ctx.prec = 60
        amounts: dict[str, int] = {}
        for symbol in sorted(weights, key=lambda s: (-weights[s], s)):
            amounts[symbol] = _base_units(weights[symbol] * nav_usd, by_symbol[symbol])
        value = sum((Decimal(a).scaleb(-by_symbol[s].decimals) * by_symbol[s].price_usd for s, a in amounts.items()),
                    Decimal(0))
        finest = min(amounts, key=lambda s: (by_symbol[s].price_usd.scaleb(-by_symbol[s].decimals), s))
        amounts[finest] += _base_units(nav_usd - value, by_symbol[finest])
    return [
        TokensetEntry(by_symbol[s].chain, s, by_symbol[s].addr, by_symbol[s].decimals, amounts[s]) for s in amounts
    ]
