"""Staking speed on the devnet (anvil mining every transaction at once): /positions reads and the stake flow.

- /positions: N custodial wallets, each holding MAG7.ssi, staking some, with an unstake cooling down and SOSO
  staked (set up through the bot's own /stake, /unstake and /boost add), then R `/positions` typed through the
  router, round-robin over the wallets (every read is for another wallet than the one before: cold; position
  reads are never cached anyway). RPC round trips per read are counted by the HTTP provider; the head
  tracker's background polls (eth_blockNumber) are reported apart. The bot's own CPU per read excludes anvil.
- the stake flow: M users one after another type `/stake MAG7 <amount>` and press Confirm until "Confirmed in
  block" (an exact approval plus stake()), then `/unstake MAG7 <amount>` + Confirm, then a second
  `/unstake MAG7 <amount>`, which warns that it restarts the cooldown, + "Restart cooldown and unstake".
  Timed from the typed command to the confirmed reply, with the offer and the Confirm parts apart; round
  trips per flow by method (eth_blockNumber included: the tracker polls every 0.1 s while following a trade).

    .venv/bin/python bench/positions.py [--wallets 30] [--reads 500] [--stakers 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench.quote import machine  # noqa: E402
from bench.trade import pct  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from bot.core.router import Outcome  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from devnet.rpc import Sender, connect, contract  # noqa: E402
from auxil.trading import click, funded_user, say  # noqa: E402

POLL = "eth_blockNumber"  # the head tracker's


def labels(outcome: Outcome) -> list[str]:
    return [b.label for row in outcome.rendered.buttons for b in row]


async def holder(app: App, user: str, mag7: int, soso: int) -> str:
    """A custodial wallet with 1 ETH, `mag7` MAG7.ssi and `soso` SOSO (minted by the deployer)."""
    _, address = await funded_user(app, user, usdc=Decimal(0), eth=Decimal(1))
    token, s = app.profile.index("MAG7.ssi").token, app.profile.soso
    assert s is not None
    async with connect(app.profile.rpc_urls[0]) as w3:
        sender = Sender(w3, chain_id=app.profile.chain_id)
        await sender.transact(contract(w3, "AssetToken", token.address).functions.mint(address, mag7 * 10**token.decimals))
        if soso:
            await sender.transact(contract(w3, "TestToken", s.address).functions.mint(address, soso * 10**s.decimals))
    return str(address)


class Flow:
    """One kind of staking step timed over many users: offer, Confirm, both, and round trips by method."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.offer: list[float] = []
        self.confirm: list[float] = []
        self.total: list[float] = []
        self.trips: Counter[str] = Counter()

    async def run(self, app: App, user: str, typed: str, label: str) -> None:
        before = app.chain.method_counts()
        t0 = time.perf_counter()
        offer = await say(app, typed, user=user)
        t1 = time.perf_counter()
        assert label in labels(offer), offer.rendered.text
        done = await click(app, offer, label, user=user)
        t2 = time.perf_counter()
        assert "Confirmed in block" in done.rendered.text, done.rendered.text
        self.trips += app.chain.method_counts() - before
        self.offer.append((t1 - t0) * 1000)
        self.confirm.append((t2 - t1) * 1000)
        self.total.append((t2 - t0) * 1000)

    def report(self) -> None:
        n = len(self.total)

        def ms(v: list[float]) -> str:
            return f"p50 {statistics.median(v):.1f} ms, p95 {pct(v, 0.95):.1f} ms"

        trips = sum(self.trips.values()) / n
        methods = ", ".join(f"{m} {c / n:.2f}" for m, c in sorted(self.trips.items(), key=lambda kv: -kv[1]))
        print(f"  {self.name} ({n} users): typed -> confirmed {ms(self.total)} ({1000 * n / sum(self.total):.1f}/s one after another)")
        print(f"    offer {ms(self.offer)}; Confirm -> confirmed {ms(self.confirm)}")
        print(f"    round trips per flow {trips:.2f}: {methods}")


