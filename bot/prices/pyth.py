"""Pyth prices pulled from Hermes over HTTP (one request per block serves every Pyth id: bot.prices.hermes).

Each answer carries its own exponent (`expo`), read from the answer every time; the price is unusable when it
is zero or negative, older than `max_age`, or missing from the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from bot.chain import Call, Result
from bot.prices.model import HermesPrice, PriceSetup, ReadContext, Reading
from bot.prices.registry import SourceConfigError, positive_int, register

DEFAULT_MAX_AGE = 60
_ID = re.compile(r"[0-9a-f]{64}")


def normalize_id(raw: str) -> str:
    """A Pyth feed id as Hermes writes it in `parsed[].id`: 64 lowercase hex digits, no 0x."""
    return raw.strip().lower().removeprefix("0x")


@dataclass(frozen=True)
class Pyth:
    kind: ClassVar[str] = "pyth"
    symbol: str
    id: str
    max_age: int = DEFAULT_MAX_AGE

    def calls(self, setup: PriceSetup) -> list[Call]:
        return []

    def pyth_ids(self) -> tuple[str, ...]:
        return (self.id,)

    def read(self, results: Sequence[Result], ctx: ReadContext) -> Reading:
        got = ctx.hermes.for_id(self.id) if ctx.hermes is not None else "missing"
        if not isinstance(got, HermesPrice):
            return Reading(self.symbol, self.kind, None, 0, self.max_age, got, self.id)
        if got.price <= 0:
            return Reading(self.symbol, self.kind, None, got.publish_time, self.max_age, "not_positive", self.id)
        return Reading(self.symbol, self.kind, got.price, got.publish_time, self.max_age, where=self.id,
                       conf=got.conf).usable(ctx.now)

    def describe(self) -> dict[str, Any]:
        return {"source": self.kind, "id": self.id, "max_age": self.max_age}


@register("pyth")
def parse(symbol: str, raw: dict[str, Any], where: str) -> Pyth:
    feed_id = normalize_id(str(raw.get("id", "")))
    if not _ID.fullmatch(feed_id):
        raise SourceConfigError(f"{where}: id must be a Pyth feed id (64 hex digits), not {raw.get('id')!r}")
    return Pyth(symbol, feed_id, positive_int(raw, "max_age", DEFAULT_MAX_AGE, where))
