"""Pyth's Hermes price service over HTTP: one GET of `/v2/updates/price/latest` for every Pyth id at once.

The answer's `parsed[]` entries give `id` and `price.{price, conf, expo, publish_time}`; the exponent is read
from each entry (never assumed). Anything wrong with one entry (a non-numeric price, an exponent Pyth does not
use) makes that id `bad_answer` and leaves the others; an id absent from the answer is `missing`. A request
that takes longer than its timeout is `timeout` for every id, an HTTP error or a refused connection
`unreachable`: the prices then fall through to each symbol's next source. Hermes asks for an API key since
August 2026 (`Authorization: Bearer`): it comes from the environment variable the profile names, and neither it
nor the URL (which can hold a key too) is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp

from bot.market.prices.model import HermesAnswer, HermesPrice
from bot.market.prices.pyth import normalize_id

log = logging.getLogger(__name__)

PATH = "/v2/updates/price/latest"
AT_PATH = "/v2/updates/price/{publish_time}"  # the first update at or after a time: a past block's prices
MIN_EXPO, MAX_EXPO = -30, 0  # Pyth's exponents are negative (-5 to -12 in use); anything outside is wrong


@dataclass(frozen=True)
class HermesSettings:
    url: str = "https://hermes.pyth.network"
    timeout_seconds: float = 3.0
    api_key: str | None = None  # from the environment variable the profile names; never logged


def parse_answer(body: Any, ids: Sequence[str]) -> HermesAnswer:
    """Hermes' JSON (already decoded) for `ids`: a price per id, a problem per id that has none."""
    prices: dict[str, HermesPrice] = {}
    problems: dict[str, str] = {}
    entries = body.get("parsed") if isinstance(body, Mapping) else None
    if not isinstance(entries, list):
        return HermesAnswer(problem="bad_answer")
    wanted = set(ids)
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        feed_id = normalize_id(str(entry.get("id", "")))
        if feed_id not in wanted:
            continue
        parsed = _price(entry.get("price"))
        if parsed is None:
            problems[feed_id] = "bad_answer"
        else:
            prices[feed_id] = parsed
    return HermesAnswer(prices, problems)


def _integer(raw: Any) -> int | None:
    """Pyth writes price and conf as decimal strings (int64 / uint64), expo and publish_time as numbers."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            return None
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
    return None


def _price(raw: Any) -> HermesPrice | None:
    if not isinstance(raw, Mapping):
        return None
    price, conf, expo, published = (_integer(raw.get(k)) for k in ("price", "conf", "expo", "publish_time"))
    if price is None or conf is None or expo is None or published is None:
        return None
    if not MIN_EXPO <= expo <= MAX_EXPO or published <= 0:
        return None
    return HermesPrice(Decimal(price).scaleb(expo), Decimal(conf).scaleb(expo), published)


class Hermes:
    """One keep-alive HTTP session to a Hermes service; `latest(ids)` is one request."""

    def __init__(self, settings: HermesSettings) -> None:
        self.settings = settings
        self.requests = 0  # how many requests were sent (benches and tests count them)
        self._session: aiohttp.ClientSession | None = None
        self._failing = ""  # the problem last logged: a failing Hermes is logged once, not once per block

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self.settings.api_key:
                headers["Authorization"] = f"Bearer {self.settings.api_key}"
            self._session = aiohttp.ClientSession(headers=headers)
        return self._session

    async def latest(self, ids: Sequence[str]) -> HermesAnswer:
        """The newest price of every id, in one request."""
        return await self._get(PATH, ids)

    async def at(self, publish_time: int, ids: Sequence[str]) -> HermesAnswer:
        """Every id's first price published at or after `publish_time` (a past block's time), in one request."""
        return await self._get(AT_PATH.format(publish_time=int(publish_time)), ids)

    async def _get(self, path: str, ids: Sequence[str]) -> HermesAnswer:
        if not ids:
            return HermesAnswer()
        params = [("ids[]", i) for i in ids] + [("parsed", "true"), ("ignore_invalid_price_ids", "true")]
        url = self.settings.url.rstrip("/") + path
        self.requests += 1
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                async with self._open().get(url, params=params) as resp:
                    if resp.status != 200:
                        return self._failed("unreachable", f"answered HTTP {resp.status}")
                    body = json.loads(await resp.read())
        except TimeoutError:
            return self._failed("timeout", f"did not answer within {self.settings.timeout_seconds}s")
        except (aiohttp.ClientError, OSError) as exc:
            return self._failed("unreachable", f"unreachable ({type(exc).__name__})")
        except ValueError:
            return self._failed("bad_answer", "answered with something that is not JSON")
        if self._failing:
            log.info("Hermes answers again")
            self._failing = ""
        return parse_answer(body, ids)

    def _failed(self, problem: str, what: str) -> HermesAnswer:
        if self._failing != problem:  # once per change, not once per block (the URL is never logged)
            log.warning("Hermes %s; Pyth prices fall through to each symbol's next source", what)
            self._failing = problem
        return HermesAnswer(problem=problem)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
