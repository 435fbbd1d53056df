"""Master key rotation as an operator does it: wallets made under key A; the bot started with key B and A as a
previous key (export, withdraw and buy work); `indexbot keys rotate`; B alone works; a key that opens nothing
(C) refuses to start, naming how many wallets it cannot read. On the devnet, a real SQLite file, the real CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from auxil.trading import PIN, click, custodial_user, funded_user, say, token_balance

from bot.app import App
from bot.chain.binding import StartupRefused
from bot.config import Config, Secret, load_config
from conftest import make_config
from devnet.harness import Devnet
from wallets.keystore import MasterKey

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
A, B, C = MasterKey.generate(), MasterKey.generate(), MasterKey.generate()


def indexbot(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    environ.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", LANG="C.UTF-8", **env)
    return subprocess.run([INDEXBOT, *args], input="", capture_output=True, text=True, timeout=90, env=environ, cwd=ROOT)


def keyed(chain: Devnet, home: Path, current: MasterKey, *previous: MasterKey) -> Config:
    return make_config(chain, home, master_key=Secret(current.to_base64()),
                       previous_master_keys=tuple(Secret(k.to_base64()) for k in previous))


async def started(config: Config) -> App:
    return await App.start(config, track_head=False)


async def test_a_rotation_from_start_to_finish(chain: Devnet, tmp_path: Path) -> None:
    app = await started(keyed(chain, tmp_path, A))
    try:
        u1, address = await funded_user(app)  # u1 trades and withdraws
        key = Account.create().key.hex()
        await custodial_user(app, "u2", key=key)  # u2 exports the key they imported
        await custodial_user(app, "u3", pin=None)  # u3 chose no PIN yet
    finally:
        await app.stop()

    # B is the new key; A only opens what it sealed
    app = await started(keyed(chain, tmp_path, B, A))
    try:
        exported = (await say(app, f"/wallet export {PIN}", "u2")).rendered.text
        assert key.removeprefix("0x") in exported, exported
        to = "0x" + "ab" * 20
        done = await click(app, await say(app, f"/withdraw usdc 5 {to} {PIN}"), "Confirm")
        assert "sent 5 USDC to" in done.rendered.text, done.rendered.text
        assert await token_balance(app, app.profile.usdc.address, to) == 5 * 10**6
        done = await click(app, await say(app, "/buy MAG7.ssi 100"), "Confirm")
        assert "Confirmed in block" in done.rendered.text, done.rendered.text
        assert (await say(app, f"/pin {PIN} 468135")).rendered.text == "PIN changed."  # now peppered by B
    finally:
        await app.stop()

    env = {"INDEXBOT_DB": str(tmp_path / "bot.sqlite3"), "INDEXBOT_MASTER_KEY": B.to_base64(),
           "INDEXBOT_MASTER_KEY_PREVIOUS": f"{C.to_base64()},\n{A.to_base64()}"}
    rotated = await asyncio.to_thread(indexbot, tmp_path, "keys", "rotate", **env)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == (f"keys rotate: 3 wallet key(s) and 1 PIN(s) re-encrypted under master key id "
                                      f"{B.key_id}; every stored key now opens with INDEXBOT_MASTER_KEY alone.")
    for k in (A, B, C):
        assert k.to_base64() not in rotated.stdout + rotated.stderr
    again = await asyncio.to_thread(indexbot, tmp_path, "keys", "rotate", **env)  # idempotent
    assert again.returncode == 0 and "0 wallet key(s) and 0 PIN(s) re-encrypted" in again.stdout, again

    app = await started(keyed(chain, tmp_path, B))  # the old key is gone
    try:
        exported = (await say(app, f"/wallet export {PIN}", "u2")).rendered.text
        assert key.removeprefix("0x") in exported, exported
        done = await click(app, await say(app, "/buy MAG7.ssi 10"), "Confirm")
        assert "Confirmed in block" in done.rendered.text, done.rendered.text
        assert (await say(app, "/wallet export 468135")).rendered.text.startswith("Your private key")  # u1's PIN, under B
    finally:
        await app.stop()

    with pytest.raises(StartupRefused) as refused:
        await started(keyed(chain, tmp_path, C))
    assert "3 custodial wallet(s) (3 in use) and 2 PIN(s)" in str(refused.value)
    assert "INDEXBOT_MASTER_KEY_PREVIOUS" in str(refused.value) and B.key_id in str(refused.value)


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_without_the_previous_key_the_bot_refuses_to_start_from_the_cli(chain: Devnet, tmp_path: Path) -> None:
    app = await started(keyed(chain, tmp_path, A))
    try:
        await funded_user(app, usdc=Decimal(1))
        await custodial_user(app, "u2", pin=None)
    finally:
        await app.stop()
    env = {"INDEXBOT_CHAIN": str(chain.profile_path), "INDEXBOT_DB": str(tmp_path / "bot.sqlite3"),
           "INDEXBOT_MASTER_KEY": B.to_base64()}
    out = await asyncio.to_thread(indexbot, tmp_path, "chat", "--verbose", **env)
    assert out.returncode == 2, out
    assert "indexbot: 2 custodial wallet(s) (2 in use) and 1 PIN(s) were sealed under a master key that is not loaded" in out.stderr
    assert f"key id {A.key_id}" in out.stderr and "Set INDEXBOT_MASTER_KEY_PREVIOUS" in out.stderr
    assert "Traceback" not in out.stderr and A.to_base64() not in out.stderr and B.to_base64() not in out.stderr

    refused = await asyncio.to_thread(indexbot, tmp_path, "keys", "rotate", **env)  # B alone cannot re-seal A's
    assert refused.returncode == 1 and "key id " + A.key_id in refused.stderr and refused.stdout == "", refused
    fine = await asyncio.to_thread(indexbot, tmp_path, "chat", "--verbose",
                                   **env, INDEXBOT_MASTER_KEY_PREVIOUS=A.to_base64())
    assert fine.returncode == 0, fine.stderr


def test_previous_keys_come_from_the_environment_and_a_file_and_never_show(tmp_path: Path) -> None:
    keyfile = tmp_path / "previous"
    keyfile.write_text(f"{A.to_base64()}\n{B.to_base64()}\n")
    config = load_config({"INDEXBOT_MASTER_KEY": C.to_base64(), "INDEXBOT_MASTER_KEY_PREVIOUS": A.to_base64(),
                          "INDEXBOT_MASTER_KEY_PREVIOUS_FILE": str(keyfile)})
    assert [s.reveal() for s in config.previous_master_keys] == [A.to_base64(), A.to_base64(), B.to_base64()]
    assert B.to_base64() in config.secrets and B.to_base64() not in str(config.redacted())
    with pytest.raises(Exception, match=r"INDEXBOT_MASTER_KEY_PREVIOUS \(key 2 of 2\): the master key is not valid base64"):
        load_config({"INDEXBOT_MASTER_KEY_PREVIOUS": f"{A.to_base64()}, not-a-key!"})


async def test_a_pin_stored_before_key_ids_had_a_column_still_opens_and_rotates(tmp_path: Path) -> None:
    """A PIN row as the code before migration 0013 wrote it (its pepper's key id only inside `params`) is
    checked after the migration, and `rotate` carries it over to a new key without the PIN."""
    import json
    import secrets
    import sqlite3
    from dataclasses import asdict

    from auxil.storage import legacy_file

    import wallets.pin as pins_module
    from bot.storage.db import Database
    from bot.storage.wallets import PinRows, SealedKeyRows
    from wallets.keystore import Keystore
    from wallets.pin import KdfParams, PinGuard
    from wallets.rotation import rotate

    path = tmp_path / "old.sqlite3"
    legacy_file(path, 12)  # as indexbot left it before migration 0013
    salt, params = secrets.token_bytes(16), KdfParams()
    digest = pins_module._hash("2580", salt, A.derive(b"pin-pepper"), params)
    with sqlite3.connect(path) as conn:
        uid = conn.execute("INSERT INTO users (platform, platform_user_id, created_at, last_seen_at) "
                           "VALUES ('console', 'old', 0, 0) RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO pins (user_id, salt, hash, params) VALUES (:user, :salt, :hash, :params)",  # sqlite3's own
                     {"user": uid, "salt": salt, "hash": digest,
                      "params": json.dumps({"kdf": "argon2id", "pepper": A.key_id, **asdict(params)})})
    conn.close()

    db = await Database.open(path)  # migration 0013 runs
    try:
        await PinGuard(PinRows(db), Keystore([A])).check_pin(uid, "2580")
        done = await rotate(SealedKeyRows(db), Keystore([B, A]))
        assert (done.wallets, done.pins) == (0, 1)
        await PinGuard(PinRows(db), Keystore([B])).check_pin(uid, "2580")  # A is no longer needed
        with pytest.raises(Exception, match="error.pin.wrong"):
            await PinGuard(PinRows(db), Keystore([B])).check_pin(uid, "2468")
    finally:
        await db.close()
