"""Amount parsing: every kind of bad input refused with its own reason; good input exact."""

from decimal import Decimal

import pytest

from bot.core.amounts import from_base_units, parse_amount, to_base_units
from bot.core.errors import UserError

MAX = Decimal(10_000_000)

REFUSED = [
    (None, "error.amount.missing"),
    ("", "error.amount.missing"),
    ("   ", "error.amount.missing"),
    ("-5", "error.amount.negative"),
    ("-0.5", "error.amount.negative"),
    ("0", "error.amount.zero"),
    ("0.000", "error.amount.zero"),
    ("abc", "error.amount.format"),
    ("NaN", "error.amount.format"),
    ("nan", "error.amount.format"),
    ("inf", "error.amount.format"),
    ("-inf", "error.amount.format"),
    ("Infinity", "error.amount.format"),
    ("1e999", "error.amount.format"),
    ("1E3", "error.amount.format"),
    ("0x10", "error.amount.format"),
    ("1.2.3", "error.amount.format"),
    ("12,34", "error.amount.format"),
    ("1_000", "error.amount.format"),
    ("0,500", "error.amount.format"),  # no thousands group starts with 0: not five hundred in any language
    (".", "error.amount.format"),
    ("+5", "error.amount.format"),
    ("٣", "error.amount.format"),  # a non-ASCII digit
    ("9" * 41, "error.amount.format"),
    ("1.0000001", "error.amount.too_precise"),
    ("10000000.01", "error.amount.too_large"),
    ("99999999999", "error.amount.too_large"),
]


@pytest.mark.parametrize(("raw", "key"), REFUSED)
def test_refused_with_reason(raw: str | None, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_amount(raw, decimals=6, maximum=MAX, unit="USDC", locale="en")
    assert caught.value.key == key


ACCEPTED = [
    ("100", Decimal("100")),
    ("12.5", Decimal("12.5")),
    (".5", Decimal("0.5")),
    (" 7 ", Decimal("7")),
    ("1,000.25", Decimal("1000.25")),
    ("0.000001", Decimal("0.000001")),
    ("10000000", Decimal("10000000")),
    ("1.500000", Decimal("1.5")),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_exactly(raw: str, expected: Decimal) -> None:
    assert parse_amount(raw, decimals=6, maximum=MAX, unit="USDC", locale="en") == expected


# The same text in each language. Where the decimal mark is a comma (vi, es, ru; the bot shows amounts so) a comma
# that can be nothing else is decimal; one mark before three digits could be either and is refused, naming both
# readings; where the mark is a point, thousands commas stay and a decimal comma is no amount.
BY_LANGUAGE = [
    ("en", "1,500", Decimal("1500")), ("en", "1.500", Decimal("1.5")), ("zh_CN", "1,500", Decimal("1500")),
    ("ja", "1.5", Decimal("1.5")), ("ko", "2,000.5", Decimal("2000.5")), ("en", "1,5", "error.amount.format"),
    ("en", "0,500", "error.amount.format"), ("zh_TW", "1.234,5", "error.amount.format"),
    ("vi", "1.5", Decimal("1.5")), ("vi", "12.25", Decimal("12.25")), ("vi", "1500", Decimal("1500")),
    ("vi", "1,5", Decimal("1.5")), ("vi", "0,500", Decimal("0.5")), ("vi", ",5", Decimal("0.5")),
    ("vi", "1.234,5", Decimal("1234.5")), ("vi", "2.000.000", Decimal("2000000")), ("vi", "0.500000", Decimal("0.5")),
    ("vi", "1,234.5", Decimal("1234.5")), ("vi", "1,500,000", Decimal("1500000")),
    ("vi", "1,500", ("1500", "1,5")), ("vi", "1.500", ("1500", "1,5")), ("es", "1,500", ("1500", "1,5")),
    ("es", "1.500", ("1500", "1,5")), ("ru", "1.000", ("1000", "1")), ("ru", "12,250", ("12250", "12,25")),
    ("es", "100.25", Decimal("100.25")), ("es", "12,25", Decimal("12.25")), ("ru", "1000,5", Decimal("1000.5")),
    ("es", "1,2,3", "error.amount.format"), ("ru", "1.2.3", "error.amount.format"), ("es", "5,", "error.amount.format"),
    ("vi", "1,23,456", "error.amount.format"), ("es", "1.234.5", "error.amount.format"),
    ("vi", "1,0000001", "error.amount.too_precise"),
]


@pytest.mark.parametrize(("locale", "raw", "expected"), BY_LANGUAGE)
def test_amounts_by_the_users_decimal_mark(locale: str, raw: str, expected: Decimal | str | tuple[str, str]) -> None:
    if isinstance(expected, Decimal):
        assert parse_amount(raw, decimals=6, maximum=MAX, unit="USDC", locale=locale) == expected
        return
    with pytest.raises(UserError) as caught:
        parse_amount(raw, decimals=6, maximum=MAX, unit="USDC", locale=locale)
    if isinstance(expected, str):
        assert caught.value.key == expected
        return
    assert caught.value.key == "error.amount.ambiguous"
    assert (caught.value.params["grouped"], caught.value.params["decimal"]) == expected


def test_decimals_follow_the_asset() -> None:
    assert parse_amount("0.12345678", decimals=8, maximum=MAX, unit="MAG7.ssi", locale="en") == Decimal("0.12345678")
    with pytest.raises(UserError):
        parse_amount("0.12345678", decimals=6, maximum=MAX, unit="USDC", locale="en")


def test_base_units_round_trip_exactly() -> None:
    assert to_base_units(Decimal("12.345678"), 6) == 12_345_678
    assert from_base_units(12_345_678, 6) == Decimal("12.345678")
    with pytest.raises(ValueError):
        to_base_units(Decimal("0.1234567"), 6)
