"""Issuance venue speed on the devnet (anvil mining every transaction at once): MAG7.nex quotes and the order watch.

Starts its own devnet (the stock index's factory in the companion profile stocks.toml, no fulfilment process
running: requests stay pending until this script steps `devnet.fulfil.Fulfiller` itself) and a full bot, then:
- /quote MAG7.nex 100 typed through the router: the first one after start, then N cold (the reader's token
  metadata, symbol, decimals and feed of each constituent, forgotten before each) and N warm (kept), all in
  the same block;
- the factory read alone, on a `FactoryReader` of the bot's own chain connection: `read()` cold (a new
  reader each time) and warm, each Multicall3 round trip timed, and `quote()` on the state read (no chain);
- one `Orders.check()` pass (the job `orders:watch`, every `[issuance] watch_seconds`) with 0, 10 and 100
  pending orders, each a real request: a custodial `/buy MAG7.nex 100` + Confirm (an exact approval and
  `issuanceIndexTokens`) from a few funded wallets, left pending because nothing fills them;
- a pass that settles N orders the fulfiller just filled (completeIssuance mined for each), telling each user
  through the outbox: the pass alone, and until the last edit reached the front end (a recording one); the
  time inside the pass's status eth_call, its eth_getLogs (one per filled order), outbox inserts and settle
  UPDATEs; and, for comparison, one eth_getLogs fetching the same N fills (a topic OR list of the nonces).
Round trips are counted by the HTTP provider by method; the head tracker's eth_blockNumber polls are left out.

    .venv/bin/python bench/issuance.py [--n 200] [--passes 50] [--pending 10,100] [--settle 1,10,100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench.quote import machine  # noqa: E402
from bench.trade import pct  # noqa: E402
from bot.chain import protocol as proto  # noqa: E402
from bot.app import App  # noqa: E402
from bot.chain.client import Chain  # noqa: E402
from bot.config import Config, WebSettings  # noqa: E402
from bot.issuance.factory import FactoryReader, quote  # noqa: E402
from bot.issuance.hours import ALWAYS_OPEN  # noqa: E402
from bot.issuance.orders import Orders  # noqa: E402
from devnet.harness import Devnet  # noqa: E402
from auxil.trading import Recorder, click, funded_user, say  # noqa: E402

POLL = "eth_blockNumber"  # the head tracker's
INDEX = "MAG7.nex"
TYPED = f"/quote {INDEX} 100"


def ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.2f} ms, p95 {pct(values, 0.95):.2f} ms, max {max(values):.2f} ms"


def per(counts: Counter[str], n: int) -> str:
    total = sum(counts.values()) / n
    methods = ", ".join(f"{m} {c / n:.2f}" for m, c in sorted(counts.items()))
    return f"{total:.2f}" + (f" ({methods})" if methods else "")


class TimedChain:
    """The bot's chain connection with each `multicall` (one eth_call) timed: where a factory read spends its time."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.trips: list[list[float]] = []  # per read, each round trip's ms

    async def multicall(self, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await self.chain.multicall(*args, **kwargs)
        finally:
            self.trips[-1].append((time.perf_counter() - t) * 1000)


class Spent:
    """Time spent inside some of an object's methods, by name (a bench wraps the instance's attributes)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def wrap(self, obj: Any, method: str, label: str) -> None:
        inner = getattr(obj, method)

        async def timed_call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                self.ms[label] = self.ms.get(label, 0.0) + (time.perf_counter() - t) * 1000

        setattr(obj, method, timed_call)


class Trips:
    """Round trips by method since `start`, the head tracker's polls left out."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.before = app.chain.method_counts()

    def done(self) -> Counter[str]:
        got = self.app.chain.method_counts() - self.before
        got.pop(POLL, 0)
        return got


async def timed(n: int, step: Callable[[], Awaitable[Any]], before: Callable[[], None] | None = None) -> tuple[list[float], float]:
    """`n` runs of `step` one after another: their latencies (ms) and the bot's CPU per run (ms)."""
    latencies = []
    cpu = time.process_time()
    for _ in range(n):
        if before is not None:
            before()
        t = time.perf_counter()
        await step()
        latencies.append((time.perf_counter() - t) * 1000)
    return latencies, (time.process_time() - cpu) / n * 1000


class Requests:
    """Real pending issuance requests: `/buy MAG7.nex 100` + Confirm from a few funded custodial wallets."""

    def __init__(self, app: App, wallets: int) -> None:
        self.app = app
        self.users = [f"o{i}" for i in range(wallets)]
        self.made = 0
        self.seconds = 0.0

    async def fund(self) -> None:
        for u in self.users:
            await funded_user(self.app, u, usdc=Decimal(1_000_000), eth=Decimal(10))

    async def make(self, n: int) -> None:
        """`n` more requests, the wallets in parallel, each one's requests one after another."""
        t = time.perf_counter()

        async def one(user: str, count: int) -> None:
            for _ in range(count):
                quoted = await say(self.app, f"/buy {INDEX} 100", user=user)
                done = await click(self.app, quoted, "Confirm", user=user)
                if "Issuance request #" not in done.rendered.text:
                    raise AssertionError(f"{user}: {done.rendered.text!r}; {await self.why(user)}")

        w = len(self.users)
        await asyncio.gather(*(one(u, n // w + (i < n % w)) for i, u in enumerate(self.users)))
        self.made += n
        self.seconds += time.perf_counter() - t


    async def why(self, user: str) -> str:
        """The user's latest intent and its transactions, for a request that did not go through."""
        x = self.app.services.desks.home
        assert x is not None
        row = await self.app.services.users.seen("console", user)
        latest = (await x.intents.of_user(row.id, limit=1))[0]
        txs = [(t.step, t.purpose, t.nonce, t.state, t.block) for t in await x.intents.txs(latest.id)]
        return f"intent {latest.id} {latest.kind} {latest.state.value} {latest.result}, txs {txs}"


async def pending(orders: Orders) -> int:
    return len(await orders.rows.pending())


async def run(n: int, passes: int, pending_sizes: list[int], settle_sizes: list[int], rounds: int, wallets: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = await Devnet.start(Path(tmp) / "devnet")  # no fulfilment process: requests stay pending
        app = await App.start(Config(home=Path(tmp), chain=str(net.profile_path), web=WebSettings(port=0)))
        recorder = Recorder()
        app.notices.attach(recorder)
        try:
            iss = app.services.issuance
            assert iss is not None
            ref = next(r for r in iss.indexes if r.symbol == INDEX)
            stocks = iss.chain_of(ref)
            reader = iss._readers[INDEX]  # the one the router's /quote uses (a bench reaches in to make it forget)
            orders = iss.orders

            # -- 1. /quote MAG7.nex 100 through the router ----------------------------------------------------
            trips = Trips(app)
            t = time.perf_counter()
            first = await say(app, TYPED)
            first_ms = (time.perf_counter() - t) * 1000
            first_trips = trips.done()
            assert f"{INDEX}" in first.rendered.text and "NVDA" in first.rendered.text, first.rendered.text
            block = app.head.head

            trips = Trips(app)
            cold, cold_cpu = await timed(n, lambda: say(app, TYPED), before=reader.forget)
            cold_trips = trips.done()
            trips = Trips(app)
            warm, warm_cpu = await timed(n, lambda: say(app, TYPED), before=lambda: reader.forget(meta=False))
            warm_trips = trips.done()
            trips = Trips(app)
            cached, cached_cpu = await timed(n, lambda: say(app, TYPED))
            cached_trips = trips.done()
            await say(app, "/quote MAG7.ssi 100")
            pool_trips = Trips(app)
            pool, _ = await timed(n, lambda: say(app, "/quote MAG7.ssi 100"))  # the pool index, same router, for scale
            pool_counts = pool_trips.done()
            assert app.head.head == block, "a block was mined during the quotes"

            # -- 2. the factory read alone ---------------------------------------------------------------------
            timer = TimedChain(app.chain)
            fresh: list[FactoryReader] = []

            def new_reader() -> None:
                fresh.append(FactoryReader(stocks, timer))  # type: ignore[arg-type]
                timer.trips.append([])

            trips = Trips(app)
            read_cold, read_cold_cpu = await timed(n, lambda: fresh[-1].read(ref), before=new_reader)
            read_cold_trips = trips.done()
            cold_legs = timer.trips[:]
            warm_reader = fresh[-1]
            timer.trips.clear()
            trips = Trips(app)
            read_warm, read_warm_cpu = await timed(n, lambda: warm_reader.read(ref), before=lambda: timer.trips.append([]))
            read_warm_trips = trips.done()
            warm_legs = timer.trips[:]
            state = await FactoryReader(stocks, app.chain).read(ref)
            usdc_decimals = stocks.usdc.decimals

            async def compute() -> None:
                quote(state, "buy", Decimal(100), usdc_decimals)

            compute_ms, _ = await timed(n, compute)

            # -- 3. Orders.check() with 0, 10, 100 pending -----------------------------------------------------
            made = Requests(app, wallets)
            await made.fund()
            watch: list[tuple[int, list[float], float, Counter[str]]] = []
            for size in [0, *pending_sizes]:
                if size > made.made:
                    await made.make(size - made.made)
                assert await pending(orders) == size, (await pending(orders), size)
                trips = Trips(app)
                latencies, cpu = await timed(passes, orders.check)
                watch.append((size, latencies, cpu, trips.done()))
                assert await pending(orders) == size  # nothing filled: nothing settled
            setup_s, setup_n = made.seconds, made.made

            # -- 4. N filled orders settling in one pass, told through the outbox ------------------------------
            fulfiller = await net.fulfiller(ALWAYS_OPEN)
            await fulfiller.step()  # fills what part 3 left pending
            await orders.check()
            recorder.sent.clear()
            settles: list[tuple[int, float, float, Counter[str], float, dict[str, float], float]] = []
            spent = Spent()
            spent.wrap(app.chain, "multicall", "status eth_call")
            spent.wrap(app.chain.log_reader, "_fetch", "eth_getLogs")  # each eth_getLogs the chunked reader sends
            spent.wrap(orders.outbox, "put_chat", "outbox insert")
            spent.wrap(orders.rows, "settle", "settle UPDATE")
            for size in settle_sizes:
                for _ in range(rounds):
                    await made.make(size)
                    filled = await fulfiller.step()
                    assert len(filled) == size, filled
                    await app.head.poll_once()
                    told = len(recorder.sent)
                    filling = await orders.rows.pending()
                    spent.ms.clear()
                    trips = Trips(app)
                    cpu = time.process_time()
                    t = time.perf_counter()
                    settled = await orders.check()
                    pass_ms = (time.perf_counter() - t) * 1000
                    cpu_ms = (time.process_time() - cpu) * 1000
                    counts = trips.done()
                    inside = dict(spent.ms)  # before the comparison query below, which goes through the same wrapper
                    while len(recorder.sent) < told + size:
                        await asyncio.sleep(0.001)
                    told_ms = (time.perf_counter() - t) * 1000
                    assert settled == size and await pending(orders) == 0, (settled, size)
                    assert all("completed" in text for _, text, _ in recorder.sent[told:]), recorder.sent[told:]
                    # what the pass's per-order eth_getLogs would cost as one query (a topic OR list of the nonces)
                    nonces = ["0x" + o.nonce.to_bytes(32, "big").hex() for o in filling]
                    t = time.perf_counter()
                    found = await app.chain.logs(filling[0].factory, [proto.ISSUANCED, nonces],
                                                 min(o.requested_block for o in filling))
                    one_ms = (time.perf_counter() - t) * 1000
                    assert len(found) == size, (len(found), size)
                    settles.append((size, pass_ms, told_ms, counts, cpu_ms, inside, one_ms))
        finally:
            await app.stop()
            await net.stop()

    print(f"machine: {machine()}")
    print(f"chain: anvil (devnet) on loopback, {INDEX} from its factory ({len(state.current)} constituents), block {block}")
    print(f"1. '{TYPED}' through the router ({n} each, same block):")
    print(f"  first after start: {first_ms:.2f} ms, round trips {per(first_trips, 1)}")
    print(f"  cold (state and token metadata forgotten): {ms(cold)}, round trips {per(cold_trips, n)}, bot CPU {cold_cpu:.2f} ms")
    print(f"  warm (state forgotten, metadata kept: a new block): {ms(warm)}, round trips {per(warm_trips, n)}, "
          f"bot CPU {warm_cpu:.2f} ms")
    print(f"  same block (the state read once serves): {ms(cached)}, round trips {per(cached_trips, n)}, "
          f"bot CPU {cached_cpu:.2f} ms")
    print(f"  (for scale, '/quote MAG7.ssi 100' warm: {ms(pool)}, round trips {per(pool_counts, n)})")
    print("2. the factory read alone:")

    def legs(rows: list[list[float]]) -> str:
        width = max(len(r) for r in rows)
        return ", ".join(f"#{i + 1} p50 {statistics.median([r[i] for r in rows if len(r) > i]):.2f}" for i in range(width))

    print(f"  FactoryReader.read cold (new reader): {ms(read_cold)}, round trips {per(read_cold_trips, n)}, "
          f"bot CPU {read_cold_cpu:.2f} ms; each eth_call (ms): {legs(cold_legs)}")
    print(f"  FactoryReader.read warm: {ms(read_warm)}, round trips {per(read_warm_trips, n)}, "
          f"bot CPU {read_warm_cpu:.2f} ms; each eth_call (ms): {legs(warm_legs)}")
    print(f"  quote(state, 'buy', 100), no chain: {ms(compute_ms)}")
    print(f"3. Orders.check(), nothing filled ({passes} passes each; {setup_n} real requests made in {setup_s:.1f} s "
          f"from {wallets} wallets):")
    for size, latencies, cpu, counts in watch:
        print(f"  {size:>4} pending: {ms(latencies)}, round trips per pass {per(counts, passes)}, bot CPU {cpu:.2f} ms")
    print(f"4. Orders.check() settling N orders just filled ({rounds} rounds each), told through the outbox:")
    for size in settle_sizes:
        got = [s for s in settles if s[0] == size]
        passes_each = [s[1] for s in got]
        told_each = [s[2] for s in got]
        trips_all = sum((s[3] for s in got), Counter())
        cpu_each = [s[4] for s in got]
        print(f"  N={size:>3}: pass {', '.join(f'{v:.1f}' for v in passes_each)} ms "
              f"({statistics.median(passes_each) / size:.2f} ms per order), "
              f"to the last edit delivered {', '.join(f'{v:.1f}' for v in told_each)} ms, "
              f"round trips per pass {per(trips_all, len(got))}, bot CPU {statistics.median(cpu_each):.1f} ms")
        spent_all: dict[str, float] = {}
        for s in got:
            for k, v in s[5].items():
                spent_all[k] = spent_all.get(k, 0.0) + v
        print("         of the pass, per order: " + ", ".join(f"{k} {v / len(got) / size:.2f} ms" for k, v in spent_all.items())
              + f"; the same {size} fills in one eth_getLogs (topic OR list): {statistics.median([s[6] for s in got]):.2f} ms")


def sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="quotes and reads of each kind")
    parser.add_argument("--passes", type=int, default=50, help="Orders.check() passes per pending size")
    parser.add_argument("--pending", type=sizes, default=[10, 100], help="pending sizes after 0 (comma list, rising)")
    parser.add_argument("--settle", type=sizes, default=[1, 10, 100], help="orders filled before a settling pass")
    parser.add_argument("--rounds", type=int, default=3, help="settling passes per size")
    parser.add_argument("--wallets", type=int, default=10, help="custodial wallets making the requests")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.passes, args.pending, args.settle, args.rounds, args.wallets))


if __name__ == "__main__":
    main()
