"""Invite codes and who invited whom.

Every user has one code (made on first ask), the same on Telegram and Discord. A user's referrer is fixed by
their first /start and never changes; a code of their own, of someone they invited (directly or down the
chain: a cycle), or an unknown or malformed one is refused with a reason the handler words politely. Whether an
invitee counts (a qualifying holding, no wallet shared up the chain) is settled by the daily credit
(`bot.points.ledger`).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Literal

from bot.storage.db import Database

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from a screenshot
CODE_LENGTH = 8
CODE_SHAPE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
START_PREFIX = "ref_"  # Telegram deep link: /start ref_<code>

Joined = Literal["joined", "already_started", "unknown", "self", "cycle", "malformed"]


def code_from(text: str) -> str | None:
    """The code in `ref_<code>` or a bare code, normalized; None when it is not one's shape."""
    raw = text.strip()
    if raw.lower().startswith(START_PREFIX):
        raw = raw[len(START_PREFIX):]
    raw = raw.upper()
    return raw if CODE_SHAPE.match(raw) else None


class Referrals:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._db = db

    async def code_of(self, user_id: int) -> str:
        """The user's invite code, made the first time it is asked for."""
        row = await self._db.fetch_one("SELECT code FROM referral_codes WHERE user_id = ?", (user_id,))
        if row:
            return str(row[0])
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            async with self._db.transaction() as tx:
                await tx.execute("INSERT OR IGNORE INTO referral_codes (user_id, code) VALUES (?, ?)", (user_id, code))
                mine = await tx.fetch_one("SELECT code FROM referral_codes WHERE user_id = ?", (user_id,))
            if mine:  # ours, or one a concurrent call made first; a clash with another user's code retries
                return str(mine[0])

    async def start(self, user_id: int, code_text: str | None, now: int | None = None) -> Joined | None:
        """Record the user's first /start, with the referrer `code_text` names; None when there is no code
        and this is the first start. A later /start never changes anything."""
        now = int(self._clock()) if now is None else now
        code = code_from(code_text) if code_text else None
        async with self._db.transaction() as tx:
            first = await tx.execute("UPDATE users SET started_at = ? WHERE id = ? AND started_at IS NULL", (now, user_id))
            if not code_text:
                return None
            if not first:
                return "already_started"
            if code is None:
                return "malformed"
            row = await tx.fetch_one("SELECT user_id FROM referral_codes WHERE code = ?", (code,))
            if row is None:
                return "unknown"
            referrer = int(row[0])
            if referrer == user_id:
                return "self"
            chain = await tx.fetch_one(
                """WITH RECURSIVE up (id, depth) AS (
                     SELECT ?, 0 UNION ALL
                     SELECT r.referrer_id, up.depth + 1 FROM up JOIN referrals r ON r.invitee_id = up.id WHERE up.depth < 64)
                   SELECT 1 FROM up WHERE id = ? LIMIT 1""",
                (referrer, user_id),
            )
            if chain is not None:
                return "cycle"
            await tx.execute("INSERT OR IGNORE INTO referrals (invitee_id, referrer_id, joined_at) VALUES (?, ?, ?)",
                             (user_id, referrer, now))
            return "joined"

    async def referrer_of(self, user_id: int) -> int | None:
        row = await self._db.fetch_one("SELECT referrer_id FROM referrals WHERE invitee_id = ?", (user_id,))
        return int(row[0]) if row else None
