"""Pyth prices pulled from Hermes over HTTP (one request per block serves every Pyth id: bot.market.prices.hermes).

Each answer carries its own exponent (`expo`), read from the answer every time; the price is unusable when it
is zero or negative, older than `max_age`, or missing from the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from bot.chain.client import Call, Result
from bot.market.prices.model import HermesPrice, PriceSetup, ReadContext, Reading
from bot.market.prices.source import SourceDefaults
from bot.market.prices.registry import SourceConfigError, positive_int, register
from bot.market.prices.startup import Findings, PythReport, StartupEnv

DEFAULT_MAX_AGE = 60
DEFAULT_MAX_CONF = Decimal("0.02")  # a price whose confidence interval is wider than 2 % of it is not used
_ID = re.compile(r"[0-9a-f]{64}")


def normalize_id(raw: str) -> str:
    """A Pyth feed id as Hermes writes it in `parsed[].id`: 64 lowercase hex digits, no 0x."""
    return raw.strip().lower().removeprefix("0x")


# operator-facing English, like the rest of the start-up check
_STARTUP_PROBLEMS = {
    "stale": "its price is older than its max_age",
    "missing": "missing from the answer (is the id right?)",
    "not_positive": "its price is zero or negative",
    "bad_answer": "its price cannot be read (not a number, or an exponent Pyth does not use)",
    "timeout": "no answer within the timeout",
    "unreachable": "unreachable or an HTTP error",
    "uncertain": "its confidence interval is wider than its max_conf",
}


@dataclass(frozen=True)
class Pyth(SourceDefaults):
    kind: ClassVar[str] = "pyth"
    symbol: str
    id: str
    max_age: int = DEFAULT_MAX_AGE
    max_conf: Decimal = DEFAULT_MAX_CONF  # the widest confidence interval accepted, as a fraction of the price

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
        if got.conf > got.price * self.max_conf:
            return Reading(self.symbol, self.kind, None, got.publish_time, self.max_age, "uncertain", self.id, got.conf)
        return Reading(self.symbol, self.kind, got.price, got.publish_time, self.max_age, where=self.id,
                       conf=got.conf).usable(ctx.now)

    def describe(self) -> dict[str, Any]:
        return {"source": self.kind, "id": self.id, "max_age": self.max_age, "max_conf": str(self.max_conf)}

    def check(self, results: Sequence[Result], env: StartupEnv, found: Findings) -> None:
        """An id missing from the block's Hermes answer, a price that cannot be read, a stale one or a Hermes
        that does not answer is a warning naming the id (the price falls through), never a refusal."""
        if found.hermes is None:
            return  # no Hermes client to ask
        got = found.hermes.for_id(self.id)
        if isinstance(got, HermesPrice):
            age = max(0, found.now - got.publish_time)
            problem = ("not_positive" if got.price <= 0 else "uncertain" if got.conf > got.price * self.max_conf
                       else "stale" if age > self.max_age else "")
            found.pyth.append(PythReport(self.symbol, self.id, got.price, got.conf, got.publish_time, age, self.max_age, problem))
        else:
            problem = got
            found.pyth.append(PythReport(self.symbol, self.id, None, None, 0, None, self.max_age, problem))
        if problem:
            found.warnings.append(f"Pyth id {self.id} ({self.symbol}) at Hermes: {_STARTUP_PROBLEMS.get(problem, problem)}; "
                                  "its price falls through to the next source")


@register("pyth")
def parse(symbol: str, raw: dict[str, Any], where: str) -> Pyth:
    feed_id = normalize_id(str(raw.get("id", "")))
    if not _ID.fullmatch(feed_id):
        raise SourceConfigError(f"{where}: id must be a Pyth feed id (64 hex digits), not {raw.get('id')!r}")
    try:
        max_conf = Decimal(str(raw.get("max_conf", DEFAULT_MAX_CONF)))
    except InvalidOperation:
        max_conf = Decimal(-1)
    if not 0 < max_conf < 1 or isinstance(raw.get("max_conf"), bool):
        raise SourceConfigError(f"{where}: max_conf must be a fraction of the price between 0 and 1, not {raw.get('max_conf')!r}")
    return Pyth(symbol, feed_id, positive_int(raw, "max_age", DEFAULT_MAX_AGE, where), max_conf)
