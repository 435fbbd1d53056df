"""The points programme's numbers, each a documented default that the config's `[points]` table overrides.

Held 3X and staked 15X a day, the boost levels and the per-index caps live in `bot.points.boost.BoostTable` (shared
with /boost); this adds the locked-LP multiplier, the snapshot time, the epochs, the referral share and the
invitee's welcome bonus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any


class PointsConfigError(ValueError):
    """The `[points]` table is malformed (names what is wrong)."""


@dataclass(frozen=True)
class Epoch:
    name: str
    start: date  # the first day (UTC) that belongs to it; it lasts until the next epoch's start


@dataclass(frozen=True)
class PointsConfig:
    locked: Decimal = Decimal(20)  # points multiplier for index LP locked in AssetLocking
    snapshot_at: time = time(12, 0)  # UTC
    epochs: tuple[Epoch, ...] = (Epoch("1", date(2026, 1, 1)),)
    referral_share: Decimal = Decimal("0.10")  # of each invitee's daily points, to the referrer
    welcome_bonus: Decimal = Decimal(100)  # points, to an invitee on their first qualifying day
    batch_wallets: int = 300  # wallets per Multicall3 eth_call in a snapshot (anvil runs out of gas near 500)

    def __post_init__(self) -> None:
        if not self.epochs:
            raise PointsConfigError("points.epochs is empty")
        starts = [e.start for e in self.epochs]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise PointsConfigError("points.epochs must start on rising dates")
        if not Decimal(0) <= self.referral_share <= 1:
            raise PointsConfigError("points.referral_share must be between 0 and 1")
        if self.locked < 0 or self.welcome_bonus < 0:
            raise PointsConfigError("points.locked and points.welcome_bonus cannot be negative")
        if not 1 <= self.batch_wallets <= 400:  # ~9 balanceOf each: more than ~450 wallets exceed an eth_call's gas
            raise PointsConfigError("points.batch_wallets must be between 1 and 400")

    def epoch_of(self, day: date) -> Epoch:
        """The epoch `day` belongs to (days before the first epoch belong to it too)."""
        current = self.epochs[0]
        for epoch in self.epochs:
            if epoch.start <= day:
                current = epoch
        return current


def _decimal(raw: Any, where: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise PointsConfigError(f"{where}: {raw!r} is not a number") from None
    if not value.is_finite():
        raise PointsConfigError(f"{where}: {raw!r} is not a number")
    return value


def parse_points(raw: Mapping[str, Any]) -> PointsConfig:
    """A PointsConfig from the `[points]` TOML table; absent keys keep their defaults."""
    values: dict[str, Any] = {}
    for key in ("locked", "referral_share", "welcome_bonus"):
        if key in raw:
            values[key] = _decimal(raw[key], f"points.{key}")
    if "batch_wallets" in raw:
        values["batch_wallets"] = int(raw["batch_wallets"])
    if "snapshot_at" in raw:
        try:
            values["snapshot_at"] = time.fromisoformat(str(raw["snapshot_at"]))
        except ValueError:
            raise PointsConfigError(f"points.snapshot_at: {raw['snapshot_at']!r} is not HH:MM") from None
    if "epochs" in raw:
        epochs = []
        for i, e in enumerate(raw["epochs"]):
            try:
                epochs.append(Epoch(str(e["name"]), date.fromisoformat(str(e["start"]))))
            except (KeyError, TypeError, ValueError):
                raise PointsConfigError(f"points.epochs[{i}] needs a name and a start date (YYYY-MM-DD)") from None
        values["epochs"] = tuple(epochs)
    return PointsConfig(**values)


