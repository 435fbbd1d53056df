"""eth_getLogs that fits real providers: the one chunked reader every event read of the bot goes through.

Public and paid RPC providers cap `eth_getLogs` by block range and by the number of results, and each says so in
its own words, codes and sometimes HTTP statuses, for example:

- a range cap: Infura `-32602 range 1000000 exceeds limit of 10000`, QuickNode `-32614 eth_getLogs is limited to
  a 10,000 range` (HTTP 413), Alchemy's free tier `-32600 You can make eth_getLogs requests with up to a 500 block
  range. Based on your parameters, this block range should work: [0x1a30dfd, 0x1a30ff0]` (HTTP 400), reth
  `query exceeds max block range 5000`, geth forks `block range is larger than max block range, block range =
  5120, max block range = 5000`, Frontier `block range is too wide (maximum 1024)`, Tenderly `invalid params`
  with `range 9009594 is bigger than range limit 2000` in its data;
- a results cap: Infura `-32005 query returned more than 10000 results`, Alchemy `Log response size exceeded. ...
  this block range should work: [0x.., 0x..]`, zkSync `Query returned more than 10000 results. Try with this
  block range [0x0, 0x30f].`, reth `query exceeds max results 20000, retry with the range 25766988-25775072`
  (which may name the very range asked), `Response is too big`.

`refusal_of` reads any of these (message and data) into a `Refusal`; rate limits and every other error are not
refusals and propagate. `LogReader.windows(address, topics, first, last)` then reads the range window by window,
oldest first (or newest first, for a search that stops when it has found what it wants):

- a window is at most `span` blocks (the profile's `log_range_blocks`, or the operator's override);
- a range refusal lowers `span` for the reader's life, to the limit the provider names (when it names one below
  the refused window) or else to half the refused window: a provider's range cap does not move;
- a results refusal retries the same window cut to the range the provider suggests (when it is smaller and starts
  where the window starts) or else halved; the following windows grow back by doubling up to `span`, since
  results depend on how busy those blocks were, but when the provider named its results cap only while the last
  window held at most half of it (a busy stretch is not asked twice as wide just to be refused again);
- a one-block window refused raises `LogsRefused` (nothing smaller can be asked).

Callers that must resume after a restart store their own cursor with each window's logs, in one transaction (the
rebalance watcher's `rebalance_cursor`), so a crash loses at most the window in flight and never skips one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from web3.exceptions import Web3RPCError

log = logging.getLogger(__name__)

LogFetch = Callable[[dict[str, Any]], Awaitable[list[Any]]]
DEFAULT_SPAN = 5_000  # blocks per eth_getLogs unless the profile or the operator says otherwise

_NOT_SIZE = re.compile(r"rate|per second|request count|capacity|credits|quota|too many requests", re.I)
_RESULTS = re.compile(
    r"more than [\d,]+ (?:results|logs)|response size|response is too (?:big|large)|too many (?:results|logs)"
    r"|exceeds? max(?:imum)? (?:results|logs)|query timeout", re.I)
_RANGE = re.compile(
    r"block range|range (?:limit|too|is too)|limited to an? [\d,]+|exceeds? (?:the )?limit|range [\d,]+ (?:exceeds|is bigger)"
    r"|max(?:imum)? (?:block )?range|too (?:wide|large|high|big)", re.I)
_HEX_PAIR = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
_DEC_PAIR = re.compile(r"range\s+(\d+)\s*-\s*(\d+)", re.I)
_LIMIT = re.compile(r"(?:limit(?:ed)?|max(?:imum)?|up to|cap|more than)\D{0,24}?(\d{1,3}(?:,\d{3})+|\d+)(?![\w.])", re.I)
_URL = re.compile(r"\w+://\S+")


@dataclass(frozen=True)
class Refusal:
    """A provider's answer that the query was too large."""

    kind: Literal["range", "results"]
    text: str  # what the provider said (message and data), for the operator's log
    limit: int | None = None  # the cap it names, when it names one: blocks (range) or logs (results)
    suggested: tuple[int, int] | None = None  # a range it says will work


class LogsRefused(Exception):
    """The provider refused eth_getLogs even for a single block."""


def error_text(exc: BaseException) -> str:
    """The JSON-RPC error's message and data of a web3 error (its str() when it carries no response)."""
    response = getattr(exc, "rpc_response", None)
    error = response.get("error") if isinstance(response, dict) else None
    if not isinstance(error, dict):
        return str(getattr(exc, "message", exc))
    parts = [str(error.get("message", ""))]
    data = error.get("data")
    if isinstance(data, dict):
        parts += [str(v) for v in data.values() if isinstance(v, (str, int))]
    elif data is not None:
        parts.append(str(data))
    return " ".join(p for p in parts if p)


