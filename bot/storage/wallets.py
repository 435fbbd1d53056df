"""Wallet, PIN and user-setting rows (migrations 0002, 0013). No SQL lives anywhere else.

Wallet rows are never deleted: replacing or removing a wallet stamps `removed_at`, and a partial unique
index keeps at most one live wallet of each kind per user.
"""

from __future__ import annotations

import time
from decimal import Decimal
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Row, bindparam, case, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.db import Database
from bot.storage.schema import pins, user_settings, users, wallets

WalletKind = Literal["custodial", "connected"]
DEFAULT_SLIPPAGE_BPS = 50  # the column default in 0002_wallets.sql


class WalletExists(Exception):
    """The user already has a live wallet of that kind."""

    def __init__(self, address: str) -> None:
        super().__init__("a live wallet exists")
        self.address = address


@dataclass(frozen=True)
class WalletRow:
    id: int
    user_id: int
    kind: WalletKind
    address: str
    encrypted_key: bytes | None = field(repr=False)  # nonce || AES-GCM ciphertext; never printed
    key_id: str | None
    created_at: int
    removed_at: int | None = None


@dataclass(frozen=True)
class PinRow:
    user_id: int
    salt: bytes = field(repr=False)
    hash: bytes = field(repr=False)
    params: str
    failures: int
    locked_until: int
    key_id: str | None = None  # the master key the pepper comes from (migration 0013)
    pepper: bytes | None = field(default=None, repr=False)  # sealed under key_id after a rotation; None: derived


@dataclass(frozen=True)
class KeyCensus:
    """Which master keys the stored secrets need: per key id, custodial keys (all, live) and PINs."""

    wallets: dict[str, tuple[int, int]]
    pins: dict[str, int]


Reseal = Callable[[int, str, bytes], tuple[str, bytes] | None]  # (user, key id, sealed) -> resealed; None: as it is
ResealPepper = Callable[[int, str, bytes | None], tuple[str, bytes] | None]  # the same for a PIN's pepper


_WALLET_COLUMNS = (wallets.c.id, wallets.c.user_id, wallets.c.kind, wallets.c.address, wallets.c.encrypted_key,
                   wallets.c.key_id, wallets.c.created_at, wallets.c.removed_at)


def _wallet(row: Row[Any]) -> WalletRow:
    blob = row.encrypted_key
    return WalletRow(
        int(row.id), int(row.user_id), row.kind, str(row.address), bytes(blob) if blob is not None else None,
        row.key_id, int(row.created_at), int(row.removed_at) if row.removed_at is not None else None,
    )


# The reads behind every quote and trade, built once with named parameters (building a Core statement and its cache
# key per call cost about as much as running it).
_LIVE = select(*_WALLET_COLUMNS).where(wallets.c.user_id == bindparam("user"), wallets.c.kind == bindparam("of_kind"),
                                       wallets.c.removed_at.is_(None))
_BY_ID = select(*_WALLET_COLUMNS).where(wallets.c.id == bindparam("wallet"))


class WalletRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def live(self, user_id: int, kind: WalletKind = "custodial") -> WalletRow | None:
        """The user's wallet of this kind in use now, if any."""
        row = await self._db.fetch_one(_LIVE, {"user": user_id, "of_kind": kind})
        return _wallet(row) if row else None

    async def by_id(self, wallet_id: int) -> WalletRow | None:
        row = await self._db.fetch_one(_BY_ID, {"wallet": wallet_id})
        return _wallet(row) if row else None

    async def every_live(self, users: Collection[int] | None = None) -> list[tuple[int, str]]:
        """(user, address) of every wallet in use now, custodial and connected, oldest first (what transfer
        detection reconciles: bot.portfolio.transfers); only those of `users` when given."""
        query = select(wallets.c.user_id, wallets.c.address).where(wallets.c.removed_at.is_(None))
        if users is not None:
            query = query.where(wallets.c.user_id.in_(sorted(users)))
        rows = await self._db.fetch_all(query.order_by(wallets.c.id))
        return [(int(r.user_id), str(r.address)) for r in rows]

    async def history(self, user_id: int) -> list[WalletRow]:
        """Every wallet the user ever had, newest first (replaced ones included)."""
        rows = await self._db.fetch_all(
            select(*_WALLET_COLUMNS).where(wallets.c.user_id == user_id).order_by(wallets.c.id.desc())
        )
        return [_wallet(r) for r in rows]

    async def add_custodial(
        self, user_id: int, address: str, encrypted_key: bytes, key_id: str, *, replace: bool = False
    ) -> WalletRow:
        """Store a new live custodial wallet. With a live one already: `WalletExists`, unless `replace`,
        which retires the old row (kept, with its key) in the same transaction."""
        now = int(self._clock())
        live = (wallets.c.user_id == user_id, wallets.c.kind == "custodial", wallets.c.removed_at.is_(None))
        async with self._db.transaction() as tx:
            # Read, then write on what was read: the user's row is locked first (SELECT ... FOR UPDATE; SQLite has
            # one writer anyway), so two of this user's wallet changes at once (two workers on PostgreSQL) take
            # turns, and the second sees the first's wallet (WalletExists, or it retires it) instead of running
            # into the one-live-wallet index. The wallet row itself cannot be the lock: there may be none yet.
            await tx.lock(select(users.c.id).where(users.c.id == user_id))
            old = await tx.scalar(select(wallets.c.address).where(*live))
            if old is not None:
                if not replace:
                    raise WalletExists(str(old))
                await tx.execute(update(wallets).where(*live).values(removed_at=now))
            row = await tx.fetch_one(
                wallets.insert()
                .values(user_id=user_id, kind="custodial", address=address, encrypted_key=encrypted_key,
                        key_id=key_id, created_at=now)
                .returning(*_WALLET_COLUMNS)
            )
        assert row is not None
        return _wallet(row)

    async def remove(self, user_id: int, kind: WalletKind = "custodial") -> WalletRow | None:
        """Retire the live wallet of this kind (the row stays); returns it, or None when there was none."""
        async with self._db.transaction() as tx:  # one conditional UPDATE: of two at once, one retires it
            row = await tx.fetch_one(
                update(wallets)
                .where(wallets.c.user_id == user_id, wallets.c.kind == kind, wallets.c.removed_at.is_(None))
                .values(removed_at=int(self._clock()))
                .returning(*_WALLET_COLUMNS)
            )
        return _wallet(row) if row else None


