"""Discord's limits that discord.py leaves to us. discord.py waits out the per-route buckets and the global limit it
is told of (Discord's `Via` header on a 429); a 429 without it (Cloudflare in front of Discord: a ban of the IP, or a
global limit) it raises. `Backoff` honours such a refusal (Retry-After, a global one holding every request of the
process, doubling while it repeats); `limit_of` reads it; `invalid_request_trace` counts every answer Discord holds
against the IP (10,000 in 10 minutes ban it) in `bot.metrics.INVALID_REQUESTS`. Used by the front end's outbox sends
(discord.py), and in a fleet by the gateway acknowledging interactions and the workers answering them through their
token (`patiently`, discord_handover.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import TypeVar

import aiohttp
import discord

from bot.metrics import INVALID_REQUESTS, RATE_LIMITED

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0  # seconds: the first wait after Discord refused "later" without saying how long; doubled each time
BACKOFF_CAP = 600.0  # and never more than this (Discord's invalid-request window is 10 minutes)

T = TypeVar("T")


def invalid_request_trace() -> aiohttp.TraceConfig:
    """Counts every answer Discord holds against the bot's IP (401, 403, and 429 unless its scope is "shared",
    a per-resource limit Discord does not count), including the 429s discord.py waits out by itself."""

    async def ended(session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        status = params.response.status
        if status == 429:  # every one, a shared-scope one too
            RATE_LIMITED.labels(platform="discord").inc()
        if status in (401, 403) or (status == 429 and params.response.headers.get("X-RateLimit-Scope") != "shared"):
            INVALID_REQUESTS.labels(platform="discord", status=str(status)).inc()

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(ended)
    return trace


class Backoff:
    """Limits discord.py did not absorb (a global limit, Cloudflare's): `refused` gives how long to wait, honouring
    Retry-After and doubling with each refusal in a row; a global one also holds every send of this front end
    (`wait`) until it has passed. `passed` after a success starts the doubling again."""

    def __init__(self, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP, clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.cap, self._clock = base, cap, clock
        self.strikes = 0
        self.until = 0.0

    def refused(self, retry_after: float | None, everything: bool) -> float:
        self.strikes += 1
        delay = min(self.cap, max(retry_after or 0.0, self.base * 2.0 ** (self.strikes - 1)))
        if everything:
            self.until = max(self.until, self._clock() + delay)
        return delay

    def passed(self) -> None:
        self.strikes = 0

    async def wait(self) -> None:
        while (left := self.until - self._clock()) > 0:
            await asyncio.sleep(left)


async def limit_of(err: discord.HTTPException) -> tuple[float | None, bool]:
    """(seconds to wait, whether it holds every request) from a 429: the body's `retry_after` and `global`, else
    the Retry-After and X-RateLimit-Global/-Scope headers. A 429 without Discord's `Via` header comes from
    Cloudflare in front of Discord: a ban of the IP, so global too."""
    headers = err.response.headers
    everything = (headers.get("X-RateLimit-Global", "").lower() == "true" or headers.get("X-RateLimit-Scope") == "global"
                  or not headers.get("Via"))
    retry_after: float | None = None
    try:
        retry_after = float(headers["Retry-After"])
    except (KeyError, ValueError):
        pass
    try:  # aiohttp keeps the body discord.py already read
        body = json.loads(await err.response.read())  # type: ignore[union-attr]
    except (ValueError, TypeError, aiohttp.ClientError, RuntimeError):
        body = None
    if isinstance(body, dict):
        everything = everything or bool(body.get("global"))
        if isinstance(body.get("retry_after"), (int, float)):
            retry_after = float(body["retry_after"])
    return retry_after, everything


async def patiently(backoff: Backoff, request: Callable[[], Awaitable[T]], deadline: float,
                    clock: Callable[[], float] = time.time) -> T:
    """`request()`, made again after each 429 discord.py raised, once `backoff` says (Retry-After, a global one
    holding every request of the process, doubling in a row), as long as that is before `deadline` (`clock`'s
    time); then the 429 is raised."""
    while True:
        await backoff.wait()
        try:
            result = await request()
        except discord.HTTPException as err:
            if err.status != 429:
                raise
            retry_after, everything = await limit_of(err)
            delay = backoff.refused(retry_after, everything)
            if clock() + delay > deadline:
                raise
            log.warning("discord: rate limited (%s); asking again in %.1fs", "all" if everything else "one route", delay)
            await asyncio.sleep(delay)
            continue
        backoff.passed()
        return result
