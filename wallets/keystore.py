"""Private keys encrypted at rest: AES-256-GCM under a master key that lives only in the environment.

Each encryption draws a fresh random 12-byte nonce and binds the owner's user id as associated data, so a
ciphertext copied onto another user's row does not decrypt. The stored blob is `nonce || ciphertext+tag`,
next to the key id (a hash prefix of the master key) that encrypted it: after a rotation the old key can
still be offered for decryption while the new one encrypts.

The master key comes from `INDEXBOT_MASTER_KEY` (base64 of 32 bytes) or a file `INDEXBOT_MASTER_KEY_FILE`
names (bot.config), never from the database or a log; previous ones from `INDEXBOT_MASTER_KEY_PREVIOUS[_FILE]`,
so what they sealed still opens until `indexbot keys rotate` (wallets.rotation) re-seals it under the current
one. Without a master key, every custodial operation is refused with a localized `UserError`; a ciphertext
whose key id is not loaded is refused with another (`error.wallet.key_not_loaded`), and the operator is told
in the log. The devnet creates its own key file (`load_or_create_key_file`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.core.errors import UserError

KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"indexbot/wallet-key/v1/user:"
PEPPER = b"indexbot/pin-pepper/v1/user:"  # what a PIN's pepper is sealed for, once a rotation carries it over
NOT_LOADED = "error.wallet.key_not_loaded"

log = logging.getLogger(__name__)


class MasterKeyError(ValueError):
    """The configured master key is malformed (never says what it was)."""


class DecryptionError(Exception):
    """A stored key did not decrypt: wrong owner, tampered bytes, or a master key we do not hold."""


class MasterKey:
    """32 secret bytes that never print."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes")
        self._key = key
        self.key_id = hashlib.sha256(b"indexbot/master-key-id/" + key).hexdigest()[:16]

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError("the master key is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be base64 of exactly {KEY_BYTES} bytes")
        return cls(raw)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def derive(self, purpose: bytes) -> bytes:
        """A sub-key for another purpose (the PIN pepper), so the master key itself is used only by AES-GCM."""
        return hmac.new(self._key, b"indexbot/" + purpose, hashlib.sha256).digest()

    def to_base64(self) -> str:
        return base64.b64encode(self._key).decode()

    def cipher(self) -> AESGCM:
        return AESGCM(self._key)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Sealed:
    """An encrypted key as stored: which master key, and nonce || ciphertext."""

    key_id: str
    blob: bytes

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, {len(self.blob)} bytes)"


def _aad(user_id: int, purpose: bytes = _AAD_PREFIX) -> bytes:
    return purpose + str(int(user_id)).encode()


class Keystore:
    """Encrypts with the first master key (the current one); decrypts with whichever key id a ciphertext
    names, among the current and the previous ones."""

    def __init__(self, keys: Sequence[MasterKey] = ()) -> None:
        self._keys = {k.key_id: k for k in keys}
        self._current = keys[0] if keys else None

    @property
    def available(self) -> bool:
        return self._current is not None

    @property
    def current_id(self) -> str | None:
        return self._current.key_id if self._current is not None else None

    def has(self, key_id: str | None) -> bool:
        """Whether what key `key_id` sealed can be opened here."""
        return key_id is not None and key_id in self._keys

    def require(self) -> None:
        """Refuse custodial operations when no master key is configured."""
        if self._current is None:
            raise UserError("error.wallet.no_master_key")

    def require_key(self, key_id: str | None) -> MasterKey:
        """The loaded master key `key_id` names; a localized refusal (and a line for the operator) if none."""
        self.require()
        key = self._keys.get(key_id) if key_id is not None else None
        if key is None:
            log.error("a stored secret needs master key id %s, which is not loaded: set INDEXBOT_MASTER_KEY_PREVIOUS "
                      "to the master key it was made under, then run `indexbot keys rotate`", key_id)
            raise UserError(NOT_LOADED)
        return key

    def encrypt(self, user_id: int, secret: bytes, purpose: bytes = _AAD_PREFIX) -> Sealed:
        self.require()
        assert self._current is not None
        nonce = secrets.token_bytes(NONCE_BYTES)
        return Sealed(self._current.key_id, nonce + self._current.cipher().encrypt(nonce, secret, _aad(user_id, purpose)))

    def decrypt(self, user_id: int, sealed: Sealed, purpose: bytes = _AAD_PREFIX) -> bytes:
        """The secret; `UserError(NOT_LOADED)` when its master key is not loaded, `DecryptionError` when it
        does not open under it (another user's row, tampered bytes)."""
        key = self.require_key(sealed.key_id)
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return key.cipher().decrypt(nonce, body, _aad(user_id, purpose))
        except InvalidTag:
            raise DecryptionError(f"the stored key of user {user_id} does not decrypt") from None

    def reseal(self, user_id: int, sealed: Sealed, purpose: bytes = _AAD_PREFIX) -> Sealed | None:
        """`sealed` sealed again under the current master key; None when it already is."""
        if sealed.key_id == self.current_id:
            return None
        return self.encrypt(user_id, self.decrypt(user_id, sealed, purpose), purpose)

    def pepper(self, key_id: str | None = None) -> tuple[str, bytes]:
        """(key id, secret) mixed into PIN hashes, so a copy of the database alone cannot brute-force a
        4-digit PIN offline. `key_id=None`: the current master key's."""
        self.require()
        key = self._current if key_id is None else self.require_key(key_id)
        assert key is not None
        return key.key_id, key.derive(b"pin-pepper")


def load_or_create_key_file(path: Path) -> MasterKey:
    """The devnet's own master key: read from `path`, or created there (mode 0600) on first use."""
    if path.exists():
        return MasterKey.from_base64(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = MasterKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it a moment ago
        return MasterKey.from_base64(path.read_text())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.to_base64() + "\n")
    return key
