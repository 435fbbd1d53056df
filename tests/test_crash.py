"""The bot killed for real between broadcast and storage: on restart the trade is neither lost nor repeated.

`indexbot chat` runs as a user would start it; `INDEXBOT_FAILPOINT=after_broadcast` makes it SIGKILL itself
right after the swap reached the node and before that was recorded. A second run on the same database must
reconcile: tell the user the trade confirmed, and leave exactly one approval and one swap on the chain.
"""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from devnet.harness import Devnet

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))
BALANCE_OF = Web3.keccak(text="balanceOf(address)")[:4]

pytestmark = pytest.mark.platform  # the console front end as a process (`indexbot chat`)


def chat(lines: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INDEXBOT, "chat"], input=lines, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)


def balance(w3: Web3, token: str, owner: str) -> int:
    data = BALANCE_OF + bytes(12) + bytes.fromhex(owner[2:])
    return int.from_bytes(w3.eth.call({"to": token, "data": data}), "big")


def test_killed_after_broadcast_then_restarted(chain: Devnet, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    env.update(INDEXBOT_HOME=str(tmp_path), INDEXBOT_CHAIN=str(chain.profile_path), INDEXBOT_WEB_PORT="0", LANG="C.UTF-8")
    killed = chat("/wallet new\n/pin 4821\n/faucet\n/buy MAG7.ssi 100\nConfirm\n", {**env, "INDEXBOT_FAILPOINT": "after_broadcast"})
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no clean-up ran
    assert "failpoint after_broadcast reached" in (tmp_path / "logs" / "chat.log").read_text()  # chat logs to a file
    address = re.search(r"0x[0-9a-fA-F]{40}", killed.stdout).group(0)  # type: ignore[union-attr]
    db = tmp_path / "indexbot.sqlite3"
    with sqlite3.connect(db) as conn:  # the crash left the trade between broadcast and its record
        assert conn.execute("SELECT state FROM intents").fetchall() == [("signed",)]

    restarted = chat("/wallet\n", env)
    assert restarted.returncode == 0, restarted.stderr
    assert "Confirmed in block" in restarted.stdout and "for 100 USDC" in restarted.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM intents").fetchall() == [("mined",)]

    w3 = Web3(Web3.HTTPProvider(chain.url))
    assert w3.eth.get_transaction_count(address) == 2  # one approval, one swap: nothing repeated
    profile = chain.profile
    assert balance(w3, profile.usdc.address, address) == (10_000 - 100) * 10**6  # paid exactly once
    assert balance(w3, profile.index("MAG7.ssi").token.address, address) > 0
