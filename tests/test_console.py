"""`indexbot chat` as a user runs it: a subprocess reading stdin, printing plain text."""

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time

from bot.core.amounts import from_base_units
from devnet import operator
from devnet.harness import Devnet
from devnet.rpc import connect, contract
from auxil.cli import number

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))

# The console front end as a process; its embedded default starts a devnet of its own where no fixture gives one.
pytestmark = [pytest.mark.chain, pytest.mark.platform]


def chat(lines: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    environ.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", LANG="C.UTF-8", **env)
    return subprocess.run([INDEXBOT, "chat"], input=lines, capture_output=True, text=True, timeout=90, env=environ, cwd=ROOT)


def test_quote_and_button_press_on_a_configured_chain(devnet: Devnet, tmp_path: Path) -> None:
    out = chat("/quote MAG7.ssi 100\n1\nRefresh\n/start\nHelp\n", tmp_path, INDEXBOT_CHAIN=str(devnet.profile_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Buy quote: MAG7.ssi") == 3  # the command, then [1], then the label
    assert "You pay: 100 USDC" in out.stdout and "[1] Refresh" in out.stdout
    assert "Welcome to indexbot" in out.stdout and "/quote - " in out.stdout


def test_embedded_default_starts_and_stops_its_own_devnet(tmp_path: Path) -> None:
    out = chat("/quote MAG7.ssi 100\n", tmp_path)
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
    (tmp_path / "stocks.toml").write_text(devnet.stocks_profile_path.read_text())  # its companion, beside it
    out = chat("/quote MAG7.ssi 100\n", tmp_path, INDEXBOT_CHAIN=str(bad))
    assert out.returncode == 2
    assert "does not match the chain" in out.stderr and "expected 'USDT'" in out.stderr
    assert out.stdout == ""


def test_new_user_journey_in_the_terminal(chain: Devnet, tmp_path: Path) -> None:
    lines = "/wallet new\n/pin 4821\n/faucet\n/buy MAG7.ssi 100\nConfirm\n/sell MAG7.ssi 0.5\nConfirm\n/wallet export 4821\n/wallet\n"
    out = chat(lines, tmp_path, INDEXBOT_CHAIN=str(chain.profile_path))
    assert out.returncode == 0, out.stderr
    confirmations = [line for line in out.stdout.splitlines() if line.startswith("Confirmed in block")]
    assert len(confirmations) == 2 and "for 100 USDC" in confirmations[0] and "0.5 MAG7.ssi" in confirmations[1]
    assert "PIN set." in out.stdout and "Your private key" in out.stdout
    wallet = out.stdout.split("Your wallet")[-1]
    usdc = Decimal(re.search(r"\nUSDC\n  ([\d,.]+)", wallet).group(1).replace(",", ""))  # type: ignore[union-attr]
    mag7 = Decimal(re.search(r"\nMAG7\.ssi\n  ([\d,.]+)", wallet).group(1))  # type: ignore[union-attr]
    assert 9_900 + 49 < usdc < 9_900 + 50  # 100 spent once, about 49.8 back for half a token
    assert abs(mag7 - (Decimal("0.996901") - Decimal("0.5"))) < Decimal("0.000001")


class Session:
    """`indexbot chat` driven line by line, reading its output as it comes (time moves between lines)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen = ""

    @classmethod
    async def open(cls, home: Path, **env: str) -> "Session":
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
        environ.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", LANG="C.UTF-8", **env)
        proc = await asyncio.create_subprocess_exec(
            INDEXBOT, "chat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=environ, cwd=ROOT)
        return cls(proc)

    async def say(self, line: str, *until: str) -> str:
        """Type `line`; return what the bot printed from then to the end of the first message that has a line
        starting with one of `until` (each message ends with a blank line)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        start = len(self.seen)
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        while not any(row.startswith(until) for row in self.seen[start:].split("\n\n")[:-1] for row in row.splitlines()):
            chunk = await asyncio.wait_for(self.proc.stdout.readline(), timeout=30)
            assert chunk, f"the chat ended before {until!r}:\n{self.seen[start:]}"
            self.seen += chunk.decode()
        return self.seen[start:]

    async def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await asyncio.wait_for(self.proc.wait(), timeout=60)
        return self.proc.returncode or 0


async def test_staking_journey_in_the_terminal(chain: Devnet, tmp_path: Path) -> None:
    """Stake, the restart warning, an early claim refused, boost with SOSO, /positions against the contract,
    the cooldown passed with `evm_increaseTime`, claim."""
    chat_ = await Session.open(tmp_path, INDEXBOT_CHAIN=str(chain.profile_path))
    try:
        created = await chat_.say("/wallet new", "Your new wallet")
        address = re.search(r"0x[0-9a-fA-F]{40}", created).group(0)  # type: ignore[union-attr]
        assert "/pin <4 to 8 digits>" in created  # the next step
        await chat_.say("/pin 4821", "PIN set.")
        assert "1,000 SOSO" in await chat_.say("/faucet", "Sent ")
        await chat_.say("/buy MAG7.ssi 100", "[1] Confirm")
        await chat_.say("Confirm", "Confirmed in block")
        offer = await chat_.say("/stake MAG7 0.5", "[1] Confirm")
        assert "3X while held → 15X once staked (no SOSO boost yet" in offer  # no SOSO staked yet
        assert "staked 0.5 MAG7.ssi" in await chat_.say("Confirm", "Confirmed in block")
        await chat_.say("/unstake MAG7 0.2", "[1] Confirm")
        await chat_.say("Confirm", "Confirmed in block")
        warning = await chat_.say("/unstake MAG7 0.1", "[1] Restart cooldown and unstake")
        assert "restarts the cooldown for the whole pending amount (0.3 MAG7.ssi)" in warning
        await chat_.say("Restart cooldown and unstake", "Confirmed in block")
        early = await chat_.say("/claim MAG7", "0.3 MAG7.ssi is still cooling down")
        assert "Nothing was sent" in early
        boosting = await chat_.say("/boost add 100", "[1] Confirm")
        assert "Your boost: no level → level" in boosting
        assert "Staked now: 100 sSOSO" in await chat_.say("Confirm", "Confirmed in block")

        shown = await chat_.say("/positions", "Read at block")
        async with connect(chain.url) as w3:
            profile = chain.profile
            ref = profile.index("MAG7.ssi")
            assert ref.staking is not None and profile.soso_staking is not None
            staked = await contract(w3, "StakeToken", ref.staking.address).functions.balanceOf(address).call()
            cooling, ends = await contract(w3, "StakeToken", ref.staking.address).functions.cooldownInfos(address).call()
            held = await contract(w3, "AssetToken", ref.token.address).functions.balanceOf(address).call()
            soso = await contract(w3, "StakeToken", profile.soso_staking.address).functions.balanceOf(address).call()
        assert "MAG7.ssi" in shown.split("Held:")[0]  # the index's card comes first: its figures are the first found
        assert number(r"Staked: ([\d,.]+)", shown) == from_base_units(staked, 8) == Decimal("0.2")
        assert number(r"Cooling down: ([\d,.]+)", shown) == from_base_units(cooling, 8) == Decimal("0.3")
        assert number(r"Held: ([\d,.]+)", shown) == from_base_units(held, 8)
        end = datetime.fromtimestamp(ends, ZoneInfo("UTC"))
        ending = format_date(end, "medium", locale="en") + ", " + format_time(end, "short", locale="en")  # to the minute
        assert ending + " UTC" in shown.split("Cooling down:")[1].splitlines()[2]  # under its amount and value: the end the contract will enforce
        assert from_base_units(soso, 18) == 100 and "Boost: level" in shown

        await operator.advance(chain.url, 8 * 24 * 3600)  # past the devnet's 7-day cooldown
        for _ in range(40):  # the chat's head tracker sees the new block within a poll or two
            offer = await chat_.say("/claim MAG7", "[1] Confirm", "0.3 MAG7.ssi is still cooling down")
            if "[1] Confirm" in offer:
                break
            await asyncio.sleep(0.25)
        assert "claimed 0.3 MAG7.ssi" in await chat_.say("Confirm", "Confirmed in block")
    finally:
        assert await chat_.close() == 0


def test_a_second_start_keeps_the_wallet_funds_and_position(tmp_path: Path) -> None:
    """`indexbot chat` twice on the embedded devnet (issue 14 §4): the chain is kept beside the database, so the
    second run finds the wallet with its funds and its position, prints no warning into the conversation (logs go
    to a file under INDEXBOT_HOME), and a new buy confirms (its nonce is the chain's next, not a stale one)."""
    first = chat("/wallet new\n/pin 4821\n/faucet\n/buy MAG7.ssi 100\nConfirm\n", tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Confirmed in block" in first.stdout and "for 100 USDC" in first.stdout
    log_file = tmp_path / "logs" / "chat.log"
    assert first.stderr.count(str(log_file)) == 1  # the log's path, printed once at start
    second = chat("/wallet\n/buy MAG7.ssi 50\nConfirm\n/wallet\n", tmp_path)
    assert second.returncode == 0, second.stderr
    wallet = second.stdout.split("Your wallet")[1]
    assert "\nUSDC\n  9,900" in wallet  # 10,000 from the faucet, 100 spent in the first run
    assert re.search(r"\nMAG7\.ssi\n  0\.99690\d", wallet), wallet
    confirmed = [line for line in second.stdout.splitlines() if line.startswith("Confirmed in block")]
    assert len(confirmed) == 1 and "for 50 USDC" in confirmed[0]
    assert "\nUSDC\n  9,850" in second.stdout.split("Your wallet")[-1]
    for out in (first, second):
        assert not re.search(r"WARNING|ERROR|Traceback|insufficient funds", out.stdout + out.stderr), out.stdout + out.stderr
    assert log_file.is_file()


def test_devnet_reset_asks_then_starts_both_over(tmp_path: Path) -> None:
    """`indexbot devnet reset`: lists what it deletes and asks; anything but 'yes' deletes nothing; `--yes` deletes
    the saved chain and the database, and the next chat starts on a fresh chain with a fresh database."""
    first = chat("/wallet new\n", tmp_path)
    assert first.returncode == 0, first.stderr
    state, database = tmp_path / "embedded-devnet" / "chain-state.gz", tmp_path / "indexbot.sqlite3"
    assert state.is_file() and database.is_file()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INDEXBOT_")} | {"INDEXBOT_HOME": str(tmp_path)}
    refused = subprocess.run([INDEXBOT, "devnet", "reset"], input="no\n", capture_output=True, text=True, env=environ,
                             cwd=ROOT, timeout=30)
    assert refused.returncode == 1 and "nothing was deleted" in refused.stdout
    assert str(state) in refused.stdout and str(database) in refused.stdout
    assert state.is_file() and database.is_file()
    done = subprocess.run([INDEXBOT, "devnet", "reset", "--yes"], capture_output=True, text=True, env=environ,
                          cwd=ROOT, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not state.exists() and not database.exists()
    again = chat("/wallet\n", tmp_path)
    assert again.returncode == 0, again.stderr
    assert "You have no wallet yet" in again.stdout


async def test_a_database_bound_to_one_chain_refuses_another(devnet: Devnet, tmp_path: Path) -> None:
    """The database of a bot that ran on chain 31337, started against a node of chain 1: refused before anything
    is read or written, the message names both chain ids, and the conversation never starts."""
    import asyncio

    home = tmp_path / "home"
    first = await asyncio.to_thread(chat, "/wallet new\n", home, INDEXBOT_CHAIN=str(devnet.profile_path))
    assert first.returncode == 0, first.stderr
    other = await Devnet.start(tmp_path / "other", chain_id=1)
    try:
        files = [home / "indexbot.sqlite3", home / "indexbot.sqlite3-wal"]
        before = [f.read_bytes() if f.exists() else None for f in files]
        out = await asyncio.to_thread(chat, "/wallet\n", home, INDEXBOT_CHAIN=str(other.profile_path))
    finally:
        await other.stop()
    assert out.returncode == 2 and out.stdout == ""
    assert "belongs to chain id 31337" in out.stderr and "runs on chain id 1 " in out.stderr, out.stderr
    assert "nothing was changed" in out.stderr and "Traceback" not in out.stderr
    assert [f.read_bytes() if f.exists() else None for f in files] == before  # the database and its WAL as they were


async def test_typed_journey_buy_sell_stake_alert_withdraw(chain: Devnet, tmp_path: Path) -> None:
    """Issue 18's console half: everything still works by typing, a line per step (a button by its label)."""
    to = "0x000000000000000000000000000000000000dEaD"
    chat_ = await Session.open(tmp_path, INDEXBOT_CHAIN=str(chain.profile_path))
    try:
        await chat_.say("/wallet new", "Your new wallet")
        await chat_.say("/pin 4821", "PIN set.")
        await chat_.say("/faucet", "Sent ")
        for line, done in (("/buy MAG7.ssi 100", "received 0.996901 MAG7.ssi for 100 USDC"),
                           ("/sell MAG7.ssi 0.5", "sold 0.5 MAG7.ssi"), ("/stake MAG7 0.2", "staked 0.2 MAG7.ssi"),
                           (f"/withdraw USDC 10 {to} 4821", f"sent 10 USDC to {to}")):
            await chat_.say(line, "[1] Confirm")
            assert done in await chat_.say("Confirm", "Confirmed in block")
        made = await chat_.say("/alert MAG7 above 1000", "Alert #1 set")
        assert "Alert #1 set: MAG7.ssi: NAV per token at or above $1,000.00" in made
        assert "#1 MAG7.ssi: NAV per token at or above $1,000.00" in await chat_.say("/alert", "#1 MAG7.ssi")
    finally:
        assert await chat_.close() == 0
    async with connect(chain.url) as w3:
        usdc = contract(w3, "AssetToken", chain.profile.usdc.address)
        assert await usdc.functions.balanceOf(to).call() == 10 * 10**6
