"""A JSON-RPC proxy on 127.0.0.1 in front of a real node (anvil) that caps eth_getLogs as hosted providers do.

    async with RpcProxy(devnet.url, max_blocks=50, style="quicknode") as proxy:
        Chain([proxy.url], ...)      # or Config(rpc_urls=(proxy.url,)) for a whole bot

Every request (single or batch) is forwarded to the node and its answer returned, except an eth_getLogs that
spans more than `max_blocks` blocks or whose answer holds more than `max_results` logs: that one gets the error the
chosen provider sends, in its shape (JSON-RPC code, message, data, HTTP status), from `STYLES` (the wording of each
is taken from public reports of those providers' answers). `asked` records every eth_getLogs (blocks and what was
answered) and `methods` counts every method, for the tests' assertions. `fail_after_logs = n` makes the proxy
answer HTTP 502 to every eth_getLogs after the next `n` (a node going away mid-scan), until set back to None.
`rewrite`, when set, is called with every other request and the node's answer and returns the answer to send
instead (a hostile or compromised RPC: `tamper_transactions` rewrites some transaction's eth_getTransaction).
`delay` (seconds, settable at any time) holds every request that long before forwarding it (a slow node), and
`seen` records each method with the `time.perf_counter()` it arrived at (the Bot API emulator's clock).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

Answer = tuple[int, dict[str, Any]]  # HTTP status, JSON-RPC error object


@dataclass(frozen=True)
class Style:
    """How one provider refuses: `range(first, last, limit)` and `results(first, last, limit, works_to)` give the
    HTTP status and the JSON-RPC error; `works_to` is the last block of a range that would fit the results cap."""

    range: Callable[[int, int, int], Answer]
    results: Callable[[int, int, int, int], Answer]


def _err(code: int, message: str, data: Any = None, status: int = 200) -> Answer:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return status, error


STYLES: dict[str, Style] = {
    "infura": Style(
        lambda a, b, n: _err(-32602, f"range {b - a + 1} exceeds limit of {n}"),
        lambda a, b, m, w: _err(-32005, f"query returned more than {m} results")),
    "alchemy": Style(
        lambda a, b, n: _err(-32600, f"You can make eth_getLogs requests with up to a {n} block range. Based on your "
                                     f"parameters, this block range should work: [{hex(a)}, {hex(a + n - 1)}]", status=400),
        lambda a, b, m, w: _err(-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block "
                                        "range and no limit on the response size, or you can request any block range with a "
                                        f"cap of 10K logs in the response. Based on your parameters, this block range should "
                                        f"work: [{hex(a)}, {hex(w)}]")),
    "quicknode": Style(
        lambda a, b, n: _err(-32614, f"eth_getLogs is limited to a {n:,} range", status=413),
        lambda a, b, m, w: _err(-32008, "Response is too big", f"Exceeded max limit of {m} logs")),
    "reth": Style(  # reth may suggest the very range asked: the reader must halve instead
        lambda a, b, n: _err(-32602, f"query exceeds max block range {n}"),
        lambda a, b, m, w: _err(-32602, f"query exceeds max results {m}, retry with the range {a}-{b}")),
    "zksync": Style(
        lambda a, b, n: _err(-32000, f"block range is larger than max block range, block range = {b - a + 1}, max block range = {n}"),
        lambda a, b, m, w: _err(-32602, f"Query returned more than {m} results. Try with this block range [{hex(a)}, {hex(w)}].")),
    "tenderly": Style(
        lambda a, b, n: _err(-32602, "invalid params", {"error_id": "4ed94073", "payload": f"range {b - a + 1} is bigger than range limit {n}"}),
        lambda a, b, m, w: _err(-32005, f"query returned more than {m} results")),
    "unnumbered": Style(  # names no limit: the reader can only halve
        lambda a, b, n: _err(-32000, "block range is bigger than maxBlockRange"),
        lambda a, b, m, w: _err(-32005, "too many logs")),
}


@dataclass(frozen=True)
class Asked:
    first: int
    last: int
    answer: str  # ok, range, results, down

    @property
    def blocks(self) -> int:
        return self.last - self.first + 1


class RpcProxy:
    def __init__(self, upstream: str, *, max_blocks: int | None = None, max_results: int | None = None,
                 style: str = "infura") -> None:
        self.upstream = upstream
        self.max_blocks = max_blocks
        self.max_results = max_results
        self.style = STYLES[style]
        self.asked: list[Asked] = []
        self.methods: Counter[str] = Counter()
        self.fail_after_logs: int | None = None
        self.rewrite: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
        self.delay = 0.0
        self.seen: list[tuple[str, float]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RpcProxy:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    def ok(self) -> list[Asked]:
        """The eth_getLogs answered with logs, in the order asked."""
        return [a for a in self.asked if a.answer == "ok"]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if isinstance(body, list):
            return web.json_response([(await self._one(r))[1] for r in body])
        status, answer = await self._one(body)
        if status == 502:
            return web.Response(status=502, text="bad gateway")
        return web.json_response(answer, status=status)

    async def _one(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.methods[str(req.get("method"))] += 1
        self.seen.append((str(req.get("method")), time.perf_counter()))
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if req.get("method") == "eth_getLogs":
            return await self._logs(req)
        answer = await self._forward(req)
        return 200, answer if self.rewrite is None else self.rewrite(req, answer)

    async def _forward(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.post(self.upstream, json=req) as reply:
            answer: dict[str, Any] = await reply.json()
            return answer

    async def _block(self, tag: Any) -> int:
        if isinstance(tag, str) and tag.startswith("0x"):
            return int(tag, 16)
        answer = await self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})
        return 0 if tag == "earliest" else int(answer["result"], 16)

    async def _logs(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        query = req["params"][0]
        first, last = await self._block(query.get("fromBlock", "latest")), await self._block(query.get("toBlock", "latest"))

        def refuse(kind: str, answer: Answer) -> tuple[int, dict[str, Any]]:
            self.asked.append(Asked(first, last, kind))
            return answer[0], {"jsonrpc": "2.0", "id": req.get("id"), "error": answer[1]}

        if self.fail_after_logs is not None:
            if self.fail_after_logs <= 0:
                return refuse("down", (502, {}))
            self.fail_after_logs -= 1
        if self.max_blocks is not None and last - first + 1 > self.max_blocks:
            return refuse("range", self.style.range(first, last, self.max_blocks))
        answer = await self._forward(req)
        logs = answer.get("result") or []
        if self.max_results is not None and len(logs) > self.max_results:
            works_to = max(first, int(logs[self.max_results]["blockNumber"], 16) - 1)
            return refuse("results", self.style.results(first, last, self.max_results, works_to))
        self.asked.append(Asked(first, last, "ok"))
        return 200, answer


def tamper_transactions(hashes: Collection[str], **fields: str) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    """A `rewrite` that answers eth_getTransaction for any of `hashes` (lower-case) with `fields` (hex JSON values: to, input, value)
    put over the node's answer, as a node lying about a pending transaction would."""
    def rewrite(req: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        params = req.get("params") or []
        if (req.get("method") == "eth_getTransactionByHash" and params and str(params[0]).lower() in hashes
                and answer.get("result")):
            return {**answer, "result": {**answer["result"], **fields}}
        return answer
    return rewrite
