"""The internationalisation machinery: plural forms through the catalogs, each language's Plural-Forms header as
Babel gives it, language negotiation by script, and numbers, days and times through Babel (to the minute, in the
reader's zone). Catalog completeness and placeholders are tests/test_catalogs.py's."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.plurals import get_plural

from auxil.locales import marked, more_locales
from bot.core.messages import Count, Day, Msg, When
from bot.i18n import DEFAULT_LOCALE, Catalogs, locales_dir, placeholders

CATALOGS = Catalogs()
SHIPPED = sorted(p.parent.parent.name for p in locales_dir().glob("*/LC_MESSAGES/messages.po"))
PLURAL = sorted(CATALOGS.plurals[DEFAULT_LOCALE])
HEADER = re.compile(r'^"Plural-Forms: (?P<forms>[^"]*?)\\n"$', re.M)


@pytest.fixture(scope="module")
def eight(tmp_path_factory: pytest.TempPathFactory) -> Catalogs:
    """The shipped catalogs and made-up complete ones, so that eight languages are there whatever has landed."""
    extra = tuple(c for c in ("zh_TW", "ja", "ko", "vi", "ru", "es") if c not in SHIPPED)
    return Catalogs(more_locales(tmp_path_factory.mktemp("locales"), extra))


def plural_forms_header(locale: str) -> str:
    found = HEADER.search((locales_dir() / locale / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8"))
    assert found is not None, f"{locale} has no Plural-Forms header"
    return found["forms"]


# -- the languages are the folders ---------------------------------------------------------------------------


def test_the_shipped_languages_are_the_catalog_folders() -> None:
    assert list(CATALOGS.locales) == SHIPPED and DEFAULT_LOCALE in SHIPPED


def test_a_new_catalog_folder_is_a_new_language(eight: Catalogs) -> None:
    assert {"en", "zh_CN", "zh_TW", "ja", "ko", "vi", "ru", "es"} <= set(eight.locales)
    assert eight.text("cmd.quote", "ja") in (marked("ja", CATALOGS.text("cmd.quote", "en")), CATALOGS.text("cmd.quote", "ja"))


# -- plural forms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", SHIPPED)
def test_plural_forms_header_is_babels(locale: str) -> None:
    """What Babel writes for the locale (babel.messages.plurals): gettext evaluates it to pick a form. (CLDR's own
    rule, `Locale.plural_form`, counts categories gettext cannot tell from an integer, such as Russian's `other`
    for fractions, and its exponent operand is no gettext expression.)"""
    assert plural_forms_header(locale) == get_plural(locale).plural_forms


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_plural_entry_has_the_languages_number_of_forms(locale: str) -> None:
    forms = get_plural(locale).num_plurals
    plurals = CATALOGS.plurals[locale]
    assert sorted(k for k in PLURAL if k not in plurals) == [], f"{locale}: these must be plural entries (msgid_plural)"
    assert sorted(k for k in plurals if k not in PLURAL) == [], f"{locale}: plural where English is not"
    assert {k: len(v) for k, v in plurals.items() if len(v) != forms} == {}, f"{locale} needs {forms} forms each"
    for key in PLURAL:
        wanted = placeholders(CATALOGS.plurals[DEFAULT_LOCALE][key][-1])
        assert [placeholders(f) for f in plurals[key]] == [wanted] * forms, (locale, key)


def test_english_plural_entries_count_with_count() -> None:
    assert len(PLURAL) >= 20
    for key in PLURAL:
        one, other = CATALOGS.plurals["en"][key]
        assert "{count}" in one and "{count}" in other and one != other, key


@pytest.mark.parametrize(("locale", "n", "form"), [
    ("en", 1, 0), ("en", 0, 1), ("en", 2, 1), ("en", 5, 1), ("en", 21, 1),
    ("ru", 1, 0), ("ru", 21, 0), ("ru", 101, 0), ("ru", 2, 1), ("ru", 4, 1), ("ru", 22, 1), ("ru", 0, 2), ("ru", 5, 2),
    ("ru", 11, 2), ("ru", 12, 2), ("ru", 14, 2), ("ru", 111, 2),
    ("es", 1, 0), ("es", 0, 2), ("es", 2, 2), ("es", 1_000_000, 1),
    ("zh_CN", 1, 0), ("zh_CN", 5, 0), ("zh_TW", 2, 0), ("ja", 2, 0), ("ko", 2, 0), ("vi", 2, 0),
])
def test_count_picks_the_languages_form(eight: Catalogs, locale: str, n: int, form: int) -> None:
    msg = Msg("error.pin.wrong", {"count": Count(n)})
    shown = eight.render_msg(msg, locale, str)
    number = eight.format_param(Count(n), locale, str)
    expected = eight.plurals[locale]["error.pin.wrong"][form].replace("{count}", number)
    assert shown == expected
    if locale == "en":
        assert shown.startswith(f"Wrong PIN. {n:,} {'try' if n == 1 else 'tries'} left")


def test_a_plural_entry_without_a_count_is_refused() -> None:
    with pytest.raises(TypeError, match="Count"):
        CATALOGS.render_msg(Msg("error.pin.wrong", {"count": 3}), "en", str)


def test_counts_nest() -> None:
    reach = {"users": Msg("announce.reach.users", {"count": Count(1)}), "chats": Msg("announce.reach.chats", {"count": Count(3)})}
    assert CATALOGS.render_msg(Msg("announce.preview.reach", reach), "en", str) == \
        "It goes to 1 subscribed user and 3 groups and channels."


# -- negotiation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "locale"), [
    ("zh-TW", "zh_TW"), ("zh-HK", "zh_TW"), ("zh_HK", "zh_TW"), ("zh-MO", "zh_TW"), ("zh-Hant", "zh_TW"),
    ("zh-hant", "zh_TW"), ("zh-Hant-HK", "zh_TW"), ("zh_TW.UTF-8", "zh_TW"),
    ("zh", "zh_CN"), ("zh-CN", "zh_CN"), ("zh-cn", "zh_CN"), ("zh-Hans", "zh_CN"), ("zh-hans", "zh_CN"), ("zh-SG", "zh_CN"),
    ("zh_CN.UTF-8", "zh_CN"),
    ("es-ES", "es"), ("es-419", "es"), ("es-MX", "es"), ("es", "es"), ("ru-RU", "ru"), ("ru", "ru"),
    ("ja", "ja"), ("ja-JP", "ja"), ("ko", "ko"), ("ko-KR", "ko"), ("vi", "vi"), ("vi-VN", "vi"),
    ("en", "en"), ("en-US", "en"), ("en-GB", "en"), ("en_US.UTF-8", "en"),
    ("pt-BR", "en"), ("fr", "en"), ("de-DE", "en"), ("C", "en"), ("POSIX", "en"), ("", "en"), (None, "en"),
    ("not a tag!", "en"), ("zz-ZZ", "en"),
])
def test_negotiation_by_language_script_and_territory(eight: Catalogs, tag: str | None, locale: str) -> None:
    assert eight.negotiate(tag) == locale


@pytest.mark.parametrize("tag", ["zh-TW", "zh-HK", "zh-Hant", "zh", "zh-CN"])
def test_a_language_shipped_in_one_script_serves_both(tmp_path: Path, tag: str) -> None:
    """Without a zh_TW catalog a Traditional Chinese reader still reads Chinese (zh_CN), not English."""
    simplified_only = more_locales(tmp_path, ())
    (simplified_only / "zh_TW").exists() and __import__("shutil").rmtree(simplified_only / "zh_TW")
    assert Catalogs(simplified_only).negotiate(tag) == "zh_CN"


def test_match_says_when_no_shipped_language_fits(eight: Catalogs) -> None:
    assert eight.match("zh-Hant") == "zh_TW" and eight.match("fr") is None and eight.match(None) is None


# -- numbers, days and times through Babel ---------------------------------------------------------------------

MOMENT = 1_796_383_237  # 2026-12-04 11:20:37 UTC: the seconds are never shown


@pytest.mark.parametrize(("locale", "zone", "shown"), [
    ("en", "UTC", "Dec 4, 2026, 11:20\u202fAM UTC"),
    ("en", "Asia/Shanghai", "Dec 4, 2026, 7:20\u202fPM Asia/Shanghai"),
    ("zh_CN", "Asia/Shanghai", "2026年12月4日 19:20 Asia/Shanghai"),
    ("zh_CN", "America/New_York", "2026年12月4日 06:20 America/New_York"),
    ("zh_TW", "Asia/Taipei", "2026年12月4日 晚上7:20 Asia/Taipei"),
    ("ja", "Asia/Tokyo", "2026/12/04 20:20 Asia/Tokyo"),
    ("ko", "Asia/Seoul", "2026. 12. 4. 오후 8:20 Asia/Seoul"),
    ("ru", "Europe/Moscow", "4 дек. 2026\u202fг., 14:20 Europe/Moscow"),
    ("es", "Europe/Madrid", "4 dic 2026, 12:20 Europe/Madrid"),
    ("vi", "Asia/Ho_Chi_Minh", "18:20 4 thg 12, 2026 Asia/Ho_Chi_Minh"),
])
def test_times_read_to_the_minute_in_the_readers_language_and_zone(eight: Catalogs, locale: str, zone: str, shown: str) -> None:
    assert eight.format_param(When(MOMENT), locale, str, zone) == shown  # the reader's zone
    assert eight.format_param(When(MOMENT, zone), locale, str, "UTC") == shown  # a time with a zone of its own
    assert ":37" not in shown


@pytest.mark.parametrize(("locale", "shown"), [
    ("en", "Dec 4, 2026"), ("zh_CN", "2026年12月4日"), ("ja", "2026/12/04"), ("ru", "4 дек. 2026\u202fг."), ("es", "4 dic 2026"),
])
def test_days_read_as_the_locales_medium_date(eight: Catalogs, locale: str, shown: str) -> None:
    assert eight.format_param(Day(date(2026, 12, 4)), locale, str) == shown


@pytest.mark.parametrize(("locale", "shown"), [("en", "4,000"), ("zh_CN", "4,000"), ("ru", "4\xa0000"), ("es", "4.000"), ("vi", "4.000")])
def test_counts_are_grouped_as_the_locale_groups_digits(eight: Catalogs, locale: str, shown: str) -> None:
    assert eight.format_param(Count(4000), locale, str) == shown


# -- register ---------------------------------------------------------------------------------------------------


def test_simplified_chinese_says_ni_never_nin() -> None:
    """zh_CN speaks to the user as 你 throughout; 您 in one sentence and 你 in the next reads as two voices."""
    po = (locales_dir() / "zh_CN" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    assert [line for line in po.splitlines() if "您" in line] == []
    assert sum("你" in text for text in CATALOGS.entries["zh_CN"].values()) > 50
