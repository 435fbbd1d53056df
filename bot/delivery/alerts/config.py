"""The alerts' numbers, each a documented default that the config's `[alerts]` table overrides.

One dataclass for every alert feature: add a field with its default, and a line in `parse_alerts` for its
type (`_INTS`, `_DECIMALS`), and it is configurable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any


class AlertsConfigError(ValueError):
    """The `[alerts]` table is malformed (names what is wrong)."""


@dataclass(frozen=True)
class AlertsConfig:
    # rebalances (bot.delivery.alerts.rebalance)
    rebalance_every_seconds: int = 6  # how often the job reads new blocks for rebalance events
    reorg_depth: int = 5  # blocks re-read behind the cursor each time (events count once)
    wallet_batch: int = 300  # wallets per Multicall3 eth_call when finding who holds an index
    # price alerts (bot.delivery.alerts.prices, /alert)
    prices_every_seconds: int = 30  # how often armed price alerts are checked (one market snapshot each time)
    max_per_user: int = 10  # live /alert lines per user
    max_usd: Decimal = Decimal(1_000_000)  # an above/below line must be below this
    usd_decimals: int = 6  # at most this many decimals in a USD line
    max_premium_pct: Decimal = Decimal(50)  # a premium line is between -this and +this percent (0 excluded)
    rearm_usd_fraction: Decimal = Decimal("0.01")  # an above/below alert re-arms 1 % of the line back past it
    rearm_premium_points: Decimal = Decimal("0.25")  # a premium alert re-arms 0.25 percentage points back
    # proof of reserves (bot.delivery.alerts.reserves, /reserves)
    reserves_every_seconds: int = 60  # how often every index's backing is read (one eth_call for all of them)
    # NAV history for /chart (bot.market.history): a sample per index every so often, kept this many days
    chart_sample_seconds: int = 900  # one snapshot (one eth_call) for every index; a devnet or a test may take seconds
    chart_keep_days: int = 100  # samples older than this are pruned by the same job (/chart reaches back 90 days)

    def __post_init__(self) -> None:
        for name in ("rebalance_every_seconds", "prices_every_seconds", "reserves_every_seconds", "max_per_user", "wallet_batch",
                     "chart_sample_seconds"):
            if getattr(self, name) < 1:
                raise AlertsConfigError(f"alerts.{name} must be at least 1")
        if self.chart_keep_days < 90:
            raise AlertsConfigError("alerts.chart_keep_days must be at least 90 (/chart shows up to 90 days)")
        if not 0 <= self.reorg_depth <= 1000:
            raise AlertsConfigError("alerts.reorg_depth must be between 0 and 1000")
        if self.wallet_batch > 400:
            raise AlertsConfigError("alerts.wallet_batch must be at most 400 (two reads per wallet in one eth_call)")
        if self.max_usd <= 0 or not 0 <= self.usd_decimals <= 18:
            raise AlertsConfigError("alerts.max_usd must be positive and alerts.usd_decimals between 0 and 18")
        if not 0 < self.max_premium_pct < 100:
            raise AlertsConfigError("alerts.max_premium_pct must be between 0 and 100")
        if not 0 <= self.rearm_usd_fraction < 1 or not 0 <= self.rearm_premium_points < self.max_premium_pct:
            raise AlertsConfigError("alerts.rearm_usd_fraction must be in [0, 1) and alerts.rearm_premium_points below max_premium_pct")


_INTS = {f.name for f in fields(AlertsConfig) if f.type == "int"}
_DECIMALS = {f.name for f in fields(AlertsConfig) if f.type == "Decimal"}


def parse_alerts(raw: Mapping[str, Any]) -> AlertsConfig:
    """An AlertsConfig from the `[alerts]` TOML table; absent keys keep their defaults, unknown keys are refused."""
    if "log_range" in raw:  # one range for every log read of a chain now (bot.chain.logreader)
        raise AlertsConfigError("alerts.log_range has moved: set log_range_blocks (INDEXBOT_LOG_RANGE_BLOCKS) or the "
                                "profile's log_range_blocks; it applies to every eth_getLogs of the chain")
    unknown = sorted(set(raw) - _INTS - _DECIMALS)
    if unknown:
        raise AlertsConfigError(f"alerts: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _INTS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise AlertsConfigError(f"alerts.{key}: {value!r} is not a whole number")
            values[key] = value
        else:
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise AlertsConfigError(f"alerts.{key}: {value!r} is not a number") from None
            if not number.is_finite():
                raise AlertsConfigError(f"alerts.{key}: {value!r} is not a number")
            values[key] = number
    return AlertsConfig(**values)
