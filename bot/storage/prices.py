"""The last fresh price of each symbol (migration 0012): what points valuation falls back on, and the record of
each fallback a day's snapshot used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from bot.market.prices import Reading
from bot.storage.db import Database


@dataclass(frozen=True)
class Fallback:
    symbol: str
    price: Decimal
    source: str
    published_at: int
    age_seconds: int


class LastFreshPriceRows:
    def __init__(self, db: Database, chain_id: int) -> None:
        self._db = db
        self._chain_id = chain_id

    async def remember(self, readings: Iterable[Reading]) -> None:
        """Keep each fresh reading unless a newer one is stored already."""
        rows = [(self._chain_id, r.symbol, str(r.price), r.source, r.published_at)
                for r in readings if r.fresh and r.price is not None]
        if not rows:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(
                """INSERT INTO last_fresh_prices (chain_id, symbol, price, source, published_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (chain_id, symbol) DO UPDATE SET price = excluded.price, source = excluded.source,
                   published_at = excluded.published_at WHERE excluded.published_at >= last_fresh_prices.published_at""",
                rows)

    async def last(self, symbols: Iterable[str]) -> dict[str, Reading]:
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        rows = await self._db.fetch_all(
            f"SELECT symbol, price, source, published_at FROM last_fresh_prices WHERE chain_id = ? AND symbol IN ({marks})",
            (self._chain_id, *wanted))
        return {str(r["symbol"]): Reading(str(r["symbol"]), str(r["source"]), Decimal(str(r["price"])), int(r["published_at"]), 0)
                for r in rows}

    async def record_fallbacks(self, day: str, used: Iterable[Fallback]) -> None:
        rows = [(day, f.symbol, str(f.price), f.source, f.published_at, f.age_seconds) for f in used]
        if not rows:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(
                """INSERT OR REPLACE INTO point_price_fallbacks (day, symbol, price, source, published_at, age_seconds)
                   VALUES (?, ?, ?, ?, ?, ?)""", rows)

    async def fallbacks(self, day: str) -> list[Fallback]:
        rows = await self._db.fetch_all(
            "SELECT symbol, price, source, published_at, age_seconds FROM point_price_fallbacks WHERE day = ? ORDER BY symbol",
            (day,))
        return [Fallback(str(r["symbol"]), Decimal(str(r["price"])), str(r["source"]), int(r["published_at"]),
                         int(r["age_seconds"])) for r in rows]
