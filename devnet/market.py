"""The devnet's market data (devnet/market.toml): constituents and the index specs built from them.

USSI model. USSI is a delta-neutral index: it holds hedged legs such as BTC-DN and ETH-DN. One unit of a
leg is the USD value of a position long spot and short the perpetual future of the same size, so its price
does not move with BTC or ETH; the funding the short earns accrues into the unit. Each leg therefore has
its own PriceFeed starting at $1.00 that only drifts (up with funding, down on negative funding or fees),
and USSI's NAV tracks USD plus that yield. The operator moves a leg like any asset
(`indexbot devnet price BTC-DN 1.0125`); `accrued_price` gives the price after some days at an APR.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.engine.methodology import Constituent

MARKET_PATH = Path(__file__).resolve().parent / "market.toml"
DECIMAL_CONFIG = {"floor", "cap", "min_market_cap"}


@dataclass(frozen=True)
class IndexSpec:
    symbol: str
    name: str
    methodology: str
    start_nav: Decimal
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Market:
    constituents: tuple[Constituent, ...]
    indexes: tuple[IndexSpec, ...]
    soso_price_usd: Decimal = Decimal("0.60")  # [soso] price_usd: the SOSO PriceFeed's start answer

    def constituent(self, symbol: str) -> Constituent:
        for c in self.constituents:
            if c.symbol == symbol:
                return c
        raise KeyError(symbol)

    def index(self, symbol: str) -> IndexSpec:
        for spec in self.indexes:
            if spec.symbol == symbol:
                return spec
        raise KeyError(symbol)


def _config(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: Decimal(str(v)) if k in DECIMAL_CONFIG else v for k, v in raw.items()}


def load_market(path: Path = MARKET_PATH) -> Market:
    with Path(path).open("rb") as fh:
        data = tomllib.load(fh)
    constituents = tuple(
        Constituent(
            symbol=str(c["symbol"]),
            chain=str(c["chain"]),
            addr=str(c.get("addr", "")),
            decimals=int(c["decimals"]),
            price_usd=Decimal(str(c["price_usd"])),
            circulating_supply=Decimal(str(c["circulating_supply"])),
            tags=frozenset(c.get("tags", ())),
        )
        for c in data["constituents"]
    )
    indexes = tuple(
        IndexSpec(
            symbol=str(i["symbol"]),
            name=str(i["name"]),
            methodology=str(i["methodology"]),
            start_nav=Decimal(str(i["start_nav"])),
            config=_config(dict(i.get("config", {}))),
        )
        for i in data["indexes"]
    )
    soso_price = Decimal(str(data.get("soso", {}).get("price_usd", "0.60")))
    return Market(constituents, indexes, soso_price)


def accrued_price(price: Decimal, apr: Decimal, days: Decimal) -> Decimal:
    """A hedged leg's price after `days` of simple yield at `apr` (e.g. Decimal("0.08") for 8%)."""
    return price * (1 + apr * days / 365)
