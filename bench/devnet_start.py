"""The embedded devnet's start with its saved chain (issue 14 §4: a second `make run` within 1 s).

Starts `Devnet.start(persist=True)` in a temporary directory (the first start boots from the deploy cache,
deploying first if there is none), sends `--txs` ETH transfers from anvil's dev account so the saved chain holds
some history, stops it (the final dump), then starts and stops it `--restarts` times, each loading the saved
state. Per start: seconds until `Devnet.start` returned (anvil up with the state loaded, profiles pointed at the
new port, feeds re-stamped when the chain sat idle over ten minutes), and the stop's seconds (the last dump); the
state file's size. The restarts run twice: right after each other (no re-stamp), and with the re-stamp forced
(as after a night: `make run` the next morning).

    .venv/bin/python bench/devnet_start.py [--restarts 5] [--txs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quote import machine  # noqa: E402
from eth_utils.address import to_checksum_address  # noqa: E402

from devnet import harness  # noqa: E402
from devnet.harness import STATE_FILE, Devnet  # noqa: E402
from devnet.rpc import connect  # noqa: E402


async def timed_start(home: Path) -> tuple[Devnet, float]:
    started = time.perf_counter()
    net = await Devnet.start(home, fulfil=True, persist=True)
    return net, time.perf_counter() - started


async def timed_stop(net: Devnet) -> float:
    started = time.perf_counter()
    await net.stop()
    return time.perf_counter() - started


async def run(restarts: int, txs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "embedded-devnet"
        net, first = await timed_start(home)
        async with connect(net.url) as w3:
            me = (await w3.eth.accounts)[0]
            for i in range(txs):
                await w3.eth.send_transaction({"from": me, "to": to_checksum_address("0x" + f"{i + 1:040x}"), "value": 1})
            blocks = await w3.eth.block_number
        stop = await timed_stop(net)
        print(f"machine: {machine()}")
        print(f"first start (deploy cache): {first:.3f} s; {txs} transfers, {blocks} blocks; stop {stop:.3f} s")
        for label, idle in (("right after", harness.RESTAMP_AFTER_SECONDS), ("after a night (feeds re-stamped)", -10**9)):  # always, whatever the idle time
            harness.RESTAMP_AFTER_SECONDS = idle
            starts, stops = [], []
            for _ in range(restarts):
                net, seconds = await timed_start(home)
                assert net.restored
                starts.append(seconds)
                stops.append(await timed_stop(net))
            size = (home / STATE_FILE).stat().st_size
            print(f"second start {label}, {restarts} runs: p50 {statistics.median(starts):.3f} s, "
                  f"max {max(starts):.3f} s; stop (last dump) p50 {statistics.median(stops):.3f} s; "
                  f"state file {size / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--txs", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.restarts, args.txs))


if __name__ == "__main__":
    main()