_PIN_COLUMNS = (pins.c.user_id, pins.c.salt, pins.c.hash, pins.c.params, pins.c.failures, pins.c.locked_until,
                pins.c.key_id, pins.c.pepper)


def _pin(row: Row[Any]) -> PinRow:
    return PinRow(
        int(row.user_id), bytes(row.salt), bytes(row.hash), str(row.params), int(row.failures),
        int(row.locked_until), str(row.key_id) if row.key_id is not None else None,
        bytes(row.pepper) if row.pepper is not None else None,
    )


_PIN = select(*_PIN_COLUMNS).where(pins.c.user_id == bindparam("user"))


class PinRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: int) -> PinRow | None:
        row = await self._db.fetch_one(_PIN, {"user": user_id})
        return _pin(row) if row else None

    async def put(self, user_id: int, salt: bytes, hash_: bytes, params: str, key_id: str, *, first: bool = False) -> bool:
        """Set or replace the PIN, peppered by master key `key_id`; the failure count and any lock are cleared.
        `first`: only when the user has none (False when one exists, so two first PINs cannot race)."""
        async with self._db.transaction() as tx:  # one upsert: atomic on both engines
            insert = tx.insert(pins).values(user_id=user_id, salt=salt, hash=hash_, params=params, key_id=key_id,
                                            failures=0, locked_until=0)
            upsert = (insert.on_conflict_do_nothing(index_elements=[pins.c.user_id]) if first else
                      insert.on_conflict_do_update(index_elements=[pins.c.user_id], set_={
                          "salt": insert.excluded.salt, "hash": insert.excluded.hash, "params": insert.excluded.params,
                          "key_id": insert.excluded.key_id, "pepper": None, "failures": 0, "locked_until": 0}))
            # RETURNING tells whether it was stored (an INSERT's rowcount is -1 on PostgreSQL)
            stored = await tx.fetch_one(upsert.returning(pins.c.user_id))
        return stored is not None

    async def take_try(self, user_id: int, lock_for: list[int], now: int) -> PinRow | None:
        """Count one try before it is evaluated, in one compare-and-set: unless the PIN is locked at `now`,
        the failure count goes up and the lock it earns (`lock_for[n]` seconds after n+1 failures, 0: none)
        is set, and the row is returned to check the PIN against. None: no PIN, or locked; nothing changed.
        So however many tries arrive at once, from however many processes, at most the unlocked ones are
        evaluated; a right PIN then clears the count (`reset_failures`)."""
        delays = lock_for or [0]

        def until(delay: int) -> int:
            return now + delay if delay > 0 else 0

        # the lock earned by this try: lock_for[min(failures, last)], as a CASE on the failures counted so far
        locked_until: ColumnElement[Any] | int = until(delays[-1])
        if len(delays) > 1:
            locked_until = case(*((pins.c.failures == n, until(d)) for n, d in enumerate(delays[:-1])),
                                else_=until(delays[-1]))
        async with self._db.transaction() as tx:
            # one conditional UPDATE (WHERE locked_until <= now) RETURNING the row: on PostgreSQL a concurrent
            # try waits for the row and re-checks the lock on the row as the first try left it
            row = await tx.fetch_one(
                update(pins)
                .where(pins.c.user_id == user_id, pins.c.locked_until <= now)
                .values(failures=pins.c.failures + 1, locked_until=locked_until)
                .returning(*_PIN_COLUMNS)
            )
        return _pin(row) if row else None

    async def reset_failures(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(update(pins).where(pins.c.user_id == user_id).values(failures=0, locked_until=0))


class SealedKeyRows:
    """Every secret sealed under a master key, across wallets and pins: what the start-up check counts and
    what `indexbot keys rotate` re-seals."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def census(self) -> KeyCensus:
        live = func.sum(case((wallets.c.removed_at.is_(None), 1), else_=0))
        sealed = await self._db.fetch_all(
            select(wallets.c.key_id, func.count(), live).where(wallets.c.encrypted_key.is_not(None))
            .group_by(wallets.c.key_id)
        )
        peppered = await self._db.fetch_all(select(pins.c.key_id, func.count()).group_by(pins.c.key_id))
        return KeyCensus(
            {str(r[0]): (int(r[1]), int(r[2])) for r in sealed}, {str(r[0]): int(r[1]) for r in peppered}
        )

    async def reseal(self, wallet: Reseal, pin: ResealPepper) -> tuple[int, int]:
        """Re-seal every custodial key (`wallet`) and PIN pepper (`pin`) in one transaction: an exception from
        either leaves everything as it was. Returns how many keys and PINs changed."""
        keys = peppers = 0
        async with self._db.transaction() as tx:
            # The rows are re-sealed from what was read, so they are read FOR UPDATE (PostgreSQL; SQLite has one
            # writer anyway): a PIN set meanwhile by a running bot (under the current key) waits for the
            # rotation, instead of being overwritten by the re-sealed old pepper. Rows added meanwhile are sealed
            # under the current key already.
            for row in await tx.fetch_all(
                select(wallets.c.id, wallets.c.user_id, wallets.c.key_id, wallets.c.encrypted_key)
                .where(wallets.c.encrypted_key.is_not(None)).order_by(wallets.c.id).with_for_update()
            ):
                new = wallet(int(row.user_id), str(row.key_id), bytes(row.encrypted_key))
                if new is not None:
                    await tx.execute(update(wallets).where(wallets.c.id == row.id)
                                     .values(key_id=new[0], encrypted_key=new[1]))
                    keys += 1
            for row in await tx.fetch_all(
                select(pins.c.user_id, pins.c.key_id, pins.c.pepper).order_by(pins.c.user_id).with_for_update()
            ):
                new = pin(int(row.user_id), str(row.key_id), bytes(row.pepper) if row.pepper is not None else None)
                if new is not None:
                    await tx.execute(update(pins).where(pins.c.user_id == row.user_id)
                                     .values(key_id=new[0], pepper=new[1]))
                    peppers += 1
        return keys, peppers


_SLIPPAGE = select(user_settings.c.slippage_bps).where(user_settings.c.user_id == bindparam("user"))
_PRESETS = select(user_settings.c.buy_presets).where(user_settings.c.user_id == bindparam("user"))
DEFAULT_BUY_PRESETS = (Decimal(25), Decimal(50), Decimal(100), Decimal(250))
_TIMEZONE = select(user_settings.c.timezone).where(user_settings.c.user_id == bindparam("user"))


class SettingsRows:
    """Per-user preferences; a user without a row has the defaults."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_slippage_bps(self, user_id: int) -> int:
        bps = await self._db.scalar(_SLIPPAGE, {"user": user_id})
        return int(bps) if bps is not None else DEFAULT_SLIPPAGE_BPS

    async def set_slippage_bps(self, user_id: int, bps: int) -> None:
        await self._set(user_id, slippage_bps=int(bps))

    async def get_buy_presets(self, user_id: int) -> tuple[Decimal, ...]:
        """The Buy screen's amounts (USDC), as the user set them (/presets), else the defaults."""
        stored = await self._db.scalar(_PRESETS, {"user": user_id})
        return tuple(Decimal(part) for part in str(stored).split(",")) if stored else DEFAULT_BUY_PRESETS

    async def set_buy_presets(self, user_id: int, amounts: tuple[Decimal, ...]) -> None:
        await self._set(user_id, buy_presets=",".join(str(amount) for amount in amounts))

    async def get_timezone(self, user_id: int) -> str | None:
        zone = await self._db.scalar(_TIMEZONE, {"user": user_id})
        return str(zone) if zone is not None else None

    async def zone_of(self, user_id: int) -> str:
        """The zone every time is shown in for this user: their /timezone, else UTC."""
        return await self.get_timezone(user_id) or "UTC"

    async def set_timezone(self, user_id: int, timezone: str | None) -> None:
        await self._set(user_id, timezone=timezone)

    async def _set(self, user_id: int, **setting: Any) -> None:
        """One setting, by upsert (atomic on both engines); the user's other settings are kept."""
        async with self._db.transaction(single=True) as tx:
            insert = tx.insert(user_settings).values(user_id=user_id, **setting)
            await tx.execute(insert.on_conflict_do_update(
                index_elements=[user_settings.c.user_id], set_={name: insert.excluded[name] for name in setting}))
