"""The queries the core needs, and nothing else: no SQL outside bot/storage."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, bindparam, delete, exc, func, or_, select, update

from bot.storage.db import Database
from bot.storage.schema import buttons, users

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


_USER_COLUMNS = (users.c.id, users.c.platform, users.c.platform_user_id, users.c.locale, users.c.platform_locale,
                 users.c.dm_chat)


def _user(row: Row[Any]) -> UserRow:
    return UserRow(int(row.id), str(row.platform), str(row.platform_user_id), row.locale, row.platform_locale,
                   row.dm_chat)


class UserRows:
    """Users as the platforms identify them. On SQLite (one process, the only writer of its database) rows are
    remembered in memory, so a message from a known user costs no database round trip. On PostgreSQL other
    processes of the fleet change the same rows (a `/lang` handled by another worker), so a known user's row is read
    again, by its key (one short read instead of the upsert), and only the hourly refresh writes."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)
        self._known: dict[tuple[str, str], tuple[UserRow, float]] = {}
        self._shared = db.dialect != "sqlite"  # other processes write these rows: what is remembered may be stale
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
            if not self._shared:
                return known[0]
            row = await self._db.fetch_one(_USER_BY_ID, {"user": known[0].id})
            fresh = _user(row) if row is not None else None
            if (fresh is not None and fresh.platform_locale == platform_locale
                    and (dm_chat is None or fresh.dm_chat == dm_chat) and (reach is None or fresh.dm_chat is not None)):
                self._known[(platform, platform_user_id)] = (fresh, known[1])
                return fresh
        # One upsert (INSERT ... ON CONFLICT DO UPDATE): atomic on both engines, so two processes seeing the same
        # new user at once make one row, and each change is applied to the row as it is when the update runs.
        changes: dict[str, Any] = {"last_seen_at": int(now), "platform_locale": platform_locale}
        if dm_chat is not None:
            changes.update(dm_chat=dm_chat, blocked_at=None)
        elif reach is not None:
            changes["dm_chat"] = func.coalesce(users.c.dm_chat, reach)
        async with self._db.transaction(single=True) as tx:
            row = await tx.fetch_one(
                tx.insert(users)
                .values(platform=platform, platform_user_id=platform_user_id, display_name=display_name,
                        created_at=int(now), last_seen_at=int(now), platform_locale=platform_locale,
                        dm_chat=dm_chat if dm_chat is not None else reach)
                .on_conflict_do_update(index_elements=[users.c.platform, users.c.platform_user_id], set_=changes)
                .returning(*_USER_COLUMNS)
            )
        assert row is not None
        user = _user(row)
        self._known[(platform, platform_user_id)] = (user, now)
        return user

    async def opened_private_chat(self, platform: str, platform_user_id: str, address: str, chat: str) -> None:
        """The platform opened the private chat `address` stood for (`seen`'s `reach`): store its id, unless the
        user has since written from another private chat."""
        async with self._db.transaction() as tx:  # a conditional UPDATE: never overwrites a chat written meanwhile
            await tx.execute(
                update(users)
                .where(users.c.platform == platform, users.c.platform_user_id == platform_user_id,
                       or_(users.c.dm_chat.is_(None), users.c.dm_chat == address))
                .values(dm_chat=chat)
            )
        self._known.pop((platform, platform_user_id), None)

    async def is_private_chat(self, platform: str, chat: str) -> bool:
        """Whether `chat` is a user's private chat with the bot as stored (a Discord DM channel this process has not
        seen: the next run, or a fleet's sender)."""
        query = select(users.c.id).where(users.c.platform == platform, users.c.dm_chat == chat).limit(1)
        return await self._db.fetch_one(query) is not None

    def forget(self, user_id: int) -> None:
        """Drop the remembered row (it changed behind this cache: the user blocked the bot)."""
        for key, (user, _) in list(self._known.items()):
            if user.id == user_id:
                del self._known[key]

    async def by_id(self, user_id: int) -> UserRow | None:
        row = await self._db.fetch_one(_USER_BY_ID, {"user": user_id})
        return _user(row) if row else None

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(update(users).where(users.c.id == user_id).values(locale=locale))
        for key, (user, at) in list(self._known.items()):
            if user.id == user_id:
                self._known[key] = (replace(user, locale=locale), at)

    async def leaderboard_name(self, user_id: int) -> str | None:
        """The name the user chose for the leaderboard (/name); None: they are shown anonymized."""
        name = await self._db.scalar(select(users.c.leaderboard_name).where(users.c.id == user_id))
        return str(name) if name is not None else None

    async def set_leaderboard_name(self, user_id: int, name: str | None, key: str | None = None) -> bool:
        """Set (already validated) or clear (None) the user's leaderboard name with its look-alike `key`; False
        (nothing changed) when another user's name has that key."""
        try:
            async with self._db.transaction() as tx:
                await tx.execute(update(users).where(users.c.id == user_id)
                                 .values(leaderboard_name=name, leaderboard_key=key if name is not None else None))
        except exc.IntegrityError:  # users_by_leaderboard_key: the name looks like someone else's
            return False
        return True

    async def key_leaderboard_names(self, key: Callable[[str], str]) -> int:
        """Give the names chosen before keys existed their key (once per process), oldest user first; a name
        that looks like one keyed before it keeps no key (it stays shown, and nobody can take its look-alike
        from the first). How many were keyed."""
        if self._names_keyed:
            return 0
        rows = await self._db.fetch_all(
            select(users.c.id, users.c.leaderboard_name)
            .where(users.c.leaderboard_name.is_not(None), users.c.leaderboard_key.is_(None)).order_by(users.c.id))
        keyed = 0
        for row in rows:
            keyed += await self._key_name(int(row.id), str(row.leaderboard_name), key(str(row.leaderboard_name)))
        self._names_keyed = True
        return keyed

    async def _key_name(self, user_id: int, name: str, key: str) -> bool:
        """Key the name read before, by a conditional UPDATE: a name the user changed since (/name, here or in
        another process) is theirs and keyed already, and is left as it is. False: not keyed (changed, or it
        looks like a name keyed before)."""
        try:
            async with self._db.transaction() as tx:
                changed = await tx.execute(
                    update(users)
                    .where(users.c.id == user_id, users.c.leaderboard_name == name, users.c.leaderboard_key.is_(None))
                    .values(leaderboard_key=key))
        except exc.IntegrityError:  # users_by_leaderboard_key
            return False
        return changed == 1


