"""The last fresh price of each symbol (migration 0012): what points valuation falls back on, and the record of
each fallback a day's snapshot used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from bot.market.prices import Reading
from bot.storage.db import Database
from bot.storage.schema import last_fresh_prices, point_price_fallbacks


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
        latest: dict[str, Reading] = {}  # one row per symbol (the newest; the later of a tie), as stored one by one
        for r in readings:
            if r.fresh and r.price is not None and (r.symbol not in latest or r.published_at >= latest[r.symbol].published_at):
                latest[r.symbol] = r
        if not latest:
            return
        t = last_fresh_prices
        async with self._db.transaction() as tx:
            # An upsert whose update is conditional on the stored row as it is when the row is written (ON CONFLICT
            # locks it on PostgreSQL): of two processes remembering the same symbol, the newer reading stays.
            new = tx.insert(t)
            await tx.execute_many(
                new.on_conflict_do_update(
                    index_elements=[t.c.chain_id, t.c.symbol],
                    set_={"price": new.excluded.price, "source": new.excluded.source,
                          "published_at": new.excluded.published_at},
                    where=new.excluded.published_at >= t.c.published_at,
                ),
                [{"chain_id": self._chain_id, "symbol": r.symbol, "price": str(r.price), "source": r.source,
                  "published_at": r.published_at} for r in latest.values()],
            )

    async def last(self, symbols: Iterable[str]) -> dict[str, Reading]:
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        t = last_fresh_prices
        rows = await self._db.fetch_all(
            select(t.c.symbol, t.c.price, t.c.source, t.c.published_at)
            .where(t.c.chain_id == self._chain_id, t.c.symbol.in_(wanted))
        )
        return {str(r.symbol): Reading(str(r.symbol), str(r.source), Decimal(str(r.price)), int(r.published_at), 0)
                for r in rows}

    async def record_fallbacks(self, day: str, used: Iterable[Fallback]) -> None:
        """Record the fallbacks `day`'s snapshot used, replacing any recorded for the same symbol."""
        rows = {f.symbol: {"day": day, "symbol": f.symbol, "price": str(f.price), "source": f.source,
                           "published_at": f.published_at, "age_seconds": f.age_seconds} for f in used}  # the last wins
        if not rows:
            return
        t = point_price_fallbacks
        async with self._db.transaction() as tx:
            new = tx.insert(t)
            await tx.execute_many(
                new.on_conflict_do_update(
                    index_elements=[t.c.day, t.c.symbol],
                    set_={c: new.excluded[c] for c in ("price", "source", "published_at", "age_seconds")},
                ),
                list(rows.values()),
            )

    async def fallbacks(self, day: str) -> list[Fallback]:
        t = point_price_fallbacks
        rows = await self._db.fetch_all(
            select(t.c.symbol, t.c.price, t.c.source, t.c.published_at, t.c.age_seconds).where(t.c.day == day))
        found = [Fallback(str(r.symbol), Decimal(str(r.price)), str(r.source), int(r.published_at), int(r.age_seconds))
                 for r in rows]
        return sorted(found, key=lambda f: f.symbol)  # by code point on both engines (not PostgreSQL's collation)
