"""Master key rotation: what the stored secrets need at start-up, and re-sealing them under the current key.

An operator rotates by making the new key INDEXBOT_MASTER_KEY and the old one INDEXBOT_MASTER_KEY_PREVIOUS:
the bot starts and opens both. `indexbot keys rotate` then re-seals every custodial key (removed wallets'
too) and every PIN's pepper under the current key, in one transaction, after which the old key can go.
The bot refuses to start while any stored secret names a key it has not loaded (`unreadable`), so a lost
key is found at start-up, not by a user at Confirm. Nothing here ever shows a secret; key ids are hash
prefixes (wallets.keystore) and safe to print.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import UserError
from bot.storage.wallets import SealedKeyRows
from wallets.keystore import PEPPER, DecryptionError, Keystore, Sealed


@dataclass(frozen=True)
class Unreadable:
    """Stored secrets whose master key is not loaded: custodial keys (all, of live wallets) and PINs."""

    key_ids: tuple[str, ...]
    wallets: int
    live: int
    pins: int
    no_key: bool = False  # no master key is configured at all

    def message(self) -> str:
        """For the operator (the CLI prints it): how many, which key ids, and what to do."""
        if self.no_key:
            return (f"INDEXBOT_MASTER_KEY is not set, but {self.wallets} custodial wallet(s) ({self.live} in use) and "
                    f"{self.pins} PIN(s) are stored under master key id {', '.join(self.key_ids)}: refusing to start. "
                    "Set INDEXBOT_MASTER_KEY (or INDEXBOT_MASTER_KEY_FILE) to that key. Nothing was changed.")
        return (
            f"{self.wallets} custodial wallet(s) ({self.live} in use) and {self.pins} PIN(s) were sealed under a master "
            f"key that is not loaded (key id {', '.join(self.key_ids)}), so they cannot be opened: refusing to start. "
            "Set INDEXBOT_MASTER_KEY_PREVIOUS (or INDEXBOT_MASTER_KEY_PREVIOUS_FILE) to the master key they were made "
            "under, keeping the new one in INDEXBOT_MASTER_KEY, then run `indexbot keys rotate`. Nothing was changed."
        )


@dataclass(frozen=True)
class Rotated:
    key_id: str
    wallets: int  # custodial keys re-sealed
    pins: int  # PIN peppers re-sealed


class RotationFailed(RuntimeError):
    """A stored secret did not open: nothing was re-sealed."""


async def unreadable(keys: SealedKeyRows, keystore: Keystore) -> Unreadable | None:
    """What the start-up refuses for: stored secrets no loaded master key opens. None when all open."""
    census = await keys.census()
    lost_wallets = {k: n for k, n in census.wallets.items() if not keystore.has(k)}
    lost_pins = {k: n for k, n in census.pins.items() if not keystore.has(k)}
    if not lost_wallets and not lost_pins:
        return None
    return Unreadable(
        tuple(sorted(set(lost_wallets) | set(lost_pins))),
        sum(total for total, _ in lost_wallets.values()), sum(live for _, live in lost_wallets.values()),
        sum(lost_pins.values()), no_key=not keystore.available,
    )


async def rotate(keys: SealedKeyRows, keystore: Keystore) -> Rotated:
    """Re-seal under the current master key every secret sealed under another; idempotent (a second run
    changes nothing), all or nothing (`RotationFailed` names what did not open)."""
    keystore.require()
    current = keystore.current_id
    assert current is not None
    missing = await unreadable(keys, keystore)
    if missing is not None:
        raise RotationFailed(missing.message())

    def wallet(user_id: int, key_id: str, blob: bytes) -> tuple[str, bytes] | None:
        try:
            new = keystore.reseal(user_id, Sealed(key_id, blob))
        except (DecryptionError, UserError):
            raise RotationFailed(f"the custodial key of user {user_id} does not open under master key id {key_id} "
                                 "(tampered, or copied from another user): nothing was changed") from None
        return (new.key_id, new.blob) if new is not None else None

    def pin(user_id: int, key_id: str, sealed: bytes | None) -> tuple[str, bytes] | None:
        if key_id == current:
            return None
        try:
            pepper = keystore.pepper(key_id)[1] if sealed is None else keystore.decrypt(user_id, Sealed(key_id, sealed), PEPPER)
        except (DecryptionError, UserError):
            raise RotationFailed(f"the PIN of user {user_id} does not open under master key id {key_id}: "
                                 "nothing was changed") from None
        new = keystore.encrypt(user_id, pepper, PEPPER)
        return new.key_id, new.blob

    wallets, pins = await keys.reseal(wallet, pin)
    return Rotated(current, wallets, pins)
