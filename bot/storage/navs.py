"""nav_samples (migration 0028): what /chart draws, one row per index token and block (bot.market.history)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from bot.market.history import NavSample
from bot.storage.db import Database
from bot.storage.schema import nav_samples

_c = nav_samples.c


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _sample(row: Any) -> NavSample:
    tokenset = tuple((str(s), int(d), int(a)) for s, d, a in json.loads(row.tokenset))
    prices = {str(k): Decimal(v) for k, v in json.loads(row.prices).items()}
    nav = _decimal(row.nav)
    assert nav is not None
    return NavSample(str(row.token), int(row.block), int(row.at), nav, _decimal(row.pool), _decimal(row.premium),
                     tokenset, prices)


class NavSampleRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, samples: Sequence[NavSample]) -> int:
        """Store the samples; one already stored for that token and block (another process sampled the same block) is
        kept. How many were new."""
        if not samples:
            return 0
        added = 0
        async with self._db.transaction() as tx:
            for s in samples:
                insert = tx.insert(nav_samples).values(
                    token=s.token, block=s.block, at=s.at, nav=str(s.nav), pool=_text(s.pool), premium=_text(s.premium),
                    tokenset=json.dumps([[sym, dec, str(amount)] for sym, dec, amount in s.tokenset]),
                    prices=json.dumps({k: str(v) for k, v in s.prices.items()}, sort_keys=True))
                added += await tx.execute(insert.on_conflict_do_nothing(index_elements=["token", "block"]))
        return added

    async def since(self, token: str, at: int) -> list[NavSample]:
        """The token's samples at or after `at` (epoch seconds), oldest first."""
        rows = await self._db.fetch_all(select(nav_samples).where(_c.token == token, _c.at >= at).order_by(_c.at, _c.block))
        return [_sample(r) for r in rows]

    async def latest(self, token: str, limit: int = 1) -> list[NavSample]:
        """The token's newest samples, newest first."""
        rows = await self._db.fetch_all(select(nav_samples).where(_c.token == token)
                                        .order_by(_c.at.desc(), _c.block.desc()).limit(limit))
        return [_sample(r) for r in rows]

    async def before(self, token: str, block: int, limit: int) -> list[NavSample]:
        """The token's samples before `block`, newest first."""
        rows = await self._db.fetch_all(select(nav_samples).where(_c.token == token, _c.block < block)
                                        .order_by(_c.block.desc()).limit(limit))
        return [_sample(r) for r in rows]

    async def prune(self, before_at: int) -> int:
        """Delete samples older than `before_at` (epoch seconds); how many went."""
        return await self._db.execute(delete(nav_samples).where(_c.at < before_at))
