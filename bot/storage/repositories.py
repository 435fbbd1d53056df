"""The queries the core needs, and nothing else: no SQL outside bot/storage."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.storage.db import Database

SEEN_REFRESH_SECONDS = 3600  # last_seen_at is refreshed at most this often per user


@dataclass(frozen=True)
class UserRow:
    id: int
    platform: str
    platform_user_id: str
    locale: str | None  # the /lang override
    platform_locale: str | None = None  # what the platform last reported
    dm_chat: str | None = None  # the user's private chat with the bot, once they wrote there


@dataclass(frozen=True)
class ButtonRow:
    token: str
    user_id: int
    action: str
    args: tuple[str, ...]
    expires_at: int


class UserRows:
    """Users as the platforms identify them. Rows are remembered in memory by this process (the only
    writer of its database), so a message from a known user costs no database round trip."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)
        self._known: dict[tuple[str, str], tuple[UserRow, float]] = {}
        self._names_keyed = False  # key_leaderboard_names ran

    async def seen(
        self, platform: str, platform_user_id: str, display_name: str = "", platform_locale: str | None = None,
        dm_chat: str | None = None, reach: str | None = None,
    ) -> UserRow:
        """The user's row, created on first contact; last_seen_at refreshed at most once an hour, the platform's
        language whenever it changes. `dm_chat` (given when the user writes to the bot privately) is where their
        alerts go from then on, and writing privately lifts a "blocked the bot" mark. `reach` is where the
        platform lets the bot write to them unasked (a Discord `user:<id>`, its DM channel opened when first
        used): kept only while no private chat is known, and it lifts nothing."""
        now = self._clock()
        known = self._known.get((platform, platform_user_id))
        if (known is not None and now - known[1] < SEEN_REFRESH_SECONDS and known[0].platform_locale == platform_locale
                and (dm_chat is None or known[0].dm_chat == dm_chat) and (reach is None or known[0].dm_chat is not None)):
            return known[0]
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                """INSERT INTO users (platform, platform_user_id, display_name, created_at, last_seen_at, platform_locale, dm_chat)
                   VALUES (?1, ?2, ?3, ?4, ?4, ?5, COALESCE(?6, ?7))
                   ON CONFLICT (platform, platform_user_id) DO UPDATE
                   SET last_seen_at = excluded.last_seen_at, platform_locale = excluded.platform_locale,
                       dm_chat = COALESCE(?6, users.dm_chat, ?7),
                       blocked_at = CASE WHEN ?6 IS NULL THEN users.blocked_at END
                   RETURNING id, platform, platform_user_id, locale, platform_locale, dm_chat""",
                (platform, platform_user_id, display_name, int(now), platform_locale, dm_chat, reach),
            )
        assert row is not None
        user = UserRow(int(row[0]), str(row[1]), str(row[2]), row[3], row[4], row[5])
        self._known[(platform, platform_user_id)] = (user, now)
        return user

    async def opened_private_chat(self, platform: str, platform_user_id: str, address: str, chat: str) -> None:
        """The platform opened the private chat `address` stood for (`seen`'s `reach`): store its id, unless the
        user has since written from another private chat."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE users SET dm_chat = ? WHERE platform = ? AND platform_user_id = ? AND (dm_chat IS NULL OR dm_chat = ?)",
                (chat, platform, platform_user_id, address),
            )
        self._known.pop((platform, platform_user_id), None)

    def forget(self, user_id: int) -> None:
        """Drop the remembered row (it changed behind this cache: the user blocked the bot)."""
        for key, (user, _) in list(self._known.items()):
            if user.id == user_id:
                del self._known[key]

    async def by_id(self, user_id: int) -> UserRow | None:
        row = await self._db.fetch_one(
            "SELECT id, platform, platform_user_id, locale, platform_locale, dm_chat FROM users WHERE id = ?", (user_id,)
        )
        return UserRow(int(row[0]), str(row[1]), str(row[2]), row[3], row[4], row[5]) if row else None

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE users SET locale = ? WHERE id = ?", (locale, user_id))
        for key, (user, at) in list(self._known.items()):
            if user.id == user_id:
                self._known[key] = (replace(user, locale=locale), at)

    async def leaderboard_name(self, user_id: int) -> str | None:
        """The name the user chose for the leaderboard (/name); None: they are shown anonymized."""
        row = await self._db.fetch_one("SELECT leaderboard_name FROM users WHERE id = ?", (user_id,))
        return str(row[0]) if row and row[0] is not None else None

    async def set_leaderboard_name(self, user_id: int, name: str | None, key: str | None = None) -> bool:
        """Set (already validated) or clear (None) the user's leaderboard name with its look-alike `key`; False
        (nothing changed) when another user's name has that key."""
        try:
            async with self._db.transaction() as tx:
                await tx.execute("UPDATE users SET leaderboard_name = ?, leaderboard_key = ? WHERE id = ?",
                                 (name, key if name is not None else None, user_id))
        except sqlite3.IntegrityError:  # users_by_leaderboard_key: the name looks like someone else's
            return False
        return True

    async def key_leaderboard_names(self, key: Callable[[str], str]) -> int:
        """Give the names chosen before keys existed their key (once per process), oldest user first; a name
        that looks like one keyed before it keeps no key (it stays shown, and nobody can take its look-alike
        from the first). How many were keyed."""
        if self._names_keyed:
            return 0
        rows = await self._db.fetch_all(
            "SELECT id, leaderboard_name FROM users WHERE leaderboard_name IS NOT NULL AND leaderboard_key IS NULL ORDER BY id")
        keyed = 0
        for row in rows:
            keyed += await self.set_leaderboard_name(int(row[0]), str(row[1]), key(str(row[1])))
        self._names_keyed = True
        return keyed


class ButtonRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def issue(self, user_id: int, specs: list[tuple[str, tuple[str, ...]]], ttl_seconds: int) -> list[str]:
        """Store one row per button and return their opaque tokens (16 random bytes, url-safe)."""
        now = int(self._clock())
        rows = [
            (secrets.token_urlsafe(16), user_id, action, json.dumps(list(args)), now, now + ttl_seconds)
            for action, args in specs
        ]
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO buttons (token, user_id, action, args, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return [r[0] for r in rows]

    async def get(self, token: str) -> ButtonRow | None:
        row = await self._db.fetch_one(
            "SELECT token, user_id, action, args, expires_at FROM buttons WHERE token = ?", (token,)
        )
        if row is None:
            return None
        return ButtonRow(str(row[0]), int(row[1]), str(row[2]), tuple(json.loads(row[3])), int(row[4]))

    async def purge_expired(self, now: int | None = None) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM buttons WHERE expires_at < ?", (now or int(self._clock()),))