# Every reply with buttons stores them, and every press reads one: both built once (named parameters).
_ISSUE = buttons.insert()
_BUTTON = (select(buttons.c.token, buttons.c.user_id, buttons.c.action, buttons.c.args, buttons.c.expires_at)
           .where(buttons.c.token == bindparam("of_token")))
_USER_BY_ID = select(*_USER_COLUMNS).where(users.c.id == bindparam("user"))


class ButtonRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.db = db  # the database its router keeps its other server-side state in (bot.storage.prompts)
        self._clock = clock  # injected by the composition root (bot.app)

    async def issue(self, user_id: int, specs: list[tuple[str, tuple[str, ...]]], ttl_seconds: int) -> list[str]:
        """Store one row per button and return their opaque tokens (16 random bytes, url-safe)."""
        now = int(self._clock())
        rows = [
            {"token": secrets.token_urlsafe(16), "user_id": user_id, "action": action, "args": json.dumps(list(args)),
             "created_at": now, "expires_at": now + ttl_seconds}
            for action, args in specs
        ]
        async with self._db.transaction(single=True) as tx:
            await tx.execute_many(_ISSUE, rows)
        return [str(r["token"]) for r in rows]

    async def get(self, token: str) -> ButtonRow | None:
        row = await self._db.fetch_one(_BUTTON, {"of_token": token})
        if row is None:
            return None
        return ButtonRow(str(row.token), int(row.user_id), str(row.action), tuple(json.loads(row.args)),
                         int(row.expires_at))

    async def purge_expired(self, now: int | None = None) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute(delete(buttons).where(buttons.c.expires_at < (now or int(self._clock()))))
