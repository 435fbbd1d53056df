"""Trade speed on the devnet (anvil mining every transaction at once).

- latency: N buys one after another from one wallet, timed from the Confirm press to the "confirmed" reply
  (the edit of the quote message), and from the moment the last transaction was accepted by the node (which,
  mining instantly, is when its block exists) to that reply;
- throughput: 50 wallets each confirm a buy at the same moment; trades per second over the whole batch.

    .venv/bin/python bench/trade.py [--n 30] [--wallets 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench.quote import machine  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from auxil.trading import click, funded_user, say  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def run(n: int, wallets: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")
        app = await App.start(Config(home=Path(tmp), chain=str(net.profile_path), web=WebSettings(port=0)))
        try:
            x = app.services.desks.home
            assert x is not None
            mined_at: list[float] = []

            async def stamp(point: str) -> None:
                if point == "after_broadcast":
                    mined_at.append(time.perf_counter())

            x.fault = stamp
            await funded_user(app, "solo", usdc=Decimal(1_000_000), eth=Decimal(10))
            total, after_block = [], []
            for i in range(n):
                quoted = await say(app, f"/buy MAG7.ssi {10 + i}", user="solo")
                t = time.perf_counter()
                done = await click(app, quoted, "Confirm", user="solo")
                end = time.perf_counter()
                assert "Confirmed in block" in done.rendered.text, done.rendered.text
                total.append((end - t) * 1000)
                after_block.append((end - mined_at[-1]) * 1000)

            users = [f"w{i}" for i in range(wallets)]
            for u in users:
                await funded_user(app, u, usdc=Decimal(10_000), eth=Decimal(1))
            quotes = [await say(app, "/buy MAG7.ssi 25", user=u) for u in users]
            t = time.perf_counter()
            results = await asyncio.gather(*(click(app, q, "Confirm", user=u) for q, u in zip(quotes, users)))
            wall = time.perf_counter() - t
            ok = sum("Confirmed in block" in r.rendered.text for r in results)
        finally:
            await app.stop()
            await net.stop()
    print(f"machine: {machine()}")
    print(f"latency over {n} sequential buys (approve + swap each):")
    print(f"  Confirm -> confirmed reply: p50 {statistics.median(total):.1f} ms, p95 {pct(total, 0.95):.1f} ms")
    print(f"  block (node accepted, instant mining) -> confirmed reply: p50 {statistics.median(after_block):.1f} ms, "
          f"p95 {pct(after_block, 0.95):.1f} ms, max {max(after_block):.1f} ms")
    print(f"throughput: {ok}/{wallets} wallets confirmed at once in {wall:.2f} s = {ok / wall:.1f} trades/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--wallets", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.n, args.wallets))


if __name__ == "__main__":
    main()
