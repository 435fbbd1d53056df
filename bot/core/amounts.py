"""Parsing amounts typed by users: strict, Decimal only, with a reason for every refusal.

Only ASCII digits are digits here: Python's `str.isdigit`, `int()`, `Decimal()` and the regex `\\d` also take
`²` or Arabic-Indic digits (`١٢`), which would make an internal error or another number (plan 12) out of
what the user typed; ids go through `parse_id`, amounts through `parse_amount`.

Accepted: plain decimal numbers (`100`, `12.5`, `.5`, `1,000.25` with thousands commas). Refused, each with
its own catalog key that says what is valid: empty, non-numeric, NaN, infinities, exponents (`1e999`),
negatives, zero, more fractional digits than the asset has, and anything above the sanity bound.

The point is the decimal mark everywhere, but where the user's language writes a decimal comma (Babel: vi, es, ru)
`1,500` means one and a half and `1.500` fifteen hundred: there, a comma anywhere and a dot before exactly three
digits (`1.500`, `2.000.000`) are refused as ambiguous rather than read a thousand times off. A first group of
`0,` (`0,500`) is no thousands group in any language, and refused everywhere.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

import babel.numbers

from bot.core.errors import UserError
from bot.core.messages import Amount, Count

_PLAIN = re.compile(r"^(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)?(?:\.[0-9]+)?$")
_DOT_GROUPS = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})+$")  # 1.500, 2.000.000: thousands where the decimal mark is a comma
MAX_INPUT_CHARS = 40


def parse_id(raw: str, max_digits: int = 12) -> int | None:
    """An id typed by a user (`12`, `#12`): ASCII digits only, at most `max_digits`; None for anything else."""
    text = raw.strip().removeprefix("#")
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


@functools.lru_cache(maxsize=64)
def decimal_comma(locale: str) -> bool:
    """Whether `locale` writes a decimal comma (Babel's number symbols)."""
    return babel.numbers.get_decimal_symbol(locale) == ","


def parse_amount(raw: str | None, *, decimals: int, maximum: Decimal, unit: str, locale: str) -> Decimal:
    """Parse `raw`, typed by a user reading `locale`, as a positive amount of an asset with `decimals` places, at
    most `maximum`."""
    if raw is None or not raw.strip():
        raise UserError("error.amount.missing", unit=unit)
    text = raw.strip()
    shown = text[:MAX_INPUT_CHARS]
    if text.startswith("-") and _PLAIN.match(text[1:]) and text[1:].strip("0.,"):
        raise UserError("error.amount.negative", value=shown)
    if len(text) > MAX_INPUT_CHARS or not _PLAIN.match(text) or not any(c in "0123456789" for c in text):
        raise UserError("error.amount.format", value=shown)
    if decimal_comma(locale) and ("," in text or _DOT_GROUPS.match(text)):
        raise UserError("error.amount.format", value=shown)
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        raise UserError("error.amount.format", value=shown) from None
    if value == 0:
        raise UserError("error.amount.zero", unit=unit)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise UserError("error.amount.too_precise", unit=unit, count=Count(decimals))
    if value > maximum:
        raise UserError("error.amount.too_large", unit=unit, maximum=Amount(maximum, 0))
    return value


def to_base_units(value: Decimal, decimals: int) -> int:
    """Exact conversion; the value must already be validated against `decimals`."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {decimals} decimals")
    return int(scaled)


def from_base_units(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)
