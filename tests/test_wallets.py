"""The wallet core on a real SQLite file: key encryption at rest, PINs with lockout, key validation, rows."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from bot.config import ConfigError, load_config
from bot.core.errors import UserError
from bot.core.messages import Count
from bot.storage.db import Database
from bot.storage.repositories import UserRows
from bot.storage.wallets import DEFAULT_SLIPPAGE_BPS, PinRows, SettingsRows, WalletRows
from wallets.custodial import SECP256K1_N, CustodialWallets, parse_private_key
from wallets.keystore import DecryptionError, Keystore, MasterKey, MasterKeyError, Sealed, load_or_create_key_file
from wallets.pin import LOCK_SECONDS, MAX_TRIES, PinGuard, validate_pin
from auxil.clock import Clock

SECRET = bytes(range(1, 33))


async def user(db: Database, name: str = "u1") -> int:
    return (await UserRows(db).seen("console", name)).id


# -- keystore ------------------------------------------------------------------------------------------


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    store = Keystore([MasterKey.generate()])
    a, b = store.encrypt(7, SECRET), store.encrypt(7, SECRET)
    assert a.blob != b.blob and a.blob[:12] != b.blob[:12]  # a new random nonce per encryption
    assert SECRET not in a.blob
    assert store.decrypt(7, a) == SECRET == store.decrypt(7, b)


def test_another_users_id_does_not_decrypt() -> None:
    store = Keystore([MasterKey.generate()])
    sealed = store.encrypt(7, SECRET)
    with pytest.raises(DecryptionError):
        store.decrypt(8, sealed)


@pytest.mark.parametrize("position", [0, 11, 12, 30, -1])  # nonce, ciphertext, tag
def test_tampered_ciphertext_does_not_decrypt(position: int) -> None:
    store = Keystore([MasterKey.generate()])
    sealed = store.encrypt(7, SECRET)
    blob = bytearray(sealed.blob)
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        store.decrypt(7, Sealed(sealed.key_id, bytes(blob)))


def test_rotation_decrypts_with_the_key_the_ciphertext_names() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed = Keystore([old]).encrypt(7, SECRET)
    assert sealed.key_id == old.key_id != new.key_id
    assert Keystore([new, old]).decrypt(7, sealed) == SECRET
    assert Keystore([new, old]).encrypt(7, SECRET).key_id == new.key_id
    with pytest.raises(UserError, match="error.wallet.key_not_loaded"):  # a localized refusal, not "went wrong"
        Keystore([new]).decrypt(7, sealed)
    resealed = Keystore([new, old]).reseal(7, sealed)
    assert resealed is not None and resealed.key_id == new.key_id and Keystore([new]).decrypt(7, resealed) == SECRET
    assert Keystore([new, old]).reseal(7, resealed) is None  # already under the current key


def test_without_a_master_key_custodial_operations_are_refused() -> None:
    store = Keystore([])
    for attempt in (lambda: store.encrypt(1, SECRET), lambda: store.decrypt(1, Sealed("x", b"0" * 40)), store.pepper):
        with pytest.raises(UserError) as err:
            attempt()
        assert err.value.key == "error.wallet.no_master_key"


def test_master_key_never_prints_and_is_validated() -> None:
    key = MasterKey.generate()
    b64 = key.to_base64()
    assert b64 not in repr(key) and b64 not in str(key) and key.key_id in repr(key)
    assert MasterKey.from_base64(b64).key_id == key.key_id
    for bad in ("not base64!", "QUJD", "A" * 44):
        with pytest.raises(MasterKeyError) as err:
            MasterKey.from_base64(bad)
        assert bad not in str(err.value)


def test_master_key_comes_from_the_environment_or_a_file_and_is_redacted(tmp_path: Path) -> None:
    b64 = MasterKey.generate().to_base64()
    config = load_config({"INDEXBOT_MASTER_KEY": b64})
    assert config.master_key is not None and config.master_key.reveal() == b64
    assert b64 not in json.dumps(config.redacted(), default=str) and b64 not in repr(config)
    assert b64 in config.secrets  # handed to the log filter
    (tmp_path / "mk").write_text(b64 + "\n")
    from_file = load_config({"INDEXBOT_MASTER_KEY_FILE": str(tmp_path / "mk")}).master_key
    assert from_file is not None and from_file.reveal() == b64
    with pytest.raises(ConfigError) as err:
        load_config({"INDEXBOT_MASTER_KEY": "c2hvcnQ="})
    assert "c2hvcnQ=" not in str(err.value)
    (tmp_path / "c.toml").write_text(f'master_key = "{b64}"\n')
    with pytest.raises(ConfigError, match="secrets do not belong"):
        load_config({"INDEXBOT_CONFIG": str(tmp_path / "c.toml")})


def test_devnet_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "devnet" / "master.key"
    first = load_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(path).key_id == first.key_id


# -- PIN -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pin", "key"),
    [("12a4", "error.pin.format"), ("", "error.pin.format"), ("１２３５", "error.pin.format"), ("-135", "error.pin.format"),
     ("135", "error.pin.length"), ("135792468", "error.pin.length"), ("0000", "error.pin.weak"), ("1234", "error.pin.weak"),
     ("8765", "error.pin.weak"), ("78901", "error.pin.weak")],
)
def test_pin_validation_gives_a_reason(pin: str, key: str) -> None:
    with pytest.raises(UserError) as err:
        validate_pin(pin)
    assert err.value.key == key


def test_good_pins_pass() -> None:
    for pin in ("1357", "2468", "90210", "31415926"):
        assert validate_pin(pin) == pin


async def test_pin_is_hashed_with_argon2id_a_per_user_salt_and_a_pepper(db: Database) -> None:
    store = Keystore([MasterKey.generate()])
    guard = PinGuard(PinRows(db), store)
    a, b = await user(db, "a"), await user(db, "b")
    await guard.set_pin(a, "1357")
    await guard.set_pin(b, "1357")
    row_a, row_b = await PinRows(db).get(a), await PinRows(db).get(b)
    assert row_a is not None and row_b is not None
    assert row_a.salt != row_b.salt and row_a.hash != row_b.hash and b"1357" not in row_a.hash
    params = json.loads(row_a.params)
    assert params["kdf"] == "argon2id" and params["memory_kib"] >= 19 * 1024
    await guard.check_pin(a, "1357")
    # the same database under another master key cannot check it: the PIN alone is not enough (and the try
    # is not counted against the user: the operator has to load the key)
    with pytest.raises(UserError, match="error.wallet.key_not_loaded"):
        await PinGuard(PinRows(db), Keystore([MasterKey.generate()])).check_pin(a, "1357")
    row_a = await PinRows(db).get(a)
    assert row_a is not None and row_a.failures == 0


async def test_five_wrong_tries_lock_with_growing_delays_and_a_right_pin_resets(db: Database) -> None:
    clock = Clock()
    guard = PinGuard(PinRows(db), Keystore([MasterKey.generate()]), clock=clock)
    uid = await user(db)
    await guard.set_pin(uid, "1357")

    async def refused(pin: str) -> UserError:
        with pytest.raises(UserError) as err:
            await guard.check_pin(uid, pin)
        return err.value

    for left in range(MAX_TRIES - 1, 0, -1):
        err = await refused("2468")
        assert (err.key, err.params["count"]) == ("error.pin.wrong", Count(left))
    err = await refused("2468")  # the fifth
    assert (err.key, err.params["count"]) == ("error.pin.locked", Count(LOCK_SECONDS[0] // 60))
    err = await refused("1357")  # even the right PIN while locked
    assert err.key == "error.pin.locked"
    clock.now += LOCK_SECONDS[0] + 1
    err = await refused("2468")  # one more miss after the lock: locked again, longer
    assert (err.key, err.params["count"]) == ("error.pin.locked", Count(LOCK_SECONDS[1] // 60))
    clock.now += LOCK_SECONDS[1] - 60
    assert (await refused("1357")).params["count"] == Count(1)
    clock.now += 61
    err = await refused("2468")
    assert err.params["count"] == Count(LOCK_SECONDS[2] // 60)
    clock.now += LOCK_SECONDS[2] + 1
    await guard.check_pin(uid, "1357")  # right: unlocked and the count is cleared
    row = await PinRows(db).get(uid)
    assert row is not None and (row.failures, row.locked_until) == (0, 0)
    assert (await refused("2468")).params["count"] == Count(MAX_TRIES - 1)


@pytest.mark.parametrize("typed", ["12", "123456789", "12a4", "١٢٣٤", ""])
async def test_a_word_no_pin_could_be_is_refused_without_costing_a_try(db: Database, typed: str) -> None:
    """`/withdraw USDC 10 0x… 12`: said to be no PIN (4 to 8 digits), no try taken; a real miss still counts."""
    guard = PinGuard(PinRows(db), Keystore([MasterKey.generate()]))
    uid = await user(db)
    await guard.set_pin(uid, "1357")
    with pytest.raises(UserError) as err:
        await guard.check_pin(uid, typed)
    assert err.value.key == "error.pin.length"
    row = await PinRows(db).get(uid)
    assert row is not None and row.failures == 0
    with pytest.raises(UserError) as err:
        await guard.check_pin(uid, "2468")
    assert (err.value.key, err.value.params["count"]) == ("error.pin.wrong", Count(MAX_TRIES - 1))


async def test_parallel_guesses_cannot_outrun_the_lock(db: Database) -> None:
    guard = PinGuard(PinRows(db), Keystore([MasterKey.generate()]))
    uid = await user(db)
    await guard.set_pin(uid, "1357")
    guesses = [f"{n:04d}" for n in range(2000, 2020)]
    results = await asyncio.gather(*(guard.check_pin(uid, g) for g in guesses), return_exceptions=True)
    keys = [r.key for r in results if isinstance(r, UserError)]
    assert len(keys) == len(guesses)
    assert keys.count("error.pin.wrong") == MAX_TRIES - 1
    assert keys.count("error.pin.locked") == len(guesses) - (MAX_TRIES - 1)
    row = await PinRows(db).get(uid)
    assert row is not None and row.failures == MAX_TRIES


class CountingHash:
    """wallets.pin's Argon2id, counted: how many PIN guesses were really evaluated."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import wallets.pin

        self.calls = 0
        self._real = wallets.pin._hash
        monkeypatch.setattr(wallets.pin, "_hash", self)

    def __call__(self, *args: Any) -> bytes:
        self.calls += 1
        return self._real(*args)


