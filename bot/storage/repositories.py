"""The queries the core needs, and nothing else: no SQL outside bot/storage."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True)
class UserRow:
    id: int
    platform: str
    platform_user_id: str
    locale: str | None


@dataclass(frozen=True)
class ButtonRow:
    token: str
    user_id: int
    action: str
    args: tuple[str, ...]
    expires_at: int


class Users:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def seen(self, platform: str, platform_user_id: str, display_name: str = "") -> UserRow:
        """Create the user on first contact, refresh last_seen otherwise; one statement either way."""
        now = int(time.time())
        async with self._conn.execute(
            """INSERT INTO users (platform, platform_user_id, display_name, created_at, last_seen_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (platform, platform_user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
               RETURNING id, platform, platform_user_id, locale""",
            (platform, platform_user_id, display_name, now, now),
        ) as cur:
            row = await cur.fetchone()
        await self._conn.commit()
        assert row is not None
        return UserRow(int(row[0]), str(row[1]), str(row[2]), row[3])

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        await self._conn.execute("UPDATE users SET locale = ? WHERE id = ?", (locale, user_id))
        await self._conn.commit()


class Buttons:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def issue(self, user_id: int, specs: list[tuple[str, tuple[str, ...]]], ttl_seconds: int) -> list[str]:
        """Store one row per button and return their opaque tokens (16 random bytes, url-safe)."""
        now = int(time.time())
        rows = [
            (secrets.token_urlsafe(16), user_id, action, json.dumps(list(args)), now, now + ttl_seconds)
            for action, args in specs
        ]
        await self._conn.executemany(
            "INSERT INTO buttons (token, user_id, action, args, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        await self._conn.commit()
        return [r[0] for r in rows]

    async def get(self, token: str) -> ButtonRow | None:
        async with self._conn.execute(
            "SELECT token, user_id, action, args, expires_at FROM buttons WHERE token = ?", (token,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return ButtonRow(str(row[0]), int(row[1]), str(row[2]), tuple(json.loads(row[3])), int(row[4]))

    async def purge_expired(self, now: int | None = None) -> int:
        cur = await self._conn.execute("DELETE FROM buttons WHERE expires_at < ?", (now or int(time.time()),))
        await self._conn.commit()
        return cur.rowcount
