"""`indexbot devnet collect-fees`, `indexbot devnet lock` and `indexbot devnet rebalance --legacy` as an operator
types them, against a devnet started with `indexbot devnet up` in a temporary home."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.chain.profile import load_profile
from devnet import cli
from devnet.anvil import free_port
from devnet.rpc import Sender, connect, contract


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_collect_fees_lock_and_a_legacy_rebalance_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", "--home", str(tmp_path), *argv]))

    try:
        assert await run("up", "--port", str(free_port())) == 0
        capsys.readouterr()
        profile = load_profile(cli.Paths(tmp_path).profile)
        assert await run("collect-fees") == 0  # deployed moments ago: nothing due on any index
        out = capsys.readouterr().out
        assert out.count("nothing to collect") == 4 and "0.00411% a day" in out, out
        assert await run("advance", "1d") == 0
        capsys.readouterr()
        assert await run("collect-fees", "mag7") == 0
        out = capsys.readouterr().out
        assert out.startswith("MAG7.ssi: collected 1 day(s) of fee at 0.00411% a day: NAV $") and "next due" in out, out

        assert profile.soso is not None and profile.soso_staking is not None
        async with connect(profile.rpc_urls[0]) as w3:  # the deployer stakes 100 SOSO
            owner = Sender(w3, chain_id=profile.chain_id)
            await owner.transact(contract(w3, "TestToken", profile.soso.address).functions.approve(
                profile.soso_staking.address, 100 * 10**18))
            await owner.transact(contract(w3, "StakeToken", profile.soso_staking.address).functions.stake(100 * 10**18))
            me = owner.address
        assert await run("lock", "sSOSO", me, "30") == 0
        assert capsys.readouterr().out.strip() == f"sSOSO of {me}: locked 30; now locked 30, available 70 of 100 staked"
        assert await run("lock", "sSOSO", me, "80") == 2  # more than is available: the contract refuses
        assert "insufficient available" in capsys.readouterr().out
        assert await run("lock", "sSOSO", me, "10", "--release") == 0
        assert "now locked 20, available 80 of 100 staked" in capsys.readouterr().out
        for bad in (("lock", "sBTC", me, "1"), ("lock", "sSOSO", "0x12", "1"), ("lock", "sSOSO", me, "ten"),
                    ("collect-fees", "NOPE")):
            assert await run(*bad) == 2
            assert capsys.readouterr().out.startswith("error: ")

        assert await run("rebalance", "mag7", "--legacy") == 0
        assert "MAG7.ssi rebalanced" in capsys.readouterr().out
    finally:
        assert await run("down") == 0
