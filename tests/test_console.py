"""`indexbot chat` as a user runs it: a subprocess reading stdin, printing plain text."""

import os
import re
from decimal import Decimal
import subprocess
import sys
from pathlib import Path

from devnet.harness import Devnet

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))


def chat(lines: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    environ.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", LANG="C.UTF-8", **env)
    return subprocess.run([INDEXBOT, "chat"], input=lines, capture_output=True, text=True, timeout=90, env=environ, cwd=ROOT)


def test_quote_and_button_press_on_a_configured_chain(devnet: Devnet, tmp_path: Path) -> None:
    out = chat("/quote MAG7 100\n1\nRefresh\n/start\nHelp\n", tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Buy quote: MAG7.ssi") == 3  # the command, then [1], then the label
    assert "You pay: 100 USDC" in out.stdout and "[1] Refresh" in out.stdout
    assert "Welcome to indexbot" in out.stdout and "/quote - " in out.stdout


def test_embedded_default_starts_and_stops_its_own_devnet(tmp_path: Path) -> None:
    out = chat("/quote MAG7 100\n", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Buy quote: MAG7.ssi" in out.stdout and "Computed at block" in out.stdout
    logs = list(tmp_path.rglob("anvil.log"))
    assert logs, "the embedded devnet wrote no anvil log under INDEXBOT_HOME"
    assert processes_writing(logs[0]) == []  # its anvil (stdout into that log) is gone once chat exits


def processes_writing(path: Path) -> list[int]:
    """PIDs with an open file descriptor on `path`."""
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                found.append(int(fd_dir.parent.name))
        except OSError:
            continue
    return found


def test_a_wrong_profile_refuses_to_start(devnet: Devnet, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(devnet.profile_path.read_text().replace('symbol = "USDC"', 'symbol = "USDT"', 1))
    out = chat("/quote MAG7 100\n", tmp_path, INDEXBOT_CHAIN=str(bad))
    assert out.returncode == 2
    assert "does not match the chain" in out.stderr and "expected 'USDT'" in out.stderr
    assert out.stdout == ""


def test_new_user_journey_in_the_terminal(chain: Devnet, tmp_path: Path) -> None:
    lines = "/wallet new\n/faucet\n/buy MAG7 100\nConfirm\n/sell MAG7 0.5\nConfirm\n/pin 4821\n/wallet export 4821\n/wallet\n"
    out = chat(lines, tmp_path, INDEXBOT_CHAIN=str(chain.profile_path))
    assert out.returncode == 0, out.stderr
    confirmations = [line for line in out.stdout.splitlines() if line.startswith("Confirmed in block")]
    assert len(confirmations) == 2 and "for 100 USDC" in confirmations[0] and "0.5 MAG7.ssi" in confirmations[1]
    assert "PIN set." in out.stdout and "Your private key" in out.stdout
    wallet = out.stdout.split("Your wallet")[-1]
    usdc = Decimal(re.search(r"USDC: ([\d,.]+)", wallet).group(1).replace(",", ""))  # type: ignore[union-attr]
    mag7 = Decimal(re.search(r"MAG7\.ssi: ([\d,.]+)", wallet).group(1))  # type: ignore[union-attr]
    assert 9_900 + 49 < usdc < 9_900 + 50  # 100 spent once, about 49.8 back for half a token
    assert abs(mag7 - (Decimal("0.996901") - Decimal("0.5"))) < Decimal("0.000001")
