"""Discord interactions between the gateway that acknowledged them and the worker that answers them.

A fleet's gateway process defers an interaction at once (Discord allows 3 s) and keeps here what the answer
needs: the request as JSON and the interaction's token, the credential that answers it for 15 minutes. A worker
`take`s the row, which clears the token in the same statement: a job run twice (deferred twice, or retried after
its worker died) finds nothing the second time, so the user's command has its side effects once. The row stays,
tokenless, until the token would have expired (`TOKEN_SECONDS`), so the same interaction stored again is known;
then `purge` removes it. Nothing here logs a token.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from bot.storage.db import Database
from bot.storage.schema import discord_interactions

TOKEN_SECONDS = 15 * 60  # Discord's interaction tokens answer for 15 minutes


@dataclass(frozen=True)
class Taken:
    """An interaction a worker took: its token (now gone from the database) and what was asked."""

    token: str
    ask: str  # JSON
    received_at: int


class InteractionRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def keep(self, interaction_id: str, token: str, ask: str, received_at: int) -> bool:
        """Store an acknowledged interaction for a worker; False when it was stored before (delivered twice).
        Rows whose token expired are purged on the way."""
        t = discord_interactions
        async with self._db.transaction() as tx:
            await tx.execute(delete(t).where(t.c.received_at < received_at - TOKEN_SECONDS))
            insert = tx.insert(t).values(id=interaction_id, token=token, ask=ask, received_at=received_at)
            stored = await tx.fetch_one(insert.on_conflict_do_nothing(index_elements=[t.c.id]).returning(t.c.id))
        return stored is not None

    async def take(self, interaction_id: str, now: int) -> Taken | None:
        """The interaction's token and request, the token cleared in the same transaction (under the row's lock:
        of two workers, one takes it); None when taken before (or purged)."""
        t = discord_interactions
        async with self._db.transaction() as tx:
            await tx.lock(select(t.c.id).where(t.c.id == interaction_id))
            row = await tx.fetch_one(select(t.c.token, t.c.ask, t.c.received_at)
                                     .where(t.c.id == interaction_id, t.c.token.is_not(None)))
            if row is None:
                return None
            await tx.execute(update(t).where(t.c.id == interaction_id).values(token=None, taken_at=now))
        return Taken(str(row.token), str(row.ask), int(row.received_at))

    async def purge(self, now: int) -> int:
        """Remove the rows whose token expired; how many."""
        t = discord_interactions
        async with self._db.transaction() as tx:
            return await tx.execute(delete(t).where(t.c.received_at < now - TOKEN_SECONDS))
