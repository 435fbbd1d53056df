"""Commands through the real router, handlers and devnet: answers, and bad input that changes nothing."""

import pytest

from bot.app import App
from bot.i18n import Catalogs
from auxil.catalog import starts, text
from auxil.requests import reply_text as say  # the answer's text

EN = Catalogs().entries["en"]


BAD_QUOTES = [
    ("/quote", "error.quote.usage"),
    ("/quote BTC 100", "error.index.unknown"),
    ("/quote MAG8 100", "error.index.unknown"),
    ("/quote MAG7.ssi -5", "error.amount.negative"),
    ("/quote MAG7.ssi 0", "error.amount.zero"),
    ("/quote MAG7.ssi abc", "error.amount.format"),
    ("/quote MAG7.ssi NaN", "error.amount.format"),
    ("/quote MAG7.ssi inf", "error.amount.format"),
    ("/quote MAG7.ssi 1e999", "error.amount.format"),
    ("/quote MAG7.ssi 1.1234567", "error.amount.too_precise"),
    ("/quote MAG7.ssi 0.123456789 tokens", "error.amount.too_precise"),
    ("/quote MAG7.ssi 100000000000", "error.amount.too_large"),
    ("/quote MAG7.ssi 5000000 tokens", "error.amount.too_large"),
    ("/quote MAG7.ssi 100 btc", "error.quote.unit"),
    ("/quote MAG7.ssi 100 usdc extra", "error.args.extra"),
    ("/indexes now", "error.index.unknown"),  # one argument names an index
    ("/indexes MAG7 sauces", "error.args.extra"),  # the second can only be `sources`
    ("/indexes MAG7 sources now", "error.args.extra"),
    ("/lang en zh", "error.args.extra"),
    ("/lang klingon", "error.lang.unknown"),
    ("/frobnicate", "error.command.unknown"),
    ("/quote MAG7.ssi " + "9" * 3990, "error.message.too_long"),
]


@pytest.mark.parametrize(("text", "key"), BAD_QUOTES, ids=[k + ":" + t[:24] for t, k in BAD_QUOTES])
async def test_bad_input_is_explained_and_changes_nothing(app: App, text: str, key: str) -> None:
    block = await app.chain.block_number()
    before = app.chain.method_counts()
    reply = await say(app, text)
    assert reply.startswith(starts(key)), reply
    assert await app.chain.block_number() == block
    asked = app.chain.method_counts() - before
    # only eth_blockNumber (the check above, and the head tracker's polls, which a slow machine lets in): no quote read
    assert asked and set(asked) == {"eth_blockNumber"}, asked


async def test_symbols_match_without_case_or_suffix(app: App) -> None:
    for typed in ("MAG7.ssi", "mag7.SSI", "mag7.ssi"):
        assert (await say(app, f"/quote {typed} 100")).startswith("Buy quote: MAG7.ssi")
    for typed in ("mag7", "MAG7"):  # MAG7.ssi on Base and MAG7.nex on Ethereum: the home chain's, the other offered
        assert (await say(app, f"/quote {typed} 100")).startswith("Buy quote: MAG7.ssi")
    assert (await say(app, "/quote ussi 5 tokens")).startswith("Sell quote: USSI")


async def test_quote_reply_in_chinese(app: App) -> None:
    reply = await say(app, "/quote MAG7.ssi 100", locale="zh-hans")
    assert reply.startswith("买入报价：MAG7.ssi") and "计算于区块" in reply


@pytest.mark.parametrize(("tag", "locale"), [("ja-JP", "ja"), ("vi", "vi")])
async def test_quote_reply_in_japanese_and_vietnamese(app: App, tag: str, locale: str) -> None:
    reply = await say(app, "/quote MAG7.ssi 100", locale=tag)
    assert reply.startswith(text(app, "quote.buy.title", locale, index="MAG7.ssi"))
    assert text(app, "common.block", locale, block=0).split("0")[0] in reply
    assert text(app, "quote.buy.title", locale, index="MAG7.ssi") != text(app, "quote.buy.title", index="MAG7.ssi")


DECIMAL_COMMAS = [  # Vietnamese writes 1,5 for 1.5 (Babel shows amounts so): what a vi user who types either gets
    ("1.5", None),
    ("12.25", None),
    ("1,5", None),
    ("12,25", None),
    ("1.234,5", None),
    ("1,500", "error.amount.ambiguous"),
    ("12,5x", "error.amount.format"),
]


@pytest.mark.parametrize(("typed", "refusal"), DECIMAL_COMMAS)
async def test_vietnamese_decimal_comma_is_explained_in_vietnamese(app: App, typed: str, refusal: str | None) -> None:
    reply = await say(app, f"/quote MAG7.ssi {typed}", locale="vi")
    if refusal is None:
        assert reply.startswith(text(app, "quote.buy.title", "vi", index="MAG7.ssi")), reply
    elif refusal == "error.amount.ambiguous":
        assert reply == text(app, refusal, "vi", value=typed, grouped="1500", decimal="1,5")
    else:
        assert reply == text(app, refusal, "vi", value=typed)
        assert "12,5" in reply and "dấu phẩy" in reply  # the valid forms, with the decimal comma named


async def test_lang_overrides_the_platform_language(app: App) -> None:
    assert (await say(app, "/lang zh_CN")).startswith("语言已设置为")
    assert (await say(app, "/help")).startswith("命令")
    assert (await say(app, "/lang auto")).startswith("Language follows your app again")
    assert (await say(app, "/help")).startswith("Commands")


async def test_indexes_lists_every_index_with_weights(app: App) -> None:
    reply = await say(app, "/indexes")
    for ref in app.profile.indexes:
        assert ref.symbol in reply
    assert reply.count("NAV per token") == len(app.services.all_indexes) == 5  # four on Base, MAG7.nex on Ethereum
    assert "BTC:" in reply and "Uniswap price" in reply


async def test_help_lists_every_command(app: App) -> None:
    reply = await say(app, "/help")
    for name in app.router.commands:
        assert f"/{name} - " in reply
