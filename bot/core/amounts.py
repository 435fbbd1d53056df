"""Parsing amounts typed by users: strict, Decimal only, with a reason for every refusal.

Only ASCII digits are digits here: Python's `str.isdigit`, `int()`, `Decimal()` and the regex `\\d` also take
`²` or Arabic-Indic digits (`١٢`), which would make an internal error or another number (plan 12) out of
what the user typed; ids go through `parse_id`, amounts through `parse_amount`.

Accepted: plain decimal numbers (`100`, `12.5`, `.5`, `1,000.25` with thousands commas). Refused, each with
its own catalog key that says what is valid: empty, non-numeric, NaN, infinities, exponents (`1e999`),
negatives, zero, more fractional digits than the asset has, and anything above the sanity bound.

The point is the decimal mark everywhere. Where the user's language writes a decimal comma (Babel: vi, es, ru), and
the bot shows amounts so, the comma is a decimal mark too when it can be nothing else: `1,5`, `12,25`, `0,500`,
`1.234,5` (dots grouping thousands before it); dots grouping more than one thousand (`2.000.000`) are thousands. What
could be either is refused as ambiguous rather than read a thousand times off: one mark before three digits, `1,500`
or `1.500`, with a reply naming both readings. In a language with a decimal point, a first group of `0,` (`0,500`) is no thousands group, and refused.
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
_COMMA_DECIMAL = re.compile(r"^(?:[1-9][0-9]{0,2}(?:\.[0-9]{3})+|[0-9]*),([0-9]+)$")  # 1,5  ,5  0,500  1.234,5
_ONE_GROUP = re.compile(r"^([1-9][0-9]{0,2})[.,]([0-9]{3})$")  # 1,500 or 1.500: a thousands group, or decimals
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
    if len(text) > MAX_INPUT_CHARS:
        raise UserError("error.amount.format", value=shown)
    literal = _comma_decimal(text) if decimal_comma(locale) else text
    if not _PLAIN.match(literal) or not any(c in "0123456789" for c in literal):
        raise UserError("error.amount.format", value=shown)
    try:
        value = Decimal(literal.replace(",", ""))
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


def _comma_decimal(text: str) -> str:
    """`text` as typed where the decimal mark is a comma, in the decimal-point form `_PLAIN` reads. One group of three
    digits after one mark (`1,500`, `1.500`) is refused, naming both readings."""
    one_group = _ONE_GROUP.match(text)
    if one_group:
        whole, fraction = one_group.groups()
        decimal = str(Decimal(f"{whole}.{fraction}").normalize()).replace(".", ",")
        raise UserError("error.amount.ambiguous", value=text, grouped=whole + fraction, decimal=decimal)
    if _DOT_GROUPS.match(text):  # 2.000.000
        return text.replace(".", "")
    comma = _COMMA_DECIMAL.match(text)
    if comma:  # 1,5  0,500  1.234,5
        return text[: comma.start(1) - 1].replace(".", "") + "." + comma.group(1)
    return text  # 1.5, 1500, 1,500,000, 1,234.5


def to_base_units(value: Decimal, decimals: int) -> int:
    """Exact conversion; the value must already be validated against `decimals`."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {decimals} decimals")
    return int(scaled)


def from_base_units(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)
