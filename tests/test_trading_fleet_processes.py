"""Trades in a fleet of real processes (issue 17): three bot processes on one PostgreSQL database and one anvil devnet,
each the real `App` with its job worker (tests/auxil/fleet_trader.py), buying for one user from one custodial
wallet through the core API /buy and Confirm use.

- The process holding a trade is killed (SIGKILL, INDEXBOT_FAILPOINT) after it stored the signed transactions, and
  in another run after it broadcast them: a live process's job takes the trade over (bot.trading.jobs), the intent
  ends mined, the chain holds exactly the stored transactions (one per nonce, none re-signed, paid once) and the
  outbox one notice for it, under its key.
- 50 trades at once from one wallet, spread over the three: consecutive nonces without a gap, all mined, each
  intent mined once; no job takes a trade from a live owner (it would queue a notice).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import AsyncWeb3

from bot.app import App
from devnet.harness import Devnet
from auxil.postgres import PROCESS_CONNECTIONS, pg_rows
from auxil.trading import funded_user
from conftest import make_config

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "auxil" / "fleet_trader.py"
AMOUNT = Decimal(1)  # USDC per trade
FUNDS = Decimal(1_000)


@dataclass
class Trader:
    """One fleet process, driven by lines on its stdin and stdout."""

    proc: asyncio.subprocess.Process

    async def line(self, timeout: float = 120.0) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert raw, f"the trader {self.proc.pid} ended (code {self.proc.returncode})"
        return raw.decode().strip()

    async def expect(self, word: str, timeout: float = 120.0) -> list[str]:
        """Lines until `word` (excluded)."""
        before = []
        while (line := await self.line(timeout)) != word:
            before.append(line)
        return before

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())

    async def stop(self) -> int:
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


@dataclass
class Fleet:
    env: dict[str, str]
    user_id: int
    address: str
    traders: list[Trader]

    async def start(self, name: str, trades: int = 0, *options: str, **extra: str) -> Trader:
        env = {**self.env, "INDEXBOT_HOME": str(Path(self.env["INDEXBOT_HOME"]) / name), **extra}
        log = open(Path(self.env["INDEXBOT_HOME"]) / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(DRIVER), "--user", "u1", "--trades", str(trades), "--amount", str(AMOUNT), *options,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=ROOT,
        )
        log.close()
        trader = Trader(proc)
        self.traders.append(trader)
        return trader


@pytest.fixture
async def fleet(chain: Devnet, pg_url: str, tmp_path: Path) -> AsyncIterator[Fleet]:
    """A funded custodial user (made by a bot in this process, then stopped) and the environment of its fleet."""
    app = await App.start(make_config(chain, tmp_path, database_url=pg_url))
    try:
        user_id, address = await funded_user(app, "u1", usdc=FUNDS, eth=Decimal(1))
    finally:
        await app.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    env.update(INDEXBOT_HOME=str(tmp_path), INDEXBOT_CHAIN=str(chain.profile_path), INDEXBOT_DATABASE_URL=pg_url,
               INDEXBOT_WEB_PORT="0", LANG="C.UTF-8", INDEXBOT_DATABASE_CONNECTIONS=str(PROCESS_CONNECTIONS))
    crew = Fleet(env, user_id, address, [])
    try:
        yield crew
    finally:
        for trader in crew.traders:
            await trader.stop()


async def settled(pg_url: str, user_id: int, count: int, timeout: float = 120.0) -> dict[int, str]:
    """The user's intents once `count` of them are all past signing and sending: {id: state}."""
    deadline = time.monotonic() + timeout
    while True:
        states = dict(pg_rows(pg_url, "SELECT id, state FROM intents WHERE user_id = %s", user_id))
        if len(states) == count and not {"confirmed", "signed", "sent"} & set(states.values()):
            return {int(k): str(v) for k, v in states.items()}  # type: ignore[call-overload]
        assert time.monotonic() < deadline, f"not settled in {timeout} s: {states}"
        await asyncio.sleep(0.2)


async def usdc_of(w3: AsyncWeb3, chain: Devnet, address: str) -> int:
    data = bytes.fromhex("70a08231") + bytes(12) + bytes.fromhex(address[2:])
    return int.from_bytes(await w3.eth.call({"to": chain.profile.usdc.address, "data": "0x" + data.hex()}), "big")


