"""Telegram Mini App sign-in data already used (migration 0022): each initData serves one page only.

`spend` remembers the data's signature with the page it is used on, in one INSERT … ON CONFLICT DO NOTHING (of two
processes exactly one stores it): the same data again on the same page (the page's next request, a reload) is
accepted, on any other page it is a replay. Rows go once too old to be accepted anyway (bot.storage.purge).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

from bot.storage.connected import token_hash
from bot.storage.db import Database
from bot.storage.schema import miniapp_init_data as used

_c = used.c


class MiniAppInitDataRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def spend(self, signature: str, page: str, expires_at: int) -> bool:
        """Whether initData with this signature may serve `page` (a link token): first use, or the same page again."""
        key, scope = token_hash(signature), token_hash(page)
        async with self._db.transaction(single=True) as tx:
            await tx.execute(
                tx.insert(used).on_conflict_do_nothing(index_elements=[_c.hash]),
                {"hash": key, "scope": scope, "used_at": int(self._clock()), "expires_at": expires_at},
            )
        return bool(await self._db.scalar(select(_c.scope).where(_c.hash == key)) == scope)
