"""Connected wallets (wallet rows of kind 'connected'), connect links and signing links (migration 0004).

Links are looked up by the SHA-256 of their token, never by the token itself. Every state change is a
compare-and-set inside one write transaction: a link is used once, a signing page is claimed by one browser,
and each transaction hash is recorded once, in step order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.storage.db import Database


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ConnectLinkRow:
    user_id: int
    platform: str
    chat_id: str
    nonce: str
    expires_at: int
    used_at: int | None


@dataclass(frozen=True)
class SigningLinkRow:
    intent_id: int
    user_id: int
    address: str
    chain_id: int
    txs: list[dict[str, Any]]
    session_hash: str | None
    hashes: list[str]
    expires_at: int
    used_at: int | None


class ConnectedAddressRows:
    """The user's live connected wallet (at most one; replaced or removed rows are kept with removed_at)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def live(self, user_id: int) -> str | None:
        row = await self._db.fetch_one(
            "SELECT address FROM wallets WHERE user_id = ? AND kind = 'connected' AND removed_at IS NULL", (user_id,)
        )
        return str(row[0]) if row else None

    async def remove(self, user_id: int) -> str | None:
        """Unlink the live connected wallet; its address, or None when there was none."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                """UPDATE wallets SET removed_at = ? WHERE user_id = ? AND kind = 'connected' AND removed_at IS NULL
                   RETURNING address""",
                (int(self._clock()), user_id),
            )
        return str(row[0]) if row else None


class ConnectLinkRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def issue(self, token: str, user_id: int, platform: str, chat_id: str, nonce: str, ttl: int) -> None:
        now = int(self._clock())
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO connect_links (token_hash, user_id, platform, chat_id, nonce, created_at, expires_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (token_hash(token), user_id, platform, chat_id, nonce, now, now + ttl),
            )

    async def get(self, token: str) -> ConnectLinkRow | None:
        row = await self._db.fetch_one(
            "SELECT user_id, platform, chat_id, nonce, expires_at, used_at FROM connect_links WHERE token_hash = ?",
            (token_hash(token),),
        )
        if row is None:
            return None
        return ConnectLinkRow(int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), row[5])

    async def use_and_link(self, token: str, user_id: int, address: str, now: int) -> bool:
        """Mark the link used and make `address` the user's connected wallet (retiring any other), atomically.
        False when the link was used meanwhile or has expired: nothing changes then."""
        async with self._db.transaction() as tx:
            used = await tx.execute(
                """UPDATE connect_links SET used_at = ?, address = ?
                   WHERE token_hash = ? AND user_id = ? AND used_at IS NULL AND expires_at > ?""",
                (now, address, token_hash(token), user_id, now),
            )
            if used != 1:
                return False
            await tx.execute(
                "UPDATE wallets SET removed_at = ? WHERE user_id = ? AND kind = 'connected' AND removed_at IS NULL",
                (now, user_id),
            )
            await tx.execute(
                "INSERT INTO wallets (user_id, kind, address, created_at) VALUES (?, 'connected', ?, ?)",
                (user_id, address, now),
            )
        return True


class SigningLinkRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def issue(
        self, token: str, intent_id: int, user_id: int, address: str, chain_id: int, txs: list[dict[str, Any]], ttl: int
    ) -> bool:
        """Store a signing link for the user's own intent; False (nothing stored) when the intent is not theirs."""
        now = int(self._clock())
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                """INSERT INTO signing_links (token_hash, intent_id, user_id, address, chain_id, txs, created_at, expires_at)
                   SELECT ?, id, user_id, ?, ?, ?, ?, ? FROM intents WHERE id = ? AND user_id = ?""",
                (token_hash(token), address, chain_id, json.dumps(txs), now, now + ttl, intent_id, user_id),
            )
        return changed == 1

    async def get(self, token: str) -> SigningLinkRow | None:
        row = await self._db.fetch_one(
            """SELECT intent_id, user_id, address, chain_id, txs, session_hash, hashes, expires_at, used_at
               FROM signing_links WHERE token_hash = ?""",
            (token_hash(token),),
        )
        if row is None:
            return None
        return SigningLinkRow(
            int(row[0]), int(row[1]), str(row[2]), int(row[3]), json.loads(row[4]), row[5], json.loads(row[6]),
            int(row[7]), row[8],
        )

    async def claim(self, token: str, session: str, now: int) -> bool:
        """The first browser to open the page owns it; False if another one did, or it expired."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                """UPDATE signing_links SET session_hash = ?
                   WHERE token_hash = ? AND session_hash IS NULL AND used_at IS NULL AND expires_at > ?""",
                (token_hash(session), token_hash(token), now),
            )
        return changed == 1

    async def replace_hash(self, token: str, before: list[str], step: int, tx_hash: str) -> bool:
        """Put `tx_hash` in place of step `step`'s (a provisional one) if the recorded ones are still `before`."""
        after = [*before[:step], tx_hash, *before[step + 1:]]
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE signing_links SET hashes = ? WHERE token_hash = ? AND hashes = ?",
                (json.dumps(after), token_hash(token), json.dumps(before)),
            )
        return changed == 1

    async def record(self, token: str, before: list[str], tx_hash: str, total: int, now: int) -> bool:
        """Append one hash if the recorded ones are still `before`; the link is used once all `total` are in."""
        after = [*before, tx_hash]
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                """UPDATE signing_links SET hashes = ?, used_at = CASE WHEN ? >= ? THEN ? ELSE NULL END
                   WHERE token_hash = ? AND hashes = ? AND used_at IS NULL""",
                (json.dumps(after), len(after), total, now, token_hash(token), json.dumps(before)),
            )
        return changed == 1
