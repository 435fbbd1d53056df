"""Every shipped language is complete, with the same placeholders as English, and every key used exists."""

import ast
from typing import get_args
from pathlib import Path

import pytest

from bot.core.secrets import Secret
from bot.i18n import Catalogs, placeholders

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = Catalogs()
ENGLISH = CATALOGS.entries["en"]


def test_ships_english_chinese_and_korean() -> None:
    assert {"en", "zh_CN", "zh_TW", "ko"} <= set(CATALOGS.locales)


# characters only Simplified Chinese writes (這為錢設請... in Traditional): a zh_CN sentence pasted into zh_TW shows here
SIMPLIFIED_ONLY = set(
    "这为钱设请没发时币们说对区块链转账户网络价权额费进选择务实现应资产计边过确认联关闭开启显录记获专换签间长会将与从让给该"
    "还无错误数连读写页简态删报仓质检历图级领当动别达头条证订阅员处击复维验结卖买场满试"
)


def test_traditional_chinese_is_traditional_and_says_ni() -> None:
    entries = CATALOGS.entries["zh_TW"]
    assert {key: "".join(sorted(set(text) & SIMPLIFIED_ONLY)) for key, text in entries.items() if set(text) & SIMPLIFIED_ONLY} == {}
    assert sorted(key for key, text in entries.items() if "您" in text) == []
    assert sum(entries[key] != CATALOGS.entries["zh_CN"][key] for key in entries) > len(entries) // 2


def test_ships_english_simplified_chinese_japanese_and_vietnamese() -> None:
    assert {"en", "zh_CN", "ja", "vi"} <= set(CATALOGS.locales)


@pytest.mark.parametrize("po", sorted((ROOT / "locales").glob("*/LC_MESSAGES/messages.po")), ids=lambda p: p.parts[-3])
def test_catalog_headers_and_no_fuzzy_entries(po: Path) -> None:
    """Fuzzy entries are left out of the compiled catalog (the user sees English): a shipped language has none,
    and its Plural-Forms header is Babel's for that language."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    code = po.parts[-3]
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=code)
    assert [m.id for m in catalog if m.id and m.fuzzy] == []
    assert catalog.plural_forms == Catalog(locale=code).plural_forms


@pytest.mark.parametrize("locale", [c for c in CATALOGS.locales if c != "en"])
def test_language_is_complete_with_matching_placeholders(locale: str) -> None:
    entries = CATALOGS.entries[locale]
    assert sorted(set(ENGLISH) - set(entries)) == [], f"{locale} lacks keys"
    assert sorted(set(entries) - set(ENGLISH)) == [], f"{locale} has keys English does not"
    mismatched = [k for k in ENGLISH if placeholders(ENGLISH[k]) != placeholders(entries[k])]
    assert mismatched == []


def _literal_keys() -> set[str]:
    """Catalog keys written as literals in the code: Msg("..."), UserError("...")."""
    keys = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py"), *ROOT.glob("wallets/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"Msg", "UserError"}:
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    keys.add(first.value)
    return keys


def test_every_key_used_in_code_exists_in_english() -> None:
    used = _literal_keys()
    assert len(used) > 30  # the scan found the handlers' keys
    assert sorted(used - set(ENGLISH)) == []


def _registered_commands() -> set[str]:
    """Command names the handlers register: router.command("name", ...)."""
    names = set()
    for path in (ROOT / "handlers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "command" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return names


def test_dynamic_keys_exist() -> None:
    for side in ("buy", "sell"):
        assert f"quote.{side}.title" in ENGLISH
        assert f"limits.sign.{side}" in ENGLISH  # a connected wallet's triggered order (bot.limits.book)
    commands = _registered_commands()
    assert {"start", "help", "lang", "indexes", "quote"} <= commands
    assert sorted(f"cmd.{n}" for n in commands if f"cmd.{n}" not in ENGLISH) == []
    for kind in get_args(Secret):  # the router names the secret a message carried, and warns when others saw it
        assert f"secret.noun.{kind}" in ENGLISH and f"secret.public.{kind}" in ENGLISH


def test_discord_option_descriptions_exist() -> None:
    from bot.frontends.adapters.discord_commands import SLASH

    keys = {f"param.{name}.{option.name}" for name, slash in SLASH.items() for option in slash.options}
    assert keys and sorted(keys - set(ENGLISH)) == []


def test_negotiation_maps_platform_tags() -> None:
    assert CATALOGS.negotiate("zh-hans") == "zh_CN"
    assert CATALOGS.negotiate("zh-CN") == "zh_CN"
    assert CATALOGS.negotiate("zh") == "zh_CN"
    for traditional in ("zh-hant", "zh-TW", "zh-tw", "zh-HK", "zh_Hant_TW"):
        assert CATALOGS.negotiate(traditional) == "zh_TW", traditional
    assert CATALOGS.negotiate("ko") == "ko"
    assert CATALOGS.negotiate("ko-KR") == "ko"
    assert CATALOGS.negotiate("en-US") == "en"
    assert CATALOGS.negotiate("ja") == "ja" and CATALOGS.negotiate("ja-JP") == "ja"
    assert CATALOGS.negotiate("vi") == "vi" and CATALOGS.negotiate("vi-VN") == "vi"
    assert CATALOGS.negotiate("pt-br") == "en"
    assert CATALOGS.negotiate(None) == "en"


def test_escaping_touches_literal_text_and_values_never_placeholder_names() -> None:
    from bot.core.messages import Msg

    underscored = next(k for k, v in ENGLISH.items() if any("_" in name for name in placeholders(v)))
    params = {name: "a_b" for name in placeholders(ENGLISH[underscored])}
    rendered = CATALOGS.render_msg(Msg(underscored, params), "en", lambda s: s.replace("_", "\\_"))
    assert "{" not in rendered and rendered.count("a\\_b") == len(params)


def test_keys_each_kind_builds_exist_in_every_language() -> None:
    """Keys built at run time from an intent's kind (`f"{kind}.offer"`, `"sign.what." + kind`) come from its
    registered handler: a kind without its messages in a shipped language fails here."""
    from bot.app import kind_registry
    from bot.trading.kinds import Kind

    built = kind_registry().catalog_keys()
    assert sorted(built) == sorted(get_args(Kind)) and all(built.values())
    for locale in CATALOGS.locales:
        entries = CATALOGS.entries[locale]
        assert sorted(k for keys in built.values() for k in keys if k not in entries) == [], locale
