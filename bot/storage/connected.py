"""Connected wallets (wallet rows of kind 'connected'), connect links and signing links (migration 0004).

Links are looked up by the SHA-256 of their token, never by the token itself. Every state change is a
compare-and-set inside one write transaction (a conditional UPDATE whose row count says who won: PostgreSQL
re-checks its WHERE on the row's latest version, so of two processes exactly one wins): a link is used once, a
signing page is claimed by one browser, and each transaction hash is recorded once, in step order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, update

from bot.storage.db import Database
from bot.storage.schema import connect_links, intents, signing_links, users, wallets

_w = wallets.c
_LIVE_CONNECTED = (_w.kind == "connected", _w.removed_at.is_(None))


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
        address = await self._db.scalar(select(_w.address).where(_w.user_id == user_id, *_LIVE_CONNECTED))
        return str(address) if address is not None else None

    async def remove(self, user_id: int) -> str | None:
        """Unlink the live connected wallet; its address, or None when there was none."""
        async with self._db.transaction() as tx:
            address = await tx.scalar(
                update(wallets).where(_w.user_id == user_id, *_LIVE_CONNECTED)
                .values(removed_at=int(self._clock())).returning(_w.address)
            )
        return str(address) if address is not None else None


class ConnectLinkRows:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # injected by the composition root (bot.app)

    async def issue(self, token: str, user_id: int, platform: str, chat_id: str, nonce: str, ttl: int) -> None:
        now = int(self._clock())
        async with self._db.transaction() as tx:
            await tx.execute(
                tx.insert(connect_links).values(token_hash=token_hash(token), user_id=user_id, platform=platform,
                                                chat_id=chat_id, nonce=nonce, created_at=now, expires_at=now + ttl)
            )

    async def get(self, token: str) -> ConnectLinkRow | None:
        c = connect_links.c
        row = await self._db.fetch_one(
            select(c.user_id, c.platform, c.chat_id, c.nonce, c.expires_at, c.used_at).where(c.token_hash == token_hash(token))
        )
        if row is None:
            return None
        return ConnectLinkRow(int(row.user_id), str(row.platform), str(row.chat_id), str(row.nonce), int(row.expires_at),
                              row.used_at)

    async def use_and_link(self, token: str, user_id: int, address: str, now: int) -> bool:
        """Mark the link used and make `address` the user's connected wallet (retiring any other), atomically.
        False when the link was used meanwhile or has expired: nothing changes then."""
        c = connect_links.c
        async with self._db.transaction() as tx:
            # The user's row is locked first (FOR UPDATE; SQLite has one writer anyway): two links of one user used
            # at once on PostgreSQL would otherwise each retire only the wallet their statement saw, and the second
            # insert would break the one-live-connected-wallet index. Locked, the second waits and retires the
            # first one's wallet.
            await tx.lock(select(users.c.id).where(users.c.id == user_id))
            used = await tx.execute(
                update(connect_links)
                .where(c.token_hash == token_hash(token), c.user_id == user_id, c.used_at.is_(None), c.expires_at > now)
                .values(used_at=now, address=address)
            )
            if used != 1:
                return False
            await tx.execute(update(wallets).where(_w.user_id == user_id, *_LIVE_CONNECTED).values(removed_at=now))
            await tx.execute(
                tx.insert(wallets).values(user_id=user_id, kind="connected", address=address, created_at=now)
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
        s, i = signing_links.c, intents.c
        own = select(
            literal(token_hash(token), s.token_hash.type), i.id, i.user_id, literal(address, s.address.type),
            literal(chain_id, s.chain_id.type), literal(json.dumps(txs), s.txs.type), literal(now, s.created_at.type),
            literal(now + ttl, s.expires_at.type),
        ).where(i.id == intent_id, i.user_id == user_id)
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                tx.insert(signing_links).from_select(
                    [s.token_hash, s.intent_id, s.user_id, s.address, s.chain_id, s.txs, s.created_at, s.expires_at], own)
                .execution_options(preserve_rowcount=True)  # psycopg's INSERT row count, kept (else -1)
            )
        return changed == 1

    async def get(self, token: str) -> SigningLinkRow | None:
        s = signing_links.c
        row = await self._db.fetch_one(
            select(s.intent_id, s.user_id, s.address, s.chain_id, s.txs, s.session_hash, s.hashes, s.expires_at, s.used_at)
            .where(s.token_hash == token_hash(token))
        )
        if row is None:
            return None
        return SigningLinkRow(
            int(row.intent_id), int(row.user_id), str(row.address), int(row.chain_id), json.loads(row.txs),
            row.session_hash, json.loads(row.hashes), int(row.expires_at), row.used_at,
        )

    async def claim(self, token: str, session: str, now: int) -> bool:
        """The first browser to open the page owns it; False if another one did, or it expired. Claimed once: a
        conditional UPDATE on `session_hash IS NULL`, and the row count says whether this one won."""
        s = signing_links.c
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                update(signing_links)
                .where(s.token_hash == token_hash(token), s.session_hash.is_(None), s.used_at.is_(None), s.expires_at > now)
                .values(session_hash=token_hash(session))
            )
        return changed == 1

    async def replace_hash(self, token: str, before: list[str], step: int, tx_hash: str) -> bool:
        """Put `tx_hash` in place of step `step`'s (a provisional one) if the recorded ones are still `before`."""
        after = [*before[:step], tx_hash, *before[step + 1:]]
        s = signing_links.c
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                update(signing_links).where(s.token_hash == token_hash(token), s.hashes == json.dumps(before))
                .values(hashes=json.dumps(after))
            )
        return changed == 1

    async def record(self, token: str, before: list[str], tx_hash: str, total: int, now: int) -> bool:
        """Append one hash if the recorded ones are still `before`; the link is used once all `total` are in."""
        after = [*before, tx_hash]
        s = signing_links.c
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                update(signing_links)
                .where(s.token_hash == token_hash(token), s.hashes == json.dumps(before), s.used_at.is_(None))
                .values(hashes=json.dumps(after), used_at=now if len(after) >= total else None)
            )
        return changed == 1
