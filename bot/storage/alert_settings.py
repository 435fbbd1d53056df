"""/alerts preferences (alert_settings, migration 0006): which kinds a user receives, quiet hours, digest time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select

from bot.storage.db import Database
from bot.storage.outbox import KIND_SWITCHES, switched_on_by_default
from bot.storage.schema import alert_settings, point_totals, user_settings, users

DEFAULT_DIGEST_AT = 9 * 60  # 09:00 in the user's zone


@dataclass(frozen=True)
class AlertSettingsRow:
    switches: dict[str, bool]  # kind -> on
    quiet: tuple[int, int] | None  # minutes after local midnight
    digest_at: int  # minutes after local midnight


class AlertSettingsRows:
    """Every write is one INSERT … ON CONFLICT (user_id) DO UPDATE of the columns it sets: safe when two
    processes write one user's settings at once (PostgreSQL), and nothing is read before it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: int) -> AlertSettingsRow:
        s = alert_settings
        row = await self._db.fetch_one(
            select(*(s.c[k] for k in KIND_SWITCHES), s.c.quiet_start, s.c.quiet_end, s.c.digest_at)
            .where(s.c.user_id == user_id)
        )
        if row is None:
            return AlertSettingsRow({k: switched_on_by_default(k) for k in KIND_SWITCHES}, None, DEFAULT_DIGEST_AT)
        n = len(KIND_SWITCHES)
        quiet = (int(row[n]), int(row[n + 1])) if row[n] is not None and row[n + 1] is not None else None
        return AlertSettingsRow({k: bool(row[i]) for i, k in enumerate(KIND_SWITCHES)}, quiet, int(row[n + 2]))

    async def set_switch(self, user_id: int, kind: str, on: bool) -> None:
        if kind not in KIND_SWITCHES:
            raise ValueError(f"not an alert kind: {kind}")
        await self._upsert(user_id, {kind: int(on)})

    async def set_quiet(self, user_id: int, window: tuple[int, int] | None) -> None:
        start, end = window if window is not None else (None, None)
        await self._upsert(user_id, {"quiet_start": start, "quiet_end": end})

    async def set_digest_at(self, user_id: int, minute: int) -> None:
        await self._upsert(user_id, {"digest_at": minute})

    async def _upsert(self, user_id: int, values: dict[str, int | None]) -> None:
        """Set these columns of the user's row, created with the defaults for the rest if there is none."""
        async with self._db.transaction() as tx:
            stmt = tx.insert(alert_settings).values(user_id=user_id, **values)
            await tx.execute(stmt.on_conflict_do_update(index_elements=["user_id"],
                                                        set_={k: stmt.excluded[k] for k in values}))

    async def digest_readers(self, user_id: int | None = None) -> list[tuple[int, int, str]]:
        """(user, digest minute, time zone) of users who receive the digest and have points to report (all of
        them, or just `user_id`)."""
        s, us = alert_settings, user_settings
        query = (
            select(users.c.id, func.coalesce(s.c.digest_at, DEFAULT_DIGEST_AT), func.coalesce(us.c.timezone, "UTC"))
            .select_from(users.outerjoin(s, s.c.user_id == users.c.id).outerjoin(us, us.c.user_id == users.c.id))
            .where(func.coalesce(s.c.digest, 1) == 1, users.c.dm_chat.is_not(None), users.c.blocked_at.is_(None),
                   exists().where(point_totals.c.user_id == users.c.id))
            .order_by(users.c.id)
        )
        if user_id is not None:
            query = query.where(users.c.id == user_id)
        rows = await self._db.fetch_all(query)
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]