def refusal_of(exc: BaseException, asked: int | None = None) -> Refusal | None:
    """What a failed eth_getLogs says about its size, or None when it is about something else. `asked`: the number
    of blocks the refused query spanned (a named limit must be below it)."""
    if not isinstance(exc, Web3RPCError):
        return None
    text = error_text(exc)
    if _NOT_SIZE.search(text):
        return None
    suggested = _suggested(text)
    numbers = [int(n.replace(",", "")) for n in _LIMIT.findall(_DEC_PAIR.sub("", _HEX_PAIR.sub("", text)))]  # caps named
    if _RESULTS.search(text):
        return Refusal("results", text, limit=min((n for n in numbers if n >= 1), default=None), suggested=suggested)
    if _RANGE.search(text):
        below = [n for n in numbers if n >= 1 and (asked is None or n < asked)]
        return Refusal("range", text, limit=min(below) if below else None, suggested=suggested)
    return None


def _suggested(text: str) -> tuple[int, int] | None:
    if m := _HEX_PAIR.search(text):
        return int(m.group(1), 16), int(m.group(2), 16)
    if m := _DEC_PAIR.search(text):
        return int(m.group(1)), int(m.group(2))
    return None


def _shown(text: str) -> str:
    """A provider's words as the operator's log shows them: no URL (an RPC URL can hold an API key), 200 characters."""
    return _URL.sub("<url>", text)[:200]


@dataclass(frozen=True)
class LogWindow:
    """The logs of blocks `first`..`last` (both included), in the node's order."""

    first: int
    last: int
    logs: list[Any]


class LogReader:
    """Chunked eth_getLogs over one chain's connection (`fetch` sends one eth_getLogs)."""

    def __init__(self, fetch: LogFetch, span: int = DEFAULT_SPAN) -> None:
        if span < 1:
            raise ValueError("a log range must be at least one block")
        self._fetch = fetch
        self.span = span  # the most blocks one eth_getLogs may cover; lowered for good by a range refusal
        self.max_results: int | None = None  # the results cap a refusal named, once one did

    async def windows(self, address: str | Sequence[str], topics: Sequence[Any], first: int, last: int,
                      newest_first: bool = False) -> AsyncGenerator[LogWindow, None]:
        """Every block from `first` to `last`, in windows the provider accepts, oldest first (or newest first)."""
        size = self.span
        lo, hi = first, last
        while lo <= hi:
            size = max(1, min(size, self.span))
            a, b = (max(lo, hi - size + 1), hi) if newest_first else (lo, min(hi, lo + size - 1))
            query = {"address": address if isinstance(address, str) else list(address), "topics": list(topics),
                     "fromBlock": a, "toBlock": b}
            try:
                logs = await self._fetch(query)
            except Web3RPCError as exc:
                asked = b - a + 1
                refusal = refusal_of(exc, asked)
                if refusal is None:
                    raise
                if asked == 1:
                    raise LogsRefused(f"eth_getLogs refused even block {a} alone: {_shown(refusal.text)}") from exc
                size = self._narrower(refusal, a, asked)
                continue
            yield LogWindow(a, b, list(logs))
            if newest_first:
                hi = a - 1
            else:
                lo = b + 1
            if self.max_results is None or 2 * len(logs) <= self.max_results:  # twice as many blocks would still fit
                size = min(self.span, size * 2)

    def _narrower(self, refusal: Refusal, start: int, asked: int) -> int:
        """The next window's size after `refusal` of `asked` blocks from `start`."""
        if refusal.kind == "range":
            limit = refusal.limit if refusal.limit is not None and refusal.limit < asked else asked // 2
            if refusal.suggested is not None and refusal.suggested[0] == start and refusal.suggested[1] - start + 1 < asked:
                limit = min(limit, refusal.suggested[1] - start + 1)
            self.span = max(1, min(self.span, limit))
            log.info("eth_getLogs: the provider refused %d blocks (%s); reading at most %d blocks at a time from now on",
                     asked, _shown(refusal.text), self.span)
            return self.span
        if refusal.limit is not None:
            self.max_results = refusal.limit
        if refusal.suggested is not None and refusal.suggested[0] == start and 1 <= refusal.suggested[1] - start + 1 < asked:
            size = refusal.suggested[1] - start + 1
        else:
            size = asked // 2
        log.debug("eth_getLogs: too many results in %d blocks (%s); trying %d", asked, _shown(refusal.text), size)
        return max(1, size)

    async def read(self, address: str | Sequence[str], topics: Sequence[Any], first: int, last: int) -> list[Any]:
        """All the logs from `first` to `last`, oldest first."""
        out: list[Any] = []
        async for window in self.windows(address, topics, first, last):
            out += window.logs
        return out
