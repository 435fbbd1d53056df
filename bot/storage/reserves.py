"""reserve_state (migration 0025): whether each index token was short of backing at the last check, and how many
times it has fallen short since it was first watched (numbering each crossing's messages)."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.storage.db import Database
from bot.storage.schema import reserve_state


class ReserveStateRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def state(self, token: str) -> tuple[bool, int]:
        """(short at the last check, crossings so far); a token never seen is not short, with none."""
        c = reserve_state.c
        row = await self._db.fetch_one(select(c.short, c.crossings).where(c.token == token))
        return (bool(row[0]), int(row[1])) if row is not None else (False, 0)

    async def move(self, token: str, short: bool, crossings: int, block: int) -> bool:
        """Record the token's new state, a compare-and-set on the other: True only for the caller that moved it
        (two processes checking at once move it once between them)."""
        async with self._db.transaction() as tx:
            insert = tx.insert(reserve_state).values(token=token, short=0, crossings=0, block=block)
            await tx.execute(insert.on_conflict_do_nothing(index_elements=["token"]))
            c = reserve_state.c
            moved = await tx.execute(update(reserve_state).where(c.token == token, c.short != int(short))
                                     .values(short=int(short), crossings=crossings, block=block))
        return moved == 1
