"""The daily points snapshot at scale: RPC round trips and seconds to read and credit 10,000 linked wallets.

Starts its own devnet (anvil from node_modules, protocol from the state cache) and a bot, then:
- links N wallets to N users by inserting users and wallets rows straight into the bot's SQLite file
  (addresses from sha256 seeds through eth_account, so the same N gives the same wallets every run);
- gives a fraction of them index tokens held, staked tokens and staked SOSO by writing their ERC-20
  `balanceOf` slots with `anvil_setStorageAt` (the devnet's ERC20.sol keeps balanceOf at slot 3), in JSON-RPC
  batches: no transactions, so the setup takes seconds;
- times `Snapshotter.run(day)`, one day per batch size (`--batch 300,1000`: wallets per Multicall3 eth_call;
  each day reads every wallet again), then runs the first day again: already credited, nothing is read.
Round trips are counted by the HTTP provider (`Chain.round_trips`).

    .venv/bin/python bench/snapshot.py [--wallets 10000] [--funded 0.25] [--batch 300]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quote import machine  # noqa: E402
from bot.chain import protocol as p  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from bot.points.snapshot import Snapshotter  # noqa: E402
from devnet.harness import Devnet  # noqa: E402

DAY = date(2026, 11, 20)
BALANCE_SLOT = 3  # devnet/contracts/ERC20.sol: name, symbol, totalSupply, then balanceOf (decimals is immutable)


def addresses(n: int) -> list[str]:
    return [Account.from_key(hashlib.sha256(f"indexbot-bench-{i}".encode()).digest()).address for i in range(n)]


def balance_slot(holder: str) -> str:
    return "0x" + keccak(bytes.fromhex(holder[2:].rjust(64, "0")) + BALANCE_SLOT.to_bytes(32, "big")).hex()


async def set_balances(url: str, writes: list[tuple[str, str, int]]) -> int:
    """(token, holder, units) through anvil_setStorageAt, 1,000 to a JSON-RPC batch; returns the batches sent."""
    sent = 0
    async with aiohttp.ClientSession() as http:
        for start in range(0, len(writes), 1000):
            batch = [{"jsonrpc": "2.0", "id": i, "method": "anvil_setStorageAt",
                      "params": [token, balance_slot(holder), "0x" + units.to_bytes(32, "big").hex()]}
                     for i, (token, holder, units) in enumerate(writes[start:start + 1000])]
            async with http.post(url, json=batch) as reply:
                answers: list[dict[str, Any]] = await reply.json()
            errors = [a for a in answers if "error" in a]
            if errors:
                raise RuntimeError(f"anvil_setStorageAt failed: {errors[0]}")
            sent += 1
    return sent


async def link_wallets(app: App, wallets: list[str]) -> None:
    async with app.db.transaction() as tx:
        await tx.execute_many("INSERT INTO users (id, platform, platform_user_id, created_at, last_seen_at) VALUES (:id, 'bench', :name, 0, 0)",
                              [{"id": i + 1, "name": str(i + 1)} for i in range(len(wallets))])
        await tx.execute_many("INSERT INTO wallets (user_id, kind, address, created_at) VALUES (:user, 'connected', :address, 0)",
                              [{"user": i + 1, "address": a} for i, a in enumerate(wallets)])


async def fund(app: App, wallets: list[str], fraction: float) -> tuple[int, int]:
    """Index tokens held for the funded fraction, half of them staked too, a fifth with SOSO staked."""
    funded = wallets[: int(len(wallets) * fraction)]
    writes: list[tuple[str, str, int]] = []
    for i, holder in enumerate(funded):
        ref = app.profile.indexes[i % len(app.profile.indexes)]
        writes.append((ref.token.address, holder, (1 + i % 50) * 10**ref.token.decimals))
        if i % 2 == 0 and ref.staking is not None:
            writes.append((ref.staking.address, holder, (1 + i % 7) * 10**ref.staking.decimals))
        if i % 5 == 0 and app.profile.soso_staking is not None:
            writes.append((app.profile.soso_staking.address, holder, (1 + i % 300) * 10**app.profile.soso_staking.decimals))
    await set_balances(app.profile.rpc_urls[0], writes)
    first = app.profile.indexes[0]
    (units,) = await app.chain.call(first.token.address, p.BALANCE_OF, funded[0])
    assert int(units) == 10**first.token.decimals, "balanceOf slot mismatch: ERC20.sol's layout changed?"
    return len(funded), len(writes)


async def run(n: int, fraction: float, batches: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")
        app = await App.start(Config(home=Path(tmp), chain=str(net.profile_path), web=WebSettings(port=0)), track_head=False)
        try:
            points = app.services.points
            assert points is not None
            started = time.perf_counter()
            wallets = addresses(n)
            await link_wallets(app, wallets)
            funded, writes = await fund(app, wallets, fraction)
            print(f"machine: {machine()}")
            print(f"setup: {n} wallets linked, {funded} funded ({writes} balances set), {time.perf_counter() - started:.1f} s")
            for k, batch in enumerate(batches):
                snapshotter = Snapshotter(app.db, app.chain, app.services.market, app.profile, points.ledger,
                                          replace(points.config, batch_wallets=batch))
                day = DAY + timedelta(days=k)
                cpu = time.process_time()
                result = await snapshotter.run(day)
                cpu = time.process_time() - cpu
                holdings = await app.db.fetch_one("SELECT COUNT(*) FROM point_holdings WHERE day = :day", {"day": day.isoformat()})
                print(f"snapshot {day} batch {batch}: {result.wallets} wallets read, {holdings[0] if holdings else 0} holdings, "
                      f"credited {result.credited}, {result.round_trips} round trips, {result.seconds:.2f} s, "
                      f"bot CPU {cpu:.2f} s, {result.wallets / result.seconds:.0f} wallets/s")
            again = await points.snapshot.run(DAY)
            print(f"snapshot {DAY} again: {again.wallets} wallets read, credited {again.credited}, "
                  f"{again.round_trips} round trips, {again.seconds * 1000:.1f} ms")
        finally:
            await app.stop()
            await net.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--funded", type=float, default=0.25, help="fraction of the wallets given balances")
    parser.add_argument("--batch", default="300", help="wallets per eth_call, comma-separated for several runs")
    args = parser.parse_args()
    asyncio.run(run(args.wallets, args.funded, [int(b) for b in args.batch.split(",")]))


if __name__ == "__main__":
    main()
