"""/alerts preferences (alert_settings, migration 0006): which kinds a user receives, quiet hours, digest time."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.db import Database
from bot.storage.outbox import KIND_SWITCHES

DEFAULT_DIGEST_AT = 9 * 60  # 09:00 in the user's zone


@dataclass(frozen=True)
class AlertSettingsRow:
    switches: dict[str, bool]  # kind -> on
    quiet: tuple[int, int] | None  # minutes after local midnight
    digest_at: int  # minutes after local midnight


class AlertSettingsRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: int) -> AlertSettingsRow:
        cols = ", ".join(KIND_SWITCHES)
        row = await self._db.fetch_one(
            f"SELECT {cols}, quiet_start, quiet_end, digest_at FROM alert_settings WHERE user_id = ?", (user_id,))
        if row is None:
            return AlertSettingsRow({k: True for k in KIND_SWITCHES}, None, DEFAULT_DIGEST_AT)
        n = len(KIND_SWITCHES)
        quiet = (int(row[n]), int(row[n + 1])) if row[n] is not None and row[n + 1] is not None else None
        return AlertSettingsRow({k: bool(row[i]) for i, k in enumerate(KIND_SWITCHES)}, quiet, int(row[n + 2]))

    async def set_switch(self, user_id: int, kind: str, on: bool) -> None:
        if kind not in KIND_SWITCHES:
            raise ValueError(f"not an alert kind: {kind}")
        async with self._db.transaction() as tx:
            await tx.execute(
                f"""INSERT INTO alert_settings (user_id, {kind}) VALUES (?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET {kind} = excluded.{kind}""", (user_id, int(on)))

    async def set_quiet(self, user_id: int, window: tuple[int, int] | None) -> None:
        start, end = window if window is not None else (None, None)
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO alert_settings (user_id, quiet_start, quiet_end) VALUES (?, ?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end""",
                (user_id, start, end))

    async def set_digest_at(self, user_id: int, minute: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO alert_settings (user_id, digest_at) VALUES (?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET digest_at = excluded.digest_at""", (user_id, minute))

    async def digest_readers(self, user_id: int | None = None) -> list[tuple[int, int, str]]:
        """(user, digest minute, time zone) of users who receive the digest and have points to report (all of
        them, or just `user_id`)."""
        rows = await self._db.fetch_all(
            f"""SELECT u.id, COALESCE(s.digest_at, {DEFAULT_DIGEST_AT}), COALESCE(us.timezone, 'UTC')
                FROM users u
                LEFT JOIN alert_settings s ON s.user_id = u.id
                LEFT JOIN user_settings us ON us.user_id = u.id
                WHERE COALESCE(s.digest, 1) = 1 AND u.dm_chat IS NOT NULL AND u.blocked_at IS NULL
                  AND EXISTS (SELECT 1 FROM point_totals t WHERE t.user_id = u.id)
                  AND (? IS NULL OR u.id = ?)""",
            (user_id, user_id))
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]
