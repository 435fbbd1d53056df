"""Custodial wallets: keys the bot keeps for a user, encrypted at rest, decrypted only to sign or export.

`CustodialWallets` is what handlers and the trade pipeline use. It takes user ids and strings and returns
addresses, hex keys (export, PIN-checked) or an eth-account `LocalAccount` (for signing). A key never
appears in a log line, a repr or an exception message: validation errors name what is wrong, never the
value, and rows print without their ciphertext.
"""

from __future__ import annotations

import logging
import string

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bot.core.errors import UserError
from bot.core.messages import Count
from bot.storage.wallets import WalletExists, WalletRow, WalletRows
from wallets.keystore import DecryptionError, Keystore, Sealed
from wallets.pin import PinGuard

log = logging.getLogger(__name__)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY_HEX_DIGITS = 64
_HEX = frozenset(string.hexdigits)


def parse_private_key(text: str) -> bytes:
    """32 raw bytes from 64 hex digits (with or without 0x), in 1 … n-1; a localized reason otherwise."""
    digits = text.strip()
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if not digits or not set(digits) <= _HEX:
        raise UserError("error.key.format")
    if len(digits) != KEY_HEX_DIGITS:
        raise UserError("error.key.length", expected=KEY_HEX_DIGITS, count=Count(len(digits)))
    value = int(digits, 16)
    if value == 0:
        raise UserError("error.key.zero")
    if value >= SECP256K1_N:
        raise UserError("error.key.range")
    return value.to_bytes(32, "big")


class CustodialWallets:
    def __init__(self, wallets: WalletRows, keystore: Keystore, pins: PinGuard) -> None:
        self._wallets = wallets
        self._keystore = keystore
        self._pins = pins

    async def live(self, user_id: int) -> WalletRow | None:
        """The user's custodial wallet row in use now (its id is what intents reference)."""
        return await self._wallets.live(user_id, "custodial")

    async def address_of(self, user_id: int) -> str | None:
        row = await self.live(user_id)
        return row.address if row else None

    async def create(self, user_id: int) -> str:
        """A fresh key for a user who has no custodial wallet yet; returns its checksummed address."""
        self._keystore.require()
        return await self._store(user_id, bytes(Account.create().key))

    async def import_key(self, user_id: int, hex_key: str) -> str:
        """Keep a key the user brings (validated first); returns its checksummed address."""
        self._keystore.require()
        return await self._store(user_id, parse_private_key(hex_key))

    async def ready(self, user_id: int) -> None:
        """Refuse a wallet that may not trade or export yet: none, its key not loaded, or no PIN set (a
        custodial wallet gets its PIN as part of its creation or import)."""
        self._keystore.require()
        row = await self._require_wallet(user_id)
        self._keystore.require_key(row.key_id)
        if not await self._pins.has_pin(user_id):
            raise UserError("error.pin.required")

    async def export(self, user_id: int, pin: str) -> str:
        """The wallet's private key as 0x-prefixed hex, after the PIN check."""
        await self.ready(user_id)
        row = await self._require_wallet(user_id)
        await self._pins.check_pin(user_id, pin)
        return "0x" + self._decrypt(row).hex()

    async def remove(self, user_id: int, pin: str) -> str:
        """Retire the live wallet after the PIN check (the row and its encrypted key are kept); returns its
        address. A new wallet can then be created or imported."""
        self._keystore.require()
        row = await self._require_wallet(user_id)
        await self._pins.check_pin(user_id, pin)
        await self._wallets.remove(user_id, "custodial")
        return row.address

    async def account(self, user_id: int) -> LocalAccount:
        """The signer of the user's custodial wallet, decrypted now, for the caller to sign with and drop."""
        self._keystore.require()
        row = await self._require_wallet(user_id)
        acct: LocalAccount = Account.from_key(self._decrypt(row))
        if acct.address != row.address:
            raise RuntimeError(f"custodial wallet {row.id} decrypts to a different address")
        return acct

    async def _store(self, user_id: int, key: bytes) -> str:
        address = str(Account.from_key(key).address)
        sealed = self._keystore.encrypt(user_id, key)
        try:
            await self._wallets.add_custodial(user_id, address, sealed.blob, sealed.key_id)
        except WalletExists as exc:
            raise UserError("error.wallet.exists", address=exc.address) from None
        log.info("custodial wallet %s stored for user %s", address, user_id)
        return address

    async def _require_wallet(self, user_id: int) -> WalletRow:
        row = await self.live(user_id)
        if row is None or row.encrypted_key is None or row.key_id is None:
            raise UserError("error.wallet.none")
        return row

    def _decrypt(self, row: WalletRow) -> bytes:
        assert row.encrypted_key is not None and row.key_id is not None
        try:
            return self._keystore.decrypt(row.user_id, Sealed(row.key_id, row.encrypted_key))
        except DecryptionError as exc:
            log.error("custodial wallet %s of user %s: %s", row.id, row.user_id, exc)
            raise UserError("error.wallet.key_unavailable") from None