async def test_twenty_parallel_guesses_are_evaluated_at_most_the_allowed_tries(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = PinGuard(PinRows(db), Keystore([MasterKey.generate()]))
    uid = await user(db)
    await guard.set_pin(uid, "1357")
    argon2 = CountingHash(monkeypatch)
    results = await asyncio.gather(*(guard.check_pin(uid, f"{n:04d}") for n in range(2000, 2020)), return_exceptions=True)
    assert argon2.calls == MAX_TRIES
    assert all(isinstance(r, UserError) for r in results)
    row = await PinRows(db).get(uid)
    assert row is not None and row.failures == MAX_TRIES and row.locked_until > 0
    with pytest.raises(UserError, match="error.pin.locked"):
        await guard.check_pin(uid, "1357")  # the right PIN while locked: refused, and not evaluated
    assert argon2.calls == MAX_TRIES


async def test_guesses_from_two_processes_share_one_count(db: Database, other: Database,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stores on one database (a SQLite file, a PostgreSQL database), each with its own connections, stand for
    two processes of the bot."""
    key = MasterKey.generate()
    guards = [PinGuard(PinRows(db), Keystore([key])), PinGuard(PinRows(other), Keystore([key]))]
    uid = await user(db)
    await guards[0].set_pin(uid, "1357")
    argon2 = CountingHash(monkeypatch)
    tries = [guards[n % 2].check_pin(uid, f"{2000 + n:04d}") for n in range(20)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert argon2.calls == MAX_TRIES
    keys = [r.key for r in results if isinstance(r, UserError)]
    assert len(keys) == 20 and keys.count("error.pin.wrong") == MAX_TRIES - 1
    row = await PinRows(other).get(uid)
    assert row is not None and row.failures == MAX_TRIES and row.locked_until > 0
    for guard in guards:
        with pytest.raises(UserError, match="error.pin.locked"):
            await guard.check_pin(uid, "1357")
    assert argon2.calls == MAX_TRIES


async def test_changing_a_pin_needs_the_old_one(db: Database) -> None:
    guard = PinGuard(PinRows(db), Keystore([MasterKey.generate()]))
    uid = await user(db)
    with pytest.raises(UserError, match="error.pin.not_set"):
        await guard.check_pin(uid, "1357")
    await guard.set_pin(uid, "1357")
    with pytest.raises(UserError, match="error.pin.exists"):
        await guard.set_pin(uid, "2468")
    with pytest.raises(UserError, match="error.pin.wrong"):
        await guard.set_pin(uid, "2468", old="9999")
    await guard.set_pin(uid, "2468", old="1357")
    await guard.check_pin(uid, "2468")


# -- keys and custodial wallets ------------------------------------------------------------------------

GOOD_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.mark.parametrize(
    ("text", "key"),
    [("zz", "error.key.format"), ("0x", "error.key.format"), ("", "error.key.format"), ("0x12_34", "error.key.format"),
     ("g" * 64, "error.key.format"), ("0x1234", "error.key.length"), (GOOD_KEY + "00", "error.key.length"),
     ("0" * 64, "error.key.zero"), (f"{SECP256K1_N:064x}", "error.key.range"), ("f" * 64, "error.key.range")],
)
def test_key_validation_names_the_problem_never_the_key(text: str, key: str) -> None:
    with pytest.raises(UserError) as err:
        parse_private_key(text)
    assert err.value.key == key
    if len(text) >= 8:
        assert text not in str(err.value) and text not in repr(err.value.params)


def test_key_validation_accepts_both_spellings_and_the_largest_key() -> None:
    assert parse_private_key(GOOD_KEY) == parse_private_key(GOOD_KEY[2:].upper()) == bytes.fromhex(GOOD_KEY[2:])
    assert parse_private_key(f"{SECP256K1_N - 1:064x}") == (SECP256K1_N - 1).to_bytes(32, "big")


async def test_custodial_wallet_lifecycle_keeps_old_rows(db: Database) -> None:
    store = Keystore([MasterKey.generate()])
    pins = PinGuard(PinRows(db), store)
    service = CustodialWallets(WalletRows(db), store, pins)
    uid = await user(db)
    assert await service.address_of(uid) is None
    address = await service.import_key(uid, GOOD_KEY)
    assert address == Account.from_key(GOOD_KEY).address
    with pytest.raises(UserError, match="error.wallet.exists"):
        await service.create(uid)
    acct = await service.account(uid)
    assert acct.address == address and GOOD_KEY[2:] not in repr(acct)
    row = await service.live(uid)
    assert row is not None and GOOD_KEY[2:] not in repr(row) and row.encrypted_key is not None
    assert bytes.fromhex(GOOD_KEY[2:]) not in row.encrypted_key
    with pytest.raises(UserError, match="error.pin.required"):  # no export (nor trade) before a PIN is chosen
        await service.export(uid, "1357")
    await pins.set_pin(uid, "1357")
    assert await service.export(uid, "1357") == GOOD_KEY
    assert await service.remove(uid, "1357") == address
    fresh = await service.create(uid)
    assert fresh != address and await service.address_of(uid) == fresh
    history = await WalletRows(db).history(uid)
    assert [w.address for w in history] == [fresh, address] and history[1].removed_at is not None


async def test_a_key_copied_to_another_users_row_does_not_decrypt(db: Database) -> None:
    store = Keystore([MasterKey.generate()])
    wallets = WalletRows(db)
    service = CustodialWallets(wallets, store, PinGuard(PinRows(db), store))
    alice, mallory = await user(db, "alice"), await user(db, "mallory")
    await service.import_key(alice, GOOD_KEY)
    stolen = await wallets.live(alice)
    assert stolen is not None and stolen.encrypted_key is not None and stolen.key_id is not None
    await wallets.add_custodial(mallory, stolen.address, stolen.encrypted_key, stolen.key_id)
    with pytest.raises(UserError, match="error.wallet.key_unavailable"):
        await service.account(mallory)


async def test_settings_default_and_update(db: Database) -> None:
    settings = SettingsRows(db)
    uid = await user(db)
    assert await settings.get_slippage_bps(uid) == DEFAULT_SLIPPAGE_BPS
    await settings.set_slippage_bps(uid, 120)
    await settings.set_timezone(uid, "Asia/Shanghai")
    assert await settings.get_slippage_bps(uid) == 120 and await settings.get_timezone(uid) == "Asia/Shanghai"
    await settings.set_slippage_bps(uid, 30)
    assert await settings.get_slippage_bps(uid) == 30 and await settings.get_timezone(uid) == "Asia/Shanghai"


async def test_a_wallet_whose_master_key_is_not_loaded_is_refused_before_anything_counts(db: Database) -> None:
    """Started without the key a wallet was made under (the start-up check is what normally stops that): a quote
    (`ready`), an export and a signer are each refused with the localized message, and no PIN try is counted."""
    old = Keystore([MasterKey.generate()])
    uid = await user(db)
    await CustodialWallets(WalletRows(db), old, PinGuard(PinRows(db), old)).import_key(uid, GOOD_KEY)
    await PinGuard(PinRows(db), old).set_pin(uid, "1357")
    new = Keystore([MasterKey.generate()])
    service = CustodialWallets(WalletRows(db), new, PinGuard(PinRows(db), new))
    for attempt in (service.ready(uid), service.export(uid, "1357"), service.account(uid)):
        with pytest.raises(UserError, match="error.wallet.key_not_loaded"):
            await attempt
    row = await PinRows(db).get(uid)
    assert row is not None and row.failures == 0


async def test_a_language_another_process_set_is_seen_at_the_next_message(db: Database, other: Database) -> None:
    """Issue 17: in a fleet (PostgreSQL) `/lang` may be handled by one worker and the next message by another, which
    saw the user before: it reads the row again instead of trusting what it remembers. On SQLite one process is the
    only writer of its file, and a known user costs no round trip."""
    here, there = UserRows(db), UserRows(other)
    first = await here.seen("telegram", "4242", platform_locale="en")
    await there.set_locale(first.id, "zh_CN")
    again = await here.seen("telegram", "4242", platform_locale="en")
    assert again.id == first.id
    assert again.locale == ("zh_CN" if db.dialect == "postgresql" else None)
