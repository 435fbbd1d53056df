"""Price source kinds, registered by the module that implements each (no central `if kind == ...`).

    @register("chainlink")
    def parse(symbol: str, raw: dict[str, Any], where: str) -> PriceSource: ...

`parse_sources` turns a profile's `[prices] SYMBOL = [ {source = "...", ...}, ... ]` list into sources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.market.prices.source import PriceSource

Parser = Callable[[str, dict[str, Any], str], PriceSource]
KINDS: dict[str, Parser] = {}


class SourceConfigError(ValueError):
    """A price source entry of the profile is malformed (the message names where)."""


def register(kind: str) -> Callable[[Parser], Parser]:
    def add(parser: Parser) -> Parser:
        KINDS[kind] = parser
        return parser
    return add


def parse_source(symbol: str, raw: Any, where: str) -> PriceSource:
    if not isinstance(raw, dict) or "source" not in raw:
        raise SourceConfigError(f"{where}: each price source is a table with `source` ({', '.join(sorted(KINDS))})")
    kind = str(raw["source"])
    if kind not in KINDS:
        raise SourceConfigError(f"{where}: source {kind!r} is not one of {', '.join(sorted(KINDS))}")
    return KINDS[kind](symbol, raw, where)


def parse_sources(symbol: str, raw: Any, where: str) -> tuple[PriceSource, ...]:
    if not isinstance(raw, list) or not raw:
        raise SourceConfigError(f"{where}: a non-empty list of sources")
    return tuple(parse_source(symbol, item, f"{where}[{i}]") for i, item in enumerate(raw))


def positive_int(raw: dict[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SourceConfigError(f"{where}: {key} must be a positive number of seconds, not {value!r}")
    return value
