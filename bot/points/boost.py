"""SOSO boost levels and points multipliers: pure functions over a configurable table.

The points programme is off-chain and its numbers are only partly public (shared/protocol-facts.md): holding
an index token earns 3X a day, staking it 15X; staking SOSO worth at least 1 % of the index holdings qualifies
for a boost, and the more SOSO relative to the index value, the higher the level; the effective multiplier is
base × boost, capped per index (165X, or 220X for some). Every figure here is a documented default that the
config's `[boost]` table overrides; the boost factor of each level is a placeholder until the programme
publishes its own table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Part = Literal["held", "staked", "cooling"]


@dataclass(frozen=True)
class Level:
    """Level `number` applies from `min_ratio` (SOSO value / index value) upwards and multiplies by `boost`."""

    number: int
    min_ratio: Decimal
    boost: Decimal


DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(1, Decimal("0.01"), Decimal(2)),
    Level(2, Decimal("0.05"), Decimal(4)),
    Level(3, Decimal("0.10"), Decimal(6)),
    Level(4, Decimal("0.25"), Decimal(8)),
    Level(5, Decimal("0.50"), Decimal(11)),
    Level(6, Decimal("1.00"), Decimal(15)),
)
DEFAULT_CAPS: Mapping[str, Decimal] = {"MAG7.ssi": Decimal(220)}


class BoostConfigError(ValueError):
    """The `[boost]` table is malformed (names what is wrong)."""


@dataclass(frozen=True)
class BoostTable:
    levels: tuple[Level, ...] = DEFAULT_LEVELS  # ascending min_ratio; the first one is the qualifying ratio
    held: Decimal = Decimal(3)  # points multiplier for an index token held
    staked: Decimal = Decimal(15)  # ... and staked
    cap: Decimal = Decimal(165)  # effective multiplier cap for an index not in `caps`
    caps: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_CAPS))

    def __post_init__(self) -> None:
        if not self.levels:
            raise BoostConfigError("boost.levels is empty")
        for lower, upper in zip(self.levels, self.levels[1:]):
            if upper.min_ratio <= lower.min_ratio or upper.boost < lower.boost:
                raise BoostConfigError("boost.levels must rise in ratio and never fall in boost")
        if any(lv.min_ratio <= 0 or lv.boost < 1 for lv in self.levels):
            raise BoostConfigError("boost.levels need a ratio above 0 and a boost of at least 1")

    @property
    def qualify_ratio(self) -> Decimal:
        return self.levels[0].min_ratio

    def cap_for(self, index: str) -> Decimal:
        return self.caps.get(index, self.cap)


def level_for(table: BoostTable, ratio: Decimal | None) -> Level | None:
    """The highest level whose threshold `ratio` reaches; None below the qualifying ratio or unpriced."""
    if ratio is None:
        return None
    reached = [lv for lv in table.levels if ratio >= lv.min_ratio]
    return reached[-1] if reached else None


def next_level(table: BoostTable, level: Level | None) -> Level | None:
    """The level after `level` (the first one when there is none yet); None at the top."""
    if level is None:
        return table.levels[0]
    later = [lv for lv in table.levels if lv.min_ratio > level.min_ratio]
    return later[0] if later else None


def multiplier(table: BoostTable, index: str, part: Part, level: Level | None) -> Decimal:
    """Daily points multiplier for one part of a position: base × boost, capped for the index; 0 while cooling."""
    if part == "cooling":
        return Decimal(0)
    base = table.held if part == "held" else table.staked
    return min(base * (level.boost if level else Decimal(1)), table.cap_for(index))


def soso_needed(level: Level, index_usd: Decimal, soso_usd_now: Decimal, soso_price: Decimal) -> Decimal:
    """How much more SOSO (in SOSO) brings the ratio to `level`; 0 when already there."""
    if soso_price <= 0:
        raise ValueError("soso_price must be positive")
    return max(Decimal(0), (level.min_ratio * index_usd - soso_usd_now) / soso_price)


def _dec(raw: Any, where: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BoostConfigError(f"{where}: {raw!r} is not a number") from None
    if not value.is_finite():
        raise BoostConfigError(f"{where}: {raw!r} is not a number")
    return value


def parse_boost(raw: Mapping[str, Any]) -> BoostTable:
    """The config's `[boost]` table; every key optional. `levels = [["0.01", "2"], ...]` (ratio, boost)."""
    known = {"levels", "held", "staked", "cap", "caps"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BoostConfigError(f"boost: unknown keys {', '.join(unknown)}")
    defaults = BoostTable()
    levels = defaults.levels
    if "levels" in raw:
        try:
            levels = tuple(
                Level(i + 1, _dec(r, f"boost.levels[{i}]"), _dec(b, f"boost.levels[{i}]"))
                for i, (r, b) in enumerate(raw["levels"])
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, BoostConfigError):
                raise
            raise BoostConfigError("boost.levels must be a list of [ratio, boost] pairs") from None
    return BoostTable(
        levels=levels,
        held=_dec(raw.get("held", defaults.held), "boost.held"),
        staked=_dec(raw.get("staked", defaults.staked), "boost.staked"),
        cap=_dec(raw.get("cap", defaults.cap), "boost.cap"),
        caps={str(k): _dec(v, f"boost.caps.{k}") for k, v in raw.get("caps", DEFAULT_CAPS).items()},
    )
