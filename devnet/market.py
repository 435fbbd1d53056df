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

from bot.market.engine.methodology import Constituent

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


@dataclass(frozen=True)
class Stock:
    symbol: str
    name: str
    price_usd: Decimal
    shares: Decimal  # outstanding: market cap = price x shares

    @property
    def market_cap(self) -> Decimal:
        return self.price_usd * self.shares


@dataclass(frozen=True)
class StockMarket:
    """[stocks]: the tokenized stocks and the stock index an IndexFactory issues (see market.toml)."""

    index_symbol: str
    index_name: str
    count: int
    fee_rate: int  # in 1/10000
    initial_price: Decimal  # USD per index token while none exists
    seed_usdc: Decimal  # the deployer's first issuance, filled at deploy
    reserve_usdc: Decimal  # USDC left in the factory so redemptions can always pay
    market_hours: dict[str, Any]  # bot.issuance.hours.MarketHours.from_config reads it
    reindex: dict[str, Any]  # {day, at}
    stocks: tuple[Stock, ...]

    def stock(self, symbol: str) -> Stock:
        for s in self.stocks:
            if s.symbol == symbol:
                return s
        raise KeyError(symbol)

    def caps(self, prices: dict[str, Decimal] | None = None) -> dict[str, Decimal]:
        """Market caps at `prices` (default: the table's)."""
        return {s.symbol: (prices or {}).get(s.symbol, s.price_usd) * s.shares for s in self.stocks}


def load_stock_market(path: Path = MARKET_PATH) -> StockMarket:
    with Path(path).open("rb") as fh:
        raw = tomllib.load(fh)["stocks"]
    return StockMarket(
        index_symbol=str(raw["index_symbol"]),
        index_name=str(raw["index_name"]),
        count=int(raw["count"]),
        fee_rate=int(raw["fee_rate"]),
        initial_price=Decimal(str(raw["initial_price"])),
        seed_usdc=Decimal(str(raw["seed_usdc"])),
        reserve_usdc=Decimal(str(raw["reserve_usdc"])),
        market_hours=dict(raw["market_hours"]),
        reindex=dict(raw["reindex"]),
        stocks=tuple(
            Stock(str(t["symbol"]), str(t["name"]), Decimal(str(t["price_usd"])), Decimal(str(t["shares"])))
            for t in raw["tokens"]
        ),
    )


def accrued_price(price: Decimal, apr: Decimal, days: Decimal) -> Decimal:
    """A hedged leg's price after `days` of simple yield at `apr` (e.g. Decimal("0.08") for 8%)."""
    return price * (1 + apr * days / 365)
