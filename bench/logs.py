"""Log reads through a provider's caps, and locked LP in the points snapshot: round trips and time.

Starts its own devnet (anvil from node_modules, protocol from the state cache), then:
- events: N USDC transfers from the deployer spread evenly over R blocks (`anvil_mine` between them), read with
  `Chain.logs` (the chunked reader, `log_range_blocks` 5,000 as the profile default) straight from anvil and through
  tests/rpc_proxy.py (a JSON-RPC proxy on loopback) capping eth_getLogs as providers do: 2,000 blocks in Alchemy's
  words, 500 in QuickNode's, 10,000 blocks and 30 results in Infura's, 1,000 blocks in words that name no limit
  (halving). Each read must return the same N logs as the uncapped one; eth_getLogs round trips (accepted and
  refused) and seconds are reported;
- snapshot: W wallets linked to a bot (rows written to its SQLite file, as bench/snapshot.py does), L of them with
  real LP locked in AssetLocking (`devnet.operator.provide_and_lock`), then one `Snapshotter.run(day)` with
  `batch_wallets` 300: round trips by method, the lockDatas calls carried in the balance batches, the locked holdings.

    .venv/bin/python bench/logs.py [--events 200] [--blocks 20000] [--wallets 1000] [--locked 20]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench.quote import machine  # noqa: E402
from bench.snapshot import link_wallets  # noqa: E402
from bot.chain import protocol as p  # noqa: E402
from bot.app import App  # noqa: E402
from bot.chain.client import Call, Chain  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from bot.points.snapshot import Snapshotter  # noqa: E402
from devnet import operator as op  # noqa: E402
from devnet.anvil import node_call  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from devnet.rpc import DEPLOYER_KEY, Sender, connect, contract  # noqa: E402
from rpc_proxy import RpcProxy  # noqa: E402

DAY = date(2026, 11, 20)
CAPS = [  # (label, proxy settings)
    ("uncapped (anvil through the proxy)", {}),
    ("2,000 blocks, Alchemy's words", {"max_blocks": 2_000, "style": "alchemy"}),
    ("500 blocks, QuickNode's words (HTTP 413)", {"max_blocks": 500, "style": "quicknode"}),
    ("10,000 blocks and 30 results, Infura's words", {"max_blocks": 10_000, "max_results": 30, "style": "infura"}),
    ("1,000 blocks, no limit named (halving)", {"max_blocks": 1_000, "style": "unnumbered"}),
]


async def make_events(url: str, profile: Any, n: int, blocks: int) -> tuple[int, int]:
    """N transfers, one every blocks/N blocks; (first block, last block)."""
    async with connect(url) as w3:
        first = int(await w3.eth.block_number) + 1
        me = Sender(w3, chain_id=profile.chain_id)
        usdc = contract(w3, "TestToken", profile.usdc.address)
        gap = max(0, blocks // n - 1)
        for _ in range(n):
            await me.transact(usdc.functions.transfer(Account.create().address, 1))
            if gap:
                await node_call(w3, "anvil_mine", hex(gap))
        return first, int(await w3.eth.block_number)


async def read_events(net: Devnet, n: int, blocks: int) -> None:
    first, last = await make_events(net.url, net.profile, n, blocks)
    topics = [p.TRANSFER_TOPIC, "0x" + Account.from_key(DEPLOYER_KEY).address[2:].lower().rjust(64, "0")]
    print(f"events: {n} transfers over blocks {first}..{last} ({last - first + 1} blocks), reader range 5,000")
    for label, settings in CAPS:
        async with RpcProxy(net.url, **settings) as proxy:  # type: ignore[arg-type]
            chain = Chain([proxy.url], net.profile.multicall3)
            try:
                t = time.perf_counter()
                logs = await chain.logs(net.profile.usdc.address, topics, first, last)
                seconds = time.perf_counter() - t
            finally:
                await chain.close()
        assert len(logs) == n, (label, len(logs))
        refused = len(proxy.asked) - len(proxy.ok())
        print(f"  {label}: {len(proxy.asked)} eth_getLogs ({len(proxy.ok())} answered, {refused} refused), "
              f"{seconds:.2f} s, windows learned {chain.log_reader.span} blocks")


async def lock_for(net: Devnet, keys: list[str]) -> None:
    index = net.profile.index("MAG7.ssi").token.address
    for key in keys:
        await op.fund(net.profile, Account.from_key(key).address, usdc=Decimal(1_000), eth=Decimal(1))
    async with connect(net.url) as w3:
        owner = Sender(w3, chain_id=net.profile.chain_id)
        for key in keys:
            await owner.transact(contract(w3, "AssetToken", index).functions.transfer(Account.from_key(key).address, 20 * 10**8))
    for key in keys:
        await op.provide_and_lock(net.profile, key, Decimal(100))


async def snapshot(net: Devnet, home: Path, wallets: int, locked: int) -> None:
    keys = ["0x" + hashlib.sha256(f"indexbot-bench-logs-{i}".encode()).hexdigest() for i in range(wallets)]
    t = time.perf_counter()
    await lock_for(net, keys[:locked])
    app = await App.start(Config(home=home, chain=str(net.profile_path), web=WebSettings(port=0)), track_head=False)
    try:
        points = app.services.points
        assert points is not None
        await link_wallets(app, [Account.from_key(k).address for k in keys])
        print(f"snapshot: {wallets} wallets linked, {locked} with LP locked, setup {time.perf_counter() - t:.1f} s")
        sent: list[list[Call]] = []
        real = app.chain.multicall

        async def counted(calls: Any, block: Any = "latest") -> Any:
            sent.append(list(calls))
            return await real(calls, block)

        app.chain.multicall = counted  # type: ignore[method-assign]
        snapshotter = Snapshotter(app.db, app.chain, app.services.market, app.profile, points.ledger,
                                  replace(points.config, batch_wallets=300))
        before = app.chain.method_counts()
        result = await snapshotter.run(DAY)
        methods = dict(app.chain.method_counts() - before)
        batches = [c for c in sent if any(call.fn is p.BALANCE_OF for call in c)]
        lock_calls = sum(1 for c in batches for call in c if call.fn is p.LOCK_DATAS)
        row = await app.db.fetch_one("SELECT COUNT(*) FROM point_holdings WHERE day = :day AND source = 'locked'",
                                     {"day": DAY.isoformat()})
        print(f"  batch 300: {result.round_trips} round trips {methods}, {len(batches)} wallet batches carrying "
              f"{lock_calls} lockDatas calls ({sum(len(c) for c in batches)} calls in all), "
              f"{row[0] if row else 0} locked holdings, {result.seconds:.2f} s")
    finally:
        await app.stop()


async def run(events: int, blocks: int, wallets: int, locked: int) -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")
        try:
            await read_events(net, events, blocks)
            await snapshot(net, Path(tmp), wallets, locked)
        finally:
            await net.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=20_000)
    parser.add_argument("--wallets", type=int, default=1_000)
    parser.add_argument("--locked", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.blocks, args.wallets, args.locked))


if __name__ == "__main__":
    main()
