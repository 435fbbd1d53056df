"""Wallet, PIN and user-setting rows (migrations 0002, 0013). No SQL lives anywhere else.

Wallet rows are never deleted: replacing or removing a wallet stamps `removed_at`, and a partial unique
index keeps at most one live wallet of each kind per user.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import aiosqlite

from bot.storage.db import Database

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


_WALLET_COLUMNS = "id, user_id, kind, address, encrypted_key, key_id, created_at, removed_at"


def _wallet(row: aiosqlite.Row) -> WalletRow:
    blob = row[4]
    return WalletRow(
        int(row[0]), int(row[1]), row[2], str(row[3]), bytes(blob) if blob is not None else None,
        row[5], int(row[6]), int(row[7]) if row[7] is not None else None,
    )


class WalletRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def live(self, user_id: int, kind: WalletKind = "custodial") -> WalletRow | None:
        """The user's wallet of this kind in use now, if any."""
        row = await self._db.fetch_one(
            f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE user_id = ? AND kind = ? AND removed_at IS NULL",
            (user_id, kind),
        )
        return _wallet(row) if row else None

    async def by_id(self, wallet_id: int) -> WalletRow | None:
        row = await self._db.fetch_one(f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE id = ?", (wallet_id,))
        return _wallet(row) if row else None

    async def history(self, user_id: int) -> list[WalletRow]:
        """Every wallet the user ever had, newest first (replaced ones included)."""
        rows = await self._db.fetch_all(
            f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE user_id = ? ORDER BY id DESC", (user_id,)
        )
        return [_wallet(r) for r in rows]

    async def add_custodial(
        self, user_id: int, address: str, encrypted_key: bytes, key_id: str, *, replace: bool = False
    ) -> WalletRow:
        """Store a new live custodial wallet. With a live one already: `WalletExists`, unless `replace`,
        which retires the old row (kept, with its key) in the same transaction."""
        now = int(self._clock())
        async with self._db.transaction() as tx:
            old = await tx.fetch_one(
                "SELECT address FROM wallets WHERE user_id = ? AND kind = 'custodial' AND removed_at IS NULL",
                (user_id,),
            )
            if old is not None:
                if not replace:
                    raise WalletExists(str(old[0]))
                await tx.execute(
                    "UPDATE wallets SET removed_at = ? WHERE user_id = ? AND kind = 'custodial' AND removed_at IS NULL",
                    (now, user_id),
                )
            row = await tx.fetch_one(
                f"""INSERT INTO wallets (user_id, kind, address, encrypted_key, key_id, created_at)
                    VALUES (?, 'custodial', ?, ?, ?, ?) RETURNING {_WALLET_COLUMNS}""",
                (user_id, address, encrypted_key, key_id, now),
            )
        assert row is not None
        return _wallet(row)

    async def remove(self, user_id: int, kind: WalletKind = "custodial") -> WalletRow | None:
        """Retire the live wallet of this kind (the row stays); returns it, or None when there was none."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"""UPDATE wallets SET removed_at = ? WHERE user_id = ? AND kind = ? AND removed_at IS NULL
                    RETURNING {_WALLET_COLUMNS}""",
                (int(self._clock()), user_id, kind),
            )
        return _wallet(row) if row else None


_PIN_COLUMNS = "user_id, salt, hash, params, failures, locked_until, key_id, pepper"


def _pin(row: aiosqlite.Row) -> PinRow:
    return PinRow(
        int(row[0]), bytes(row[1]), bytes(row[2]), str(row[3]), int(row[4]), int(row[5]),
        str(row[6]) if row[6] is not None else None, bytes(row[7]) if row[7] is not None else None,
    )


class PinRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: int) -> PinRow | None:
        row = await self._db.fetch_one(f"SELECT {_PIN_COLUMNS} FROM pins WHERE user_id = ?", (user_id,))
        return _pin(row) if row else None

    async def put(self, user_id: int, salt: bytes, hash_: bytes, params: str, key_id: str, *, first: bool = False) -> bool:
        """Set or replace the PIN, peppered by master key `key_id`; the failure count and any lock are cleared.
        `first`: only when the user has none (False when one exists, so two first PINs cannot race)."""
        on_conflict = "NOTHING" if first else """UPDATE SET salt = excluded.salt, hash = excluded.hash,
                   params = excluded.params, key_id = excluded.key_id, pepper = NULL, failures = 0, locked_until = 0"""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                f"""INSERT INTO pins (user_id, salt, hash, params, key_id, failures, locked_until)
                    VALUES (?, ?, ?, ?, ?, 0, 0) ON CONFLICT (user_id) DO {on_conflict}""",
                (user_id, salt, hash_, params, key_id),
            )
        return changed == 1

    async def take_try(self, user_id: int, lock_for: list[int], now: int) -> PinRow | None:
        """Count one try before it is evaluated, in one compare-and-set: unless the PIN is locked at `now`,
        the failure count goes up and the lock it earns (`lock_for[n]` seconds after n+1 failures, 0: none)
        is set, and the row is returned to check the PIN against. None: no PIN, or locked; nothing changed.
        So however many tries arrive at once, from however many processes, at most the unlocked ones are
        evaluated; a right PIN then clears the count (`reset_failures`)."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"""UPDATE pins SET failures = failures + 1, locked_until = CASE
                        WHEN json_extract(?1, '$[' || min(failures, ?2) || ']') > 0
                        THEN ?3 + json_extract(?1, '$[' || min(failures, ?2) || ']') ELSE 0 END
                    WHERE user_id = ?4 AND locked_until <= ?3 RETURNING {_PIN_COLUMNS}""",
                (json.dumps(lock_for or [0]), max(len(lock_for) - 1, 0), now, user_id),
            )
        return _pin(row) if row else None

    async def reset_failures(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE pins SET failures = 0, locked_until = 0 WHERE user_id = ?", (user_id,))


class SealedKeyRows:
    """Every secret sealed under a master key, across wallets and pins: what the start-up check counts and
    what `indexbot keys rotate` re-seals."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def census(self) -> KeyCensus:
        wallets = await self._db.fetch_all(
            """SELECT key_id, COUNT(*), SUM(removed_at IS NULL) FROM wallets
               WHERE encrypted_key IS NOT NULL GROUP BY key_id"""
        )
        pins = await self._db.fetch_all("SELECT key_id, COUNT(*) FROM pins GROUP BY key_id")
        return KeyCensus(
            {str(r[0]): (int(r[1]), int(r[2])) for r in wallets}, {str(r[0]): int(r[1]) for r in pins}
        )

    async def reseal(self, wallet: Reseal, pin: ResealPepper) -> tuple[int, int]:
        """Re-seal every custodial key (`wallet`) and PIN pepper (`pin`) in one transaction: an exception from
        either leaves everything as it was. Returns how many keys and PINs changed."""
        keys = pins = 0
        async with self._db.transaction() as tx:
            for row in await tx.fetch_all(
                "SELECT id, user_id, key_id, encrypted_key FROM wallets WHERE encrypted_key IS NOT NULL ORDER BY id"
            ):
                new = wallet(int(row[1]), str(row[2]), bytes(row[3]))
                if new is not None:
                    await tx.execute("UPDATE wallets SET key_id = ?, encrypted_key = ? WHERE id = ?", (*new, int(row[0])))
                    keys += 1
            for row in await tx.fetch_all("SELECT user_id, key_id, pepper FROM pins ORDER BY user_id"):
                new = pin(int(row[0]), str(row[1]), bytes(row[2]) if row[2] is not None else None)
                if new is not None:
                    await tx.execute("UPDATE pins SET key_id = ?, pepper = ? WHERE user_id = ?", (*new, int(row[0])))
                    pins += 1
        return keys, pins


class SettingsRows:
    """Per-user preferences; a user without a row has the defaults."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_slippage_bps(self, user_id: int) -> int:
        row = await self._db.fetch_one("SELECT slippage_bps FROM user_settings WHERE user_id = ?", (user_id,))
        return int(row[0]) if row else DEFAULT_SLIPPAGE_BPS

    async def set_slippage_bps(self, user_id: int, bps: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO user_settings (user_id, slippage_bps) VALUES (?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET slippage_bps = excluded.slippage_bps""",
                (user_id, int(bps)),
            )

    async def get_timezone(self, user_id: int) -> str | None:
        row = await self._db.fetch_one("SELECT timezone FROM user_settings WHERE user_id = ?", (user_id,))
        return str(row[0]) if row and row[0] is not None else None

    async def zone_of(self, user_id: int) -> str:
        """The zone every time is shown in for this user: their /timezone, else UTC."""
        return await self.get_timezone(user_id) or "UTC"

    async def set_timezone(self, user_id: int, timezone: str | None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO user_settings (user_id, timezone) VALUES (?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET timezone = excluded.timezone""",
                (user_id, timezone),
            )