async def test_killed_holding_a_trade_after_signing_and_after_broadcast(fleet: Fleet, pg_url: str, chain: Devnet,
                                                                        w3: AsyncWeb3) -> None:
    helpers = [await fleet.start("helper1"), await fleet.start("helper2")]
    points = ["after_store", "after_broadcast"]
    # each victim only trades (no job worker: its failpoint would also fire in a trade it took over)
    victims = [await fleet.start(f"victim-{p}", 1, "--no-work", INDEXBOT_FAILPOINT=p) for p in points]
    for trader in (*helpers, *victims):
        assert await trader.line() == "ready"
    for done, victim in enumerate(victims):
        victim.tell("go")
        assert await asyncio.wait_for(victim.proc.wait(), 120) == -9  # SIGKILL at the failpoint: nothing cleaned up
        ((intent_id, at_kill),) = pg_rows(pg_url, "SELECT id, state FROM intents WHERE user_id = %s AND id > %s",
                                       fleet.user_id, done)
        assert at_kill == "signed"  # stored, not recorded as sent (after_broadcast: on the node already)

        assert (await settled(pg_url, fleet.user_id, done + 1))[intent_id] == "mined"
        txs = pg_rows(pg_url, "SELECT nonce, tx_hash, state FROM intent_txs WHERE intent_id = %s ORDER BY id", intent_id)
        first = 2 * done
        assert [(n, s) for n, _, s in txs] == [(first, "mined"), (first + 1, "mined")]  # approve, swap: signed once
        assert await w3.eth.get_transaction_count(fleet.address) == first + 2  # one transaction per nonce, no more
        for _, tx_hash, _ in txs:
            assert (await w3.eth.get_transaction_receipt(str(tx_hash)))["status"] == 1  # the stored bytes, mined
        assert await usdc_of(w3, chain, fleet.address) == int((FUNDS - (done + 1) * AMOUNT) * 10**6)  # paid once
        told = "SELECT dedupe, kind, chat_id FROM outbox WHERE user_id = %s AND dedupe LIKE %s"
        deadline = time.monotonic() + 30  # the notice follows the intent's move to mined (and its mined hooks)
        while not (notices := pg_rows(pg_url, told, fleet.user_id, f"trade:{intent_id}:%")) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # time for a second notice, were there one
        notices = pg_rows(pg_url, told, fleet.user_id, f"trade:{intent_id}:%")
        assert notices == [(f"trade:{intent_id}:mined", "trade", "chat-u1")]  # told once
    assert len(pg_rows(pg_url, "SELECT id FROM outbox WHERE user_id = %s", fleet.user_id)) == 2  # nothing else said
    for helper in helpers:
        assert await helper.stop() == 0


async def test_fifty_trades_from_one_wallet_through_three_processes(fleet: Fleet, pg_url: str, w3: AsyncWeb3) -> None:
    shares = [17, 17, 16]
    traders = [await fleet.start(f"trader{i}", trades=n) for i, n in enumerate(shares)]
    for trader in traders:
        assert await trader.line() == "ready"
    for trader in traders:
        trader.tell("go")
    answers = [line for trader in traders for line in await trader.expect("traded", timeout=120)]
    assert len(answers) == 50 and all(a.startswith("trade ") for a in answers), answers

    states = await settled(pg_url, fleet.user_id, 50)
    assert set(states.values()) == {"mined"}
    assert sorted(int(a.split()[1]) for a in answers) == sorted(states)  # each trade one intent
    live = pg_rows(pg_url, "SELECT t.nonce FROM intent_txs t JOIN intents i ON i.id = t.intent_id "
                        "WHERE i.user_id = %s AND t.state = 'mined' ORDER BY t.nonce", fleet.user_id)
    nonces = [int(n) for (n,) in live]  # type: ignore[call-overload]
    assert nonces == list(range(len(nonces))) and len(nonces) >= 50  # consecutive from 0: no gap, none twice
    assert await w3.eth.get_transaction_count(fleet.address) == len(nonces)  # all mined, nothing else sent
    others = pg_rows(pg_url, "SELECT count(*) FROM intent_txs t JOIN intents i ON i.id = t.intent_id "
                          "WHERE i.user_id = %s AND t.state <> 'mined'", fleet.user_id)
    assert others == [(0,)]  # nothing dropped, replaced or re-signed
    assert pg_rows(pg_url, "SELECT dedupe FROM outbox WHERE user_id = %s", fleet.user_id) == []  # no job took a live trade
    for trader in traders:
        assert await trader.stop() == 0
