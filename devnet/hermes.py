"""A stand-in for Pyth's Hermes price service on 127.0.0.1, and the devnet profile's price sources.

Hermes sits across the network edge (it cannot run here), so the devnet serves its documented answer shape
itself: `GET /v2/updates/price/latest?ids[]=...` gives `{"binary": {...}, "parsed": [{"id", "price": {"price",
"conf", "expo", "publish_time"}, "ema_price": {...}, "metadata": {...}}]}`. `HermesStandIn` answers from a
function of the requested ids, so tests can serve any answer (stale, negative, missing, slow); `ChainPrices`
is the devnet's own: each Pyth id is priced from the devnet's market data (the symbol's PriceFeed, which
`indexbot devnet price` moves), published at the chain's time.

The devnet profile (`devnet_prices`) takes Base's shape: Chainlink feeds with descriptions and heartbeats, some
constituents priced by Pyth first (those Base has no Chainlink feed for, and DOGE and ADA so MAG7 has some),
SOSO by a TWAP of its own SOSO/USDC pool, and a sequencer uptime feed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import tomli_w
from aiohttp import ClientSession, web

from bot.chain.profile import Profile, load_profile

log = logging.getLogger(__name__)

# Pyth's real feed ids (shared/protocol-facts.md): the devnet's profile names them as Base's would.
PYTH_IDS = {
    "BTC": "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
    "ETH": "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace",
    "SOL": "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
    "XRP": "ec5d399846a9209f3fe5881d70aae9268c94339ff9817e8d18ff19fa05eea1c8",
    "BNB": "2f95862b045670cd22bee3114c39763a4a08beeb663b145d283c31d7d1101c4f",
    "DOGE": "dcef50dd0a4cd2dcc17e45df1676dcb336a11a61c69df7a0299b0150c672d25c",
    "ADA": "2a01deaec9e51a579277b34b122399984d0bbf57e2458a7e42fecd2829867a0d",
    "LINK": "8ac0c70fff57e9aefdf5edf44b51d62c2d433653cbb2cf5cc06bb115af04d221",
    "UNI": "78d185a741d07edb3412b09008b7c5cfb9bbbd7d568bf00ba737b456ba171501",
    "AAVE": "2b9ab1e972a281585084148ba1389800799bd4be63b957507db1349314e47445",
    "WIF": "4ca4beeca86f0d164160323817a4e42b10010a724c2217c6ee41b54cd4cc61fc",
    "BONK": "72b021217ca3fe68922a19aaf990109cb9d84e9ad004b4d2025ad6f529314419",
    "TRUMP": "879551021853eec7a7dc827578e8e69da7e4fa8148339aa0d3d5296405be4b1a",
    "PEPE": "d69731a2e74ac1ce884fc3890f7ee324b6deb66147055249568869ed700882e4",
    "SHIB": "f0d57deca57b3da2fe63a493f4c25925fdfd8edf834b20f93e1f84dbd1504d4a",
}
PYTH_FIRST = ("DOGE", "ADA", "UNI", "WIF", "BONK")  # priced by Pyth first, their Chainlink feed behind it
HEARTBEAT = 86_400  # the devnet's feeds only move when the operator moves them (or a state load restamps them)
PYTH_MAX_AGE = 60
EXPO = -8
UNREACHABLE = "http://127.0.0.1:9"  # the profile's Hermes until a stand-in runs (connections are refused)

Entries = list[dict[str, Any]]
Source = Callable[[Sequence[str]], Awaitable[Entries]]


def devnet_prices(feeds: dict[str, str], soso: str, sequencer: str, window: int, grace: int) -> dict[str, Any]:
    """The [prices], [pyth] and [sequencer] tables of the devnet's profile."""
    prices: dict[str, list[dict[str, Any]]] = {}
    for symbol, feed in feeds.items():
        if symbol == "SOSO":
            continue  # no oracle for SOSO on Base: its TWAP below
        chainlink = {"source": "chainlink", "feed": feed, "description": f"{symbol} / USD", "heartbeat": HEARTBEAT,
                     "decimals": 8}
        pyth = [{"source": "pyth", "id": PYTH_IDS[symbol], "max_age": PYTH_MAX_AGE}] if symbol in PYTH_IDS else []
        prices[symbol] = [*pyth, chainlink] if symbol in PYTH_FIRST else [chainlink, *pyth]
    prices["SOSO"] = [{"source": "twap", "token": soso, "window": window}]
    return {
        "pyth": {"hermes_url": UNREACHABLE, "timeout_seconds": 2},
        "sequencer": {"feed": sequencer, "grace_seconds": grace},
        "prices": prices,
    }


