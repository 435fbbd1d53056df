"""`indexbot devnet` for the stock index, as an operator types it: up starts the fulfilment process beside anvil
(with a market-hours window), price moves a stock, hours and status tell open or closed, reindex schedules,
a dead fulfiller is restarted by up, down stops both."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from eth_account import Account

from bot.issuance.hours import ALWAYS_OPEN
from bot.chain.profile import load_profile
from devnet import cli
from devnet.anvil import free_port, pid_alive
from devnet.process import running
from devnet.rpc import DEV_KEYS, Sender, connect, contract

USER = DEV_KEYS[1]


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_up_runs_the_fulfiller_which_fills_while_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    paths = cli.Paths(tmp_path)

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", "--home", str(tmp_path), *argv]))

    def fulfiller_pid() -> int:
        return int(json.loads(paths.fulfil.read_text())["pid"])

    try:
        assert await run("up", "--port", str(free_port()), "--hours", "always") == 0
        assert "fulfiller up" in capsys.readouterr().out
        pid = fulfiller_pid()
        assert running(pid, "devnet.fulfil")
        stocks = load_profile(paths.stocks)
        ref = stocks.index("MAG7.nex")
        assert ref.market_hours == ALWAYS_OPEN
        assert load_profile(paths.profile).rpc_urls == stocks.rpc_urls

        assert await run("hours") == 0
        out = capsys.readouterr().out
        assert "MAG7.nex market hours: daily 00:00-24:00 UTC" in out and "open" in out and "closed" not in out
        assert await run("status") == 0
        out = capsys.readouterr().out
        assert f"fulfiller: up (pid {pid})" in out and "MAG7.nex open now" in out

        assert await run("price", "MSFT", "400") == 0
        assert "MSFT feed set to $400" in (out := capsys.readouterr().out) and "MAG7.nex NAV now $" in out

        async with connect(stocks.rpc_urls[0]) as w3:  # the detached process fills a request by itself
            assert ref.factory is not None
            factory = contract(w3, "IndexFactory", ref.factory).functions
            usdc = contract(w3, "TestToken", stocks.usdc.address).functions
            await Sender(w3, USER).transact(usdc.approve(ref.factory, 50 * 10**6))
            await Sender(w3, USER).transact(factory.issuanceIndexTokens(50 * 10**6))
            nonce = await factory.issuanceNonce().call()
            async with asyncio.timeout(15):
                while (await factory.issuanceRequest(nonce).call())[2] != 2:
                    await asyncio.sleep(0.1)
            index = contract(w3, "MintableToken", ref.token.address).functions
            assert await index.balanceOf(Account.from_key(USER).address).call() > 0

        assert await run("price", "AVGO", "200") == 0
        assert await run("reindex", "MAG7.nex", "--at", "now") == 0
        out = capsys.readouterr().out
        assert "added:   AVGO" in out and "removed: TSLA" in out
        assert await run("reindex", "NOPE") == 2

        os.kill(pid, signal.SIGKILL)  # the fulfiller dies; `up` brings it back, anvil untouched
        while pid_alive(pid):
            os.waitpid(pid, os.WNOHANG)
            await asyncio.sleep(0.02)
        assert await run("up") == 0
        assert "already up" in (out := capsys.readouterr().out) and "fulfiller up" in out
        assert fulfiller_pid() != pid and running(fulfiller_pid(), "devnet.fulfil")

        assert await run("up", "--hours", "sat 10:00-11:00 Nowhere/Land") == 2
        assert "--hours" in capsys.readouterr().out
    finally:
        last = fulfiller_pid() if paths.fulfil.is_file() else None
        assert await run("down") == 0
    assert "fulfiller stopped" in capsys.readouterr().out
    assert last is not None and not running(last, "devnet.fulfil") and not paths.fulfil.exists()
    assert await run("status") == 1
