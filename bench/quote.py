"""Quote speed: RPC round trips per quote and quotes per second, cold and warm.

Starts its own devnet (anvil from node_modules, protocol from the state cache) and a full bot, then:
- cold: N quotes for N different amounts (every one a cache miss) at the current block;
- warm: N quotes of one amount in the same block (served from the per-block cache).
Round trips are counted by the HTTP provider itself. Wall-clock rates swing with the machine's load (anvil
shares its cores); the bot's own CPU time per quote is the steadier figure to compare changes by. The head tracker's background polls
(eth_blockNumber, once per half block time) are reported apart: they do not depend on the number of quotes.

    .venv/bin/python bench/quote.py [--n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from devnet.harness import Devnet  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


async def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")
        app = await App.start(Config(home=Path(tmp), chain=str(net.profile_path), web=WebSettings(port=0)))
        try:
            market, ref = app.services.market, app.profile.index("MAG7.ssi")
            await market.quote(ref, "buy", Decimal(1))  # warm up connections and imports

            def quote_calls() -> int:
                return app.chain.method_counts()["eth_call"]

            polls_before = app.chain.method_counts()["eth_blockNumber"]
            calls, latencies = quote_calls(), []
            cpu = time.process_time()
            started = time.perf_counter()
            for i in range(n):
                t = time.perf_counter()
                await market.quote(ref, "buy", Decimal(100 + i))
                latencies.append(time.perf_counter() - t)
            cold_s = time.perf_counter() - started
            cold_cpu = time.process_time() - cpu
            cold_trips = quote_calls() - calls

            calls = quote_calls()
            started = time.perf_counter()
            for _ in range(n):
                await market.quote(ref, "buy", Decimal(100))
            warm_s = time.perf_counter() - started
            warm_trips = quote_calls() - calls
            polls = app.chain.method_counts()["eth_blockNumber"] - polls_before

            print(f"machine: {machine()}")
            print(f"chain: anvil (devnet) on loopback, block {app.head.head}")
            print(f"cold quotes: {n}, round trips per quote {cold_trips / n:.2f}, {n / cold_s:.1f} quotes/s, "
                  f"p50 {statistics.median(latencies) * 1000:.2f} ms, p95 {statistics.quantiles(latencies, n=20)[18] * 1000:.2f} ms, "
                  f"bot CPU {cold_cpu / n * 1000:.2f} ms per quote (anvil's work excluded)")
            print(f"warm quotes: {n}, round trips per quote {warm_trips / n:.2f}, {n / warm_s:.0f} quotes/s")
            print(f"head tracker polls during the run: {polls} (every {app.head.interval:.2f} s, independent of quotes)")
        finally:
            await app.stop()
            await net.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    asyncio.run(run(parser.parse_args().n))


if __name__ == "__main__":
    main()