def entry(feed_id: str, price: int | str, expo: int | str, publish_time: int, conf: int | str = 0) -> dict[str, Any]:
    """One `parsed[]` entry as Hermes writes it (price and conf as strings)."""
    body = {"price": str(price), "conf": str(conf), "expo": expo, "publish_time": publish_time}
    return {"id": feed_id, "price": body, "ema_price": dict(body),
            "metadata": {"slot": 1, "proof_available_time": publish_time, "prev_publish_time": publish_time - 1}}


class HermesStandIn:
    """An aiohttp server on 127.0.0.1 answering `/v2/updates/price/latest` from `source(ids)`.

    `delay` holds every answer back (a slow Hermes), `status` answers with that HTTP status instead, `raw`
    replaces the whole body; `requests` lists the ids of each request received."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.delay = 0.0
        self.status = 200
        self.raw: str | None = None
        self.requests: list[tuple[str, ...]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _latest(self, request: web.Request) -> web.Response:
        return await self._answer(request, None)

    async def _at(self, request: web.Request) -> web.Response:
        """`/v2/updates/price/{publish_time}`: the same prices, published at the time asked (the stand-in keeps
        no history: the devnet's feeds as they are now)."""
        try:
            at = int(request.match_info["publish_time"])
        except ValueError:
            return web.Response(status=400, text="publish_time must be a unix time")
        return await self._answer(request, at)

    async def _answer(self, request: web.Request, at: int | None) -> web.Response:
        ids = tuple(request.query.getall("ids[]", []))
        self.requests.append(ids)
        self.paths.append(request.path)
        self.headers.append(dict(request.headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="Price ids not found")
        if self.raw is not None:
            return web.Response(text=self.raw, content_type="application/json")
        entries = await self.source(ids)
        if at is not None:
            for e in entries:
                e["price"]["publish_time"] = e["ema_price"]["publish_time"] = at
        body = {"binary": {"encoding": "hex", "data": []}, "parsed": entries}
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def start(self, port: int = 0) -> HermesStandIn:
        app = web.Application()
        app.router.add_get("/v2/updates/price/latest", self._latest)
        app.router.add_get("/v2/updates/price/{publish_time}", self._at)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if isinstance(self.source, ChainPrices):
            await self.source.aclose()


LATEST_ANSWER = "0x50d25bcd"  # latestAnswer()


class ChainPrices:
    """The devnet's own Hermes prices: each Pyth id of the profile priced by its symbol's devnet PriceFeed
    (what `indexbot devnet price` moves), published at the chain's newest block time. Each request costs one
    JSON-RPC batch to the devnet (the newest block and every feed asked) on one keep-alive session, opened on
    the first request and closed with the stand-in: the bot waits on this answer at every new block."""

    def __init__(self, profile: Profile) -> None:
        self._by_id = {src_id: profile.feeds[symbol] for symbol, sources in profile.prices.items()
                       for src in sources for src_id in src.pyth_ids() if symbol in profile.feeds}
        self._url = profile.rpc_urls[0]
        self._session: ClientSession | None = None

    async def __call__(self, ids: Sequence[str]) -> Entries:
        wanted = [i.lower().removeprefix("0x") for i in ids]
        known = [i for i in wanted if i in self._by_id]
        batch = [{"jsonrpc": "2.0", "id": 0, "method": "eth_getBlockByNumber", "params": ["latest", False]}]
        batch += [{"jsonrpc": "2.0", "id": n, "method": "eth_call",
                   "params": [{"to": self._by_id[i], "data": LATEST_ANSWER}, "latest"]} for n, i in enumerate(known, 1)]
        if self._session is None:
            self._session = ClientSession(raise_for_status=True)
        async with self._session.post(self._url, json=batch) as resp:
            answers = {a["id"]: a for a in await resp.json()}
        now = int(answers[0]["result"]["timestamp"], 16)
        out = []
        for n, i in enumerate(known, 1):
            raw = answers.get(n, {}).get("result")
            if raw is None or len(raw) != 66:  # a feed that cannot be read (an error, no code there): the id is left out
                continue
            answer = int.from_bytes(bytes.fromhex(raw[2:]), "big", signed=True)
            out.append(entry(i, answer, EXPO, now, answer // 2000))
        return out

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None


def point_profile(profile_path: Path, url: str) -> None:
    """Write the stand-in's URL into the profile's [pyth] table."""
    path = Path(profile_path)
    data = tomllib.loads(path.read_text())
    if "pyth" not in data:
        return
    data["pyth"]["hermes_url"] = url
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(tomli_w.dumps(data).encode())
    tmp.replace(path)


# -- beside a background devnet (`indexbot devnet up`, through devnet.process): the stand-in as a process of its own

async def _serve(profile_path: Path, port: int) -> None:
    stand_in = await HermesStandIn(ChainPrices(load_profile(profile_path))).start(port)
    log.info("Hermes stand-in on %s for %s", stand_in.url, profile_path)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        await stand_in.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m devnet.hermes <profile.toml> <port>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(_serve(Path(argv[0]), int(argv[1])))
    except KeyboardInterrupt:
        pass
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