async def run(wallets: int, reads: int, stakers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")
        app = await App.start(Config(home=Path(tmp), chain=str(net.profile_path), web=WebSettings(port=0)))
        try:
            reader = app.services.positions
            assert app.services.desks.home is not None and reader is not None

            # -- the stake flow, M users one after another ------------------------------------------------
            stake, unstake, restart = Flow("/stake MAG7 5 + Confirm (approve + stake)"), Flow(
                "/unstake MAG7 1 + Confirm"), Flow("/unstake MAG7 1 again + Restart cooldown and unstake")
            await holder(app, "warmup", 10, 0)
            await Flow("warm-up").run(app, "warmup", "/stake MAG7 1", "Confirm")
            for i in range(stakers):
                user = f"s{i}"
                await holder(app, user, 10, 0)
                await stake.run(app, user, "/stake MAG7 5", "Confirm")
                await unstake.run(app, user, "/unstake MAG7 1", "Confirm")
                await restart.run(app, user, "/unstake MAG7 1", "Restart cooldown and unstake")

            # -- /positions: N wallets with held, staked, cooling and SOSO staked ----------------------------
            users = [f"p{i}" for i in range(wallets)]
            addresses = {}
            setup = Flow("setup")
            for u in users:
                addresses[u] = await holder(app, u, 10, 200)
                await setup.run(app, u, "/stake MAG7 6", "Confirm")
                await setup.run(app, u, "/unstake MAG7 2", "Confirm")
                await setup.run(app, u, "/boost add 100", "Confirm")
            await app.head.poll_once()
            sample = (await say(app, "/positions", user=users[0])).rendered.text  # also warms up
            got = await reader.read(addresses[users[0]])
            mag7 = next(p for p in got.indexes if p.symbol == "MAG7.ssi")
            assert got.soso is not None and (mag7.held, mag7.staked, mag7.cooling_down, got.soso.staked) == (
                Decimal(4), Decimal(4), Decimal(2), Decimal(100)), got
            assert "MAG7.ssi" in sample and "SOSO" in sample, sample

            before = app.chain.method_counts()
            latencies = []
            cpu = time.process_time()
            started = time.perf_counter()
            for i in range(reads):
                t = time.perf_counter()
                reply = await say(app, "/positions", user=users[i % wallets])
                latencies.append((time.perf_counter() - t) * 1000)
                assert addresses[users[i % wallets]] in reply.rendered.text, reply.rendered.text
            wall = time.perf_counter() - started
            cpu_ms = (time.process_time() - cpu) / reads * 1000
            counts = app.chain.method_counts() - before
            polls = counts.pop(POLL, 0)

            direct, before = [], app.chain.method_counts()
            for i in range(reads):
                t = time.perf_counter()
                await reader.read(addresses[users[i % wallets]])
                direct.append((time.perf_counter() - t) * 1000)
            direct_counts = app.chain.method_counts() - before
            direct_counts.pop(POLL, 0)
            block = app.head.head
        finally:
            await app.stop()
            await net.stop()

    trips = sum(counts.values()) / reads
    methods = ", ".join(f"{m} {c / reads:.2f}" for m, c in sorted(counts.items()))
    print(f"machine: {machine()}")
    print(f"chain: anvil (devnet) on loopback, block {block}")
    print(f"/positions through the router: {reads} reads over {wallets} wallets (held + staked + cooling + SOSO staked), "
          f"round trips per read {trips:.2f} ({methods}), {reads / wall:.1f} reads/s, "
          f"p50 {statistics.median(latencies):.2f} ms, p95 {pct(latencies, 0.95):.2f} ms, "
          f"bot CPU {cpu_ms:.2f} ms per read (anvil's work excluded)")
    print(f"  PositionReader.read alone: round trips per read {sum(direct_counts.values()) / reads:.2f}, "
          f"p50 {statistics.median(direct):.2f} ms, p95 {pct(direct, 0.95):.2f} ms")
    print(f"  head tracker polls during the reads: {polls} (independent of the reads)")
    print("stake flow, one user after another (typed command -> 'Confirmed in block'):")
    for flow in (stake, unstake, restart):
        flow.report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=30, help="distinct wallets read by /positions")
    parser.add_argument("--reads", type=int, default=500, help="/positions reads, round-robin over the wallets")
    parser.add_argument("--stakers", type=int, default=30, help="users going through /stake and /unstake one after another")
    args = parser.parse_args()
    asyncio.run(run(args.wallets, args.reads, args.stakers))


if __name__ == "__main__":
    main()
