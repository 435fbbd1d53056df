"""Wallet, PIN and user-setting rows (migration 0002). No SQL lives anywhere else.

Wallet rows are never deleted: replacing or removing a wallet stamps `removed_at`, and a partial unique
index keeps at most one live wallet of each kind per user.
"""

from __future__ import annotations

import time
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


_WALLET_COLUMNS = "id, user_id, kind, address, encrypted_key, key_id, created_at, removed_at"


def _wallet(row: aiosqlite.Row) -> WalletRow:
    blob = row[4]
    return WalletRow(
        int(row[0]), int(row[1]), row[2], str(row[3]), bytes(blob) if blob is not None else None,
        row[5], int(row[6]), int(row[7]) if row[7] is not None else None,
    )


class Wallets:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        now = int(time.time())
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
                (int(time.time()), user_id, kind),
            )
        return _wallet(row) if row else None


class Pins:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: int) -> PinRow | None:
        row = await self._db.fetch_one(
            "SELECT user_id, salt, hash, params, failures, locked_until FROM pins WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return None
        return PinRow(int(row[0]), bytes(row[1]), bytes(row[2]), str(row[3]), int(row[4]), int(row[5]))

    async def put(self, user_id: int, salt: bytes, hash_: bytes, params: str) -> None:
        """Set or replace the PIN; the failure count and any lock are cleared."""
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO pins (user_id, salt, hash, params, failures, locked_until) VALUES (?, ?, ?, ?, 0, 0)
                   ON CONFLICT (user_id) DO UPDATE SET salt = excluded.salt, hash = excluded.hash,
                   params = excluded.params, failures = 0, locked_until = 0""",
                (user_id, salt, hash_, params),
            )

    async def record_failure(self, user_id: int, lock_for: list[int], now: int) -> tuple[int, int]:
        """Count one wrong try; `lock_for[n]` is the lock in seconds after n+1 failures (0: no lock).
        Returns (failures, locked_until)."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE pins SET failures = failures + 1 WHERE user_id = ? RETURNING failures", (user_id,)
            )
            if row is None:
                return 0, 0
            failures = int(row[0])
            seconds = lock_for[min(failures, len(lock_for)) - 1] if lock_for else 0
            locked_until = now + seconds if seconds else 0
            await tx.execute("UPDATE pins SET locked_until = ? WHERE user_id = ?", (locked_until, user_id))
        return failures, locked_until

    async def reset_failures(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE pins SET failures = 0, locked_until = 0 WHERE user_id = ?", (user_id,))


class Settings:
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
