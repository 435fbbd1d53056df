"""PINs that gate export and withdraw: Argon2id with a per-user salt, a lockout that grows with each miss.

A PIN is 4 to 8 digits. It is hashed with Argon2id (memory-hard) over a random per-user salt and a pepper
derived from the master key, so a copy of the database alone does not allow an offline search of the 10^4
to 10^8 possible PINs. It never derives or unlocks a key: keys are encrypted under the master key, and the
PIN only says yes or no to an action.

Five wrong tries in a row lock export and withdraw, for 1 minute; every further miss after a lock ends
locks again, longer (5 min, 30 min, 2 h, 12 h, then a day each time). A right PIN clears the count. Each try
is counted in the database before it is evaluated, by one compare-and-set that refuses it while the PIN is
locked (`Pins.take_try`): however many guesses arrive at once, from however many processes, no more than
the allowed tries are ever evaluated.

The pepper is the current master key's when the PIN is set; after a master key rotation the PIN keeps the
old pepper, sealed under the new key (`indexbot keys rotate`), so rotating never needs anyone's PIN.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from bot.core.errors import UserError
from bot.core.messages import Count
from bot.storage.wallets import PinRow, PinRows
from wallets.keystore import PEPPER, Keystore, Sealed

MIN_DIGITS, MAX_DIGITS = 4, 8
MAX_TRIES = 5
LOCK_SECONDS = (60, 300, 1800, 7200, 43200, 86400)  # after the 5th, 6th, 7th … consecutive wrong try
SALT_BYTES = 16
PENDING = b"indexbot/pending-pin/v1/user:"  # what a PIN kept between two steps of a question is sealed for


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters (OWASP's 19 MiB, 2 passes, 1 lane by default); stored with each hash."""

    memory_kib: int = 19 * 1024
    iterations: int = 2
    lanes: int = 1
    length: int = 32


def validate_pin(pin: str) -> str:
    """The PIN if it is 4–8 ASCII digits and not trivially guessable; a localized reason otherwise."""
    if not pin.isascii() or not pin.isdigit():
        raise UserError("error.pin.format", min=MIN_DIGITS, count=Count(MAX_DIGITS))
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise UserError("error.pin.length", min=MIN_DIGITS, count=Count(MAX_DIGITS))
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({0}, {1}, {9}):  # 0000, 1234, 9876, 7890
        raise UserError("error.pin.weak")
    return pin


def _hash(pin: str, salt: bytes, pepper: bytes, params: KdfParams) -> bytes:
    kdf = Argon2id(
        salt=salt, length=params.length, iterations=params.iterations, lanes=params.lanes,
        memory_cost=params.memory_kib, secret=pepper,
    )
    return kdf.derive(pin.encode())


class PinGuard:
    def __init__(
        self, pins: PinRows, keystore: Keystore, *, clock: Callable[[], float] = time.time, params: KdfParams = KdfParams()
    ) -> None:
        self._pins = pins
        self._keystore = keystore
        self._clock = clock
        self._params = params

    async def has_pin(self, user_id: int) -> bool:
        return await self._pins.get(user_id) is not None

    async def set_pin(self, user_id: int, new: str, old: str | None = None) -> None:
        """Set a first PIN (`old` None), or change it: the old PIN is checked like any other try."""
        self._keystore.require()
        validate_pin(new)
        existing = await self._pins.get(user_id)
        if existing is not None and old is None:
            raise UserError("error.pin.exists")
        if existing is None and old is not None:
            raise UserError("error.pin.not_set")
        if old is not None:
            await self._check(user_id, old)
        key_id, pepper = self._keystore.pepper()
        salt = secrets.token_bytes(SALT_BYTES)
        digest = await asyncio.to_thread(_hash, new, salt, pepper, self._params)
        params = json.dumps({"kdf": "argon2id", **asdict(self._params)}, sort_keys=True)
        if not await self._pins.put(user_id, salt, digest, params, key_id, first=old is None):
            raise UserError("error.pin.exists")  # another first PIN landed meanwhile

    def seal(self, user_id: int, pin: str) -> str:
        """A PIN typed in one step of a question, sealed under the master key for the next step (what a stored
        question keeps: never the PIN itself); `unseal` opens it for the same user only."""
        sealed = self._keystore.encrypt(user_id, pin.encode(), PENDING)
        return f"{sealed.key_id}:{base64.urlsafe_b64encode(sealed.blob).decode()}"

    def unseal(self, user_id: int, text: str) -> str:
        key_id, _, blob = text.partition(":")
        return self._keystore.decrypt(user_id, Sealed(key_id, base64.urlsafe_b64decode(blob)), PENDING).decode()

    async def check_pin(self, user_id: int, pin: str) -> None:
        """Return if `pin` is the user's PIN; otherwise raise a `UserError`: not set, locked (with the
        minutes left), or wrong (with the tries left before a lock)."""
        await self._check(user_id, pin)

    def _pepper(self, row: PinRow) -> bytes:
        """The row's pepper: derived from its master key, or sealed under it by a rotation."""
        if row.pepper is None:  # every row names its key (migration 0013); "" (none) is refused, never the current
            return self._keystore.pepper(row.key_id or "")[1]
        return self._keystore.decrypt(row.user_id, Sealed(str(row.key_id), row.pepper), PEPPER)

    async def _check(self, user_id: int, pin: str) -> None:
        row = await self._pins.get(user_id)
        if row is None:
            raise UserError("error.pin.not_set")
        now = self._clock()
        if row.locked_until > now:
            raise UserError("error.pin.locked", count=Count(_minutes(row.locked_until - now)))
        if not (pin.isascii() and pin.isdigit() and MIN_DIGITS <= len(pin) <= MAX_DIGITS):
            # no PIN has that shape: a typo (`/withdraw … 12`) costs no try, and tells a guesser nothing either
            raise UserError("error.pin.length", min=MIN_DIGITS, count=Count(MAX_DIGITS))
        self._pepper(row)  # a pepper whose master key is not loaded refuses before the try is counted
        schedule = [0] * (MAX_TRIES - 1) + list(LOCK_SECONDS)
        taken = await self._pins.take_try(user_id, schedule, int(now))
        if taken is None:  # locked meanwhile by a parallel try (or the PIN is gone)
            latest = await self._pins.get(user_id)
            if latest is None:
                raise UserError("error.pin.not_set")
            raise UserError("error.pin.locked", count=Count(_minutes(max(latest.locked_until - now, 1))))
        stored = json.loads(taken.params)
        params = KdfParams(int(stored["memory_kib"]), int(stored["iterations"]), int(stored["lanes"]), int(stored["length"]))
        pepper = self._pepper(taken)
        well_formed = pin.isascii() and pin.isdigit() and len(pin) <= MAX_DIGITS  # anything else is simply wrong
        digest = await asyncio.to_thread(_hash, pin, taken.salt, pepper, params) if well_formed else b""
        if digest and hmac.compare_digest(digest, taken.hash):
            await self._pins.reset_failures(user_id)
            return
        if taken.locked_until > now:
            raise UserError("error.pin.locked", count=Count(_minutes(taken.locked_until - now)))
        raise UserError("error.pin.wrong", count=Count(MAX_TRIES - taken.failures))


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))
