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
from bot.storage.points import PointRows

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
        self._rows = PointRows(db, clock)

    async def code_of(self, user_id: int) -> str:
        """The user's invite code, made the first time it is asked for."""
        code = await self._rows.code_of(user_id)
        while code is None:  # a clash with another user's code tries another
            code = await self._rows.add_code(user_id, "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
        return code

    async def start(self, user_id: int, code_text: str | None, now: int | None = None) -> Joined | None:
        """Record the user's first /start, with the referrer `code_text` names; None when there is no code
        and this is the first start. A later /start never changes anything."""
        now = int(self._clock()) if now is None else now
        code = code_from(code_text) if code_text else None
        outcome = await self._rows.start(user_id, code, now)
        if not code_text:
            return None
        if outcome == "already_started":
            return outcome
        if code is None:
            return "malformed"
        assert outcome != "first"
        return outcome

    async def referrer_of(self, user_id: int) -> int | None:
        return await self._rows.referrer_of(user_id)
