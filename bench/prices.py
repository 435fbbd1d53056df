"""Price reads: chain round trips and Hermes requests per quote, with Chainlink-only prices and with some
constituents priced by Pyth (through the devnet's Hermes stand-in on loopback), cold (a new block) and warm.

Starts its own devnet and two bots on it: one on a copy of the devnet profile with every Pyth source removed
(Chainlink only; SOSO still from its pool's TWAP, read in the same batch), one on the devnet profile itself
(DOGE, ADA, UNI, WIF and BONK priced by Pyth first). For each, N times: mine a block, tell the head tracker,
quote MAG7.ssi (cold: nothing of that block is cached), then quote it again (warm). Round trips are counted by
the chain's HTTP provider (eth_call only: the head tracker's polls are apart) and by the Hermes client.

    .venv/bin/python bench/prices.py [--n 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quote import machine  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from devnet import operator  # noqa: E402
from devnet.harness import Devnet  # noqa: E402


def chainlink_only(profile_path: Path, out: Path) -> Path:
    data: dict[str, Any] = tomllib.loads(profile_path.read_text())
    data["prices"] = {s: [x for x in srcs if x["source"] != "pyth"] for s, srcs in data["prices"].items()}
    out.write_text(tomli_w.dumps(data))
    return out


async def measure(net: Devnet, profile: Path, home: Path, n: int) -> str:
    app = await App.start(Config(home=home, chain=str(profile), web=WebSettings(port=0)))
    try:
        market, ref = app.services.market, app.profile.index("MAG7.ssi")
        await market.quote(ref, "buy", Decimal(1))  # connections and imports
        hermes = market.hermes

        def counts() -> tuple[int, int]:
            return app.chain.method_counts()["eth_call"], hermes.requests if hermes is not None else 0

        cold: list[float] = []
        warm: list[float] = []
        stand_in: list[float] = []
        cold_calls = cold_hermes = warm_calls = warm_hermes = snap_calls = snap_hermes = 0
        for _ in range(n):
            await operator.advance(net.url, 1)
            await app.head.poll_once()
            c0, h0 = counts()
            t = time.perf_counter()
            await market.quote(ref, "buy", Decimal(100))
            cold.append(time.perf_counter() - t)
            c1, h1 = counts()
            t = time.perf_counter()
            await market.quote(ref, "buy", Decimal(100))
            warm.append(time.perf_counter() - t)
            c2, h2 = counts()
            await market.snapshot()  # another read of the same block: the block's Hermes answer is shared
            c3, h3 = counts()
            cold_calls, cold_hermes = cold_calls + c1 - c0, cold_hermes + h1 - h0
            warm_calls, warm_hermes = warm_calls + c2 - c1, warm_hermes + h2 - h1
            snap_calls, snap_hermes = snap_calls + c3 - c2, snap_hermes + h3 - h2
            if hermes is not None and net.hermes is not None:
                t = time.perf_counter()
                await net.hermes.source(market.book.pyth_ids())  # the stand-in's own work: it reads the devnet's feeds
                stand_in.append(time.perf_counter() - t)
        pyth = sorted({s for s, srcs in app.profile.prices.items() if s in market.setup.constituents.get(ref.symbol, ())
                       and srcs[0].kind == "pyth"})
        return (f"  Pyth-first constituents of MAG7.ssi: {', '.join(pyth) or 'none'}\n"
                f"  cold (new block): {cold_calls / n:.2f} chain round trips + {cold_hermes / n:.2f} Hermes requests per quote, "
                f"p50 {statistics.median(cold) * 1000:.2f} ms, p95 {statistics.quantiles(cold, n=20)[18] * 1000:.2f} ms\n"
                f"  warm (same quote, same block): {warm_calls / n:.2f} chain round trips + {warm_hermes / n:.2f} "
                f"Hermes requests, p50 {statistics.median(warm) * 1000:.3f} ms\n"
                f"  a snapshot of the same block after it: {snap_calls / n:.2f} chain round trips + {snap_hermes / n:.2f} "
                f"Hermes requests" + (f"\n  the stand-in's own answer (it reads {len(market.book.pyth_ids())} devnet feeds "
                                      f"per request): p50 {statistics.median(stand_in) * 1000:.2f} ms" if stand_in else ""))
    finally:
        await app.stop()


async def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")
        try:
            print(f"machine: {machine()}")
            print(f"{n} blocks, MAG7.ssi buy quote of 100 USDC each; Hermes: the devnet's stand-in on 127.0.0.1")
            only = chainlink_only(net.profile_path, net.profile_path.parent / "chainlink-only.toml")  # beside its companions
            print("Chainlink only:")
            print(await measure(net, only, Path(tmp) / "a", n))
            print("With Pyth-priced constituents:")
            print(await measure(net, net.profile_path, Path(tmp) / "b", n))
        finally:
            await net.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50)
    asyncio.run(run(parser.parse_args().n))


if __name__ == "__main__":
    main()
