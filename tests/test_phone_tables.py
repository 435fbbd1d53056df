"""Tables fit a phone: every row of a table-bearing screen, rendered in each of the 8 languages through Telegram's
HTML and Discord's markdown rendering, is at most 32 display columns (an East Asian wide character counts 2), so a
row is one line on a phone and its figures never wrap apart; a monospace span is a lone copyable token (an address)
or fits too. The figures must be there, exact to the shown precision.

Screens are built by the handlers' own line builders from realistic data: long index names, big balances, several
rows. Prose (hints, notes) wraps like any sentence and is not a row: it is listed in PROSE."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.messages import Amount, Msg, Pct, Reply, Usd, When
from bot.frontends.adapters.discord_render import MARKUP as DISCORD, DiscordMarkup
from bot.frontends.adapters.telegram import MARKUP as TELEGRAM, TelegramMarkup
from bot.i18n import Catalogs
from bot.issuance.factory import Constituent, FactoryState, Leg, RequestQuote
from bot.issuance.hours import MarketHours
from bot.issuance.present import index_lines as issuance_index_lines, order_lines, quote_lines
from bot.market.balances import Balances, Holding
from bot.market.engine.basket import TokensetEntry
from bot.market.fees import DailyFee
from bot.market.positions import Boost, Position, Positions
from bot.market.quotes import IndexState, Snapshot
from bot.market.reserves import Holding as ReserveHolding, Reserves
from bot.points.boost import DEFAULT_LEVELS, BoostTable
from bot.points.ledger import Leader, Standing
from bot.storage.dca import Plan
from bot.storage.orders import Order
from handlers.boost import level_lines, table_lines
from handlers.dca import plan_lines
from handlers.indexes import index_lines
from handlers.leaderboard import rows
from handlers.points import standing_lines
from handlers.positions import position_lines
from handlers.history import fill_lines
from handlers.shared.portfolio import pnl_lines
from bot.portfolio.fill import Fill
from bot.portfolio.pnl import IndexPnl
from handlers.reserves import reserve_lines
from handlers.wallet import balance_lines

pytestmark = pytest.mark.pure

PHONE_COLUMNS = 32
CATALOGS = Catalogs()
LOCALES = ("en", "zh_CN", "zh_TW", "ko", "ja", "vi", "ru", "es")
ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"
LONG = "DEFITOP10.ssi"  # a long index symbol
NOW = 1_796_383_237
# Sentences, and moments with their zone's name (`Dec 5, 2026, 7:20 PM Asia/Shanghai`): they wrap between words
PROSE = {"positions.paused", "positions.locked.why", "positions.cooling.until", "boost.no_index", "boost.needs_price",
         "boost.next", "boost.top", "boost.level.none", "wallet.total.unpriced", "common.block",
         "orders.requested", "orders.expected.at", "dca.list.cadence", "dca.list.next", "issuance.indexes.venue",
         "issuance.market.open", "issuance.market.closed", "issuance.indexes.reindex", "issuance.quote.later",
         "issuance.quote.expected", "reserves.short", "reserves.within_fee", "reserves.fee", "reserves.rebalancing",
         "reserves.unpriced", "history.when"}


def width(text: str) -> int:
    """Display columns: East Asian wide and fullwidth characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wallet() -> list[Msg]:
    big = Holding(LONG, "index", 1, Decimal("1234567.12345678"), Decimal("98765432.10"))
    holdings = (Holding("ETH", "native", 1, Decimal("12345.123456"), Decimal("45678901.23")),
                Holding("USDC", "stable", 1, Decimal("9876543.21"), Decimal("9876543.21")), big,
                Holding("sMAG7.ssi", "staked", 1, Decimal("0.00000001"), None),
                Holding("USDC", "stable", 1, Decimal("250000"), Decimal("250000"), chain="Arbitrum One"))
    return [Msg("wallet.address", {"address": ADDRESS}, style="code"), *balance_lines(Balances(ADDRESS, 123456789, holdings))]


def positions() -> list[Msg]:
    boost = Boost(Decimal("50000"), Decimal("0.5"), Decimal("25000"), Decimal("1000000"), Decimal("0.025"),
                  DEFAULT_LEVELS[0], DEFAULT_LEVELS[1], Decimal("75000"))
    index = Position(LONG, "s" + LONG, Decimal("1234567.12345678"), Decimal("7654321.87654321"), Decimal("123.45"),
                     NOW + 86400, Decimal("67.89"), 604800, True, Decimal("10.5"), Decimal("2.5"))
    soso = Position("SOSO", "sSOSO", Decimal("98765.4321"), Decimal("50000"), Decimal(0), None, Decimal(0), None, None, None)
    got = Positions(ADDRESS, 1, NOW, (index,), soso, boost, Balances(ADDRESS, 1, ()))
    services: Any = SimpleNamespace(profile=SimpleNamespace(soso=SimpleNamespace(symbol="SOSO")), boost=BoostTable())
    return [*position_lines(services, index, got), *position_lines(services, soso, got)]


def pnl() -> list[Msg]:
    """An index's PnL lines under its /positions card, with large figures."""
    big = Decimal("98765432.10")
    return pnl_lines(IndexPnl(LONG, Decimal("1234567.12345678"), big, big, -big, big, NOW, big * 3, big))


def history() -> list[Msg]:
    """A /history fill card (its transaction line is a lone link, copied whole)."""
    fill = Fill(1, 1, 8453, "buy", LONG, "USDC", 98_765_432_100_000, 6, LONG, 1_234_567_123_456_789_012_345_678, 18,
                Decimal("123456.7890"), 3000, Decimal("1234.5678"), None, "0x" + "ab" * 32, 1, NOW)
    services: Any = SimpleNamespace(profile=SimpleNamespace(chain_id=8453, explorer_url="https://basescan.org"), companions=())
    return [m for m in fill_lines(services, fill) if m.key != "trade.tx"]


def leaderboard() -> list[Msg]:
    names = ["CryptoWhale_2026", None, "張三的錢包", "김철수", None]
    leaders = [Leader(rank, 1000 + rank, name, Decimal("12345678.125") / rank) for rank, name in enumerate(names, 1)]
    return rows(leaders, 1003)


def orders() -> list[Msg]:
    def order(side: str, state: str, out: int | None, expected: int | None) -> Order:
        issue = side == "issue"
        index = "DEFITOP10.nex"
        paid = 1_234_567_890_123 if issue else 1_234_567_123_456_789_012_345_678  # USDC's 6 decimals, the index's 18
        return Order(1, 1, 1, "base", "0x0", index, side, 123456, paid, NOW, 1, expected, state, out, None, None, None,
                     ADDRESS, "telegram", "1", None,
                     {"symbol_in": "USDC" if issue else index, "symbol_out": index if issue else "USDC",
                      "decimals_in": 6 if issue else 18, "decimals_out": 18 if issue else 6})
    made = [order("issue", "pending", None, NOW + 3600), order("issue", "pending", None, None),
            order("redeem", "filled", 9_876_543_210_000, None), order("issue", "cancelled", None, None)]
    return [line for o in made for line in order_lines(o)]


def boost() -> list[Msg]:
    state = Boost(Decimal("1234567.123456"), Decimal("0.1234"), Decimal("152345.67"), Decimal("98765432.10"),
                  Decimal("0.0154"), DEFAULT_LEVELS[0], DEFAULT_LEVELS[1], Decimal("12345678.12"))
    return [*level_lines(state), *table_lines(BoostTable())]


def points() -> list[Msg]:
    return standing_lines(Standing("2026-Q4", Decimal("12345678.125"), Decimal("987654321.5"), 1234, 56789))


def dca() -> list[Msg]:
    plans = [Plan(1, LONG, 1_234_567_890_000, "weekly", 9 * 60, 2, "America/Argentina/Buenos_Aires", "telegram", "1",
                  id=1234, state="active", failures=2, created_at=NOW),
             Plan(1, "MAG7.ssi", 25_500_000, "daily", 21 * 60 + 30, None, "Asia/Shanghai", "telegram", "1",
                  id=1235, state="paused", failures=0, created_at=NOW)]
    return [line for p in plans for line in plan_lines(p, Amount(Decimal(p.usdc_units).scaleb(-6), 6), When(NOW + 86400))]


BASKET = (("AAPLX", Decimal("12.34567891"), Decimal("234.56")), ("GOOGLX", Decimal("3.21098765"), Decimal("187.65")),
          ("NVDAX", Decimal("45.67891234"), Decimal("1234.56")), ("TSLAX", Decimal("0.98765432"), Decimal("456.78")))


def indexes() -> list[Msg]:
    tokenset = tuple(TokensetEntry("base", symbol, "0x0", 8, int(units.scaleb(8))) for symbol, units, _ in BASKET)
    prices = {symbol: price for symbol, _, price in BASKET}
    nav = sum((units * price for _, units, price in BASKET), Decimal(0))
    state = IndexState(LONG, tokenset, nav, nav * Decimal("1.0123"), 3000, False)
    return index_lines(state, Snapshot(1, NOW, 1, prices, NOW, {LONG: state}))


def issuance() -> list[Msg]:
    current = tuple(Constituent(symbol, "0x0", Decimal(1) / len(BASKET), price, units * 1000) for symbol, units, price in BASKET)
    ref: Any = SimpleNamespace(symbol="DEFITOP10.nex")
    state = FactoryState(ref, current, current[:3], NOW + 86400, Decimal("0.001"), Decimal(1000), Decimal("123456.78"), 1, NOW)
    hours = MarketHours("America/New_York", time(9, 30), time(16, 0), frozenset(range(5)))
    legs = tuple(Leg(symbol, Decimal("123456.78"), units * 100) for symbol, units, _ in BASKET)
    quote = RequestQuote("DEFITOP10.nex", "buy", Decimal("1234567.89"), Decimal("1234.57"), Decimal("9.87654321"),
                         Decimal("123456.78"), Decimal("0.001"), legs, state)
    return [*issuance_index_lines(state, hours, "Ethereum"), *quote_lines(quote, hours, "USDC", "Ethereum")]


def reserves() -> list[Msg]:
    held = (ReserveHolding("NVDAX", 18, 1_234_567_123_456_789_012_345_678, 1_234_567_123_456_789_012_345_678, Decimal("187.65")),
            ReserveHolding("GOOGLX", 8, 98_765_432_100_000, 99_000_000_000_000, None),
            ReserveHolding("TSLAX", 8, 123_456_789, 0, Decimal("456.78")))
    return reserve_lines(Reserves(LONG, 1, NOW, 1_234_567_812_345_678, held, True, DailyFee(Decimal("0.0000411")), NOW - 86400))


SCREENS = {"wallet": wallet, "positions": positions, "pnl": pnl, "history": history, "leaderboard": leaderboard, "orders": orders, "boost": boost,
           "points": points, "dca": dca, "indexes": indexes, "issuance": issuance, "reserves": reserves}
PLATFORMS: dict[str, TelegramMarkup | DiscordMarkup] = {"telegram": TELEGRAM, "discord": DISCORD}


def shown_lines(msg: Msg, locale: str, platform: str) -> list[tuple[str, bool]]:
    """The lines a phone shows for one message, as (plain text, monospace), through the platform's real renderer."""
    markup = PLATFORMS[platform]
    text = CATALOGS.render(Reply.of(msg), locale, markup.escape, markup.style, zone="Asia/Shanghai").text
    out = []
    for line in text.split("\n"):
        mono = "<code>" in line or "<pre>" in line if platform == "telegram" else "`" in line
        plain = html.unescape(re.sub(r"<[^>]+>", "", line)) if platform == "telegram" else re.sub(r"\\(.)|[*`]", r"\1", line)
        out.append((plain, mono))
    return out


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("screen", SCREENS)
def test_each_row_fits_a_phone(screen: str, locale: str, platform: str) -> None:
    too_wide = []
    for msg in SCREENS[screen]():
        for plain, mono in shown_lines(msg, locale, platform):
            lone_token = mono and " " not in plain.strip()  # an address: copied whole with a tap, wraps harmlessly
            if (msg.key in PROSE and not mono) or msg.style == "title" or lone_token:  # a heading wraps as text
                continue
            if width(plain) > PHONE_COLUMNS:
                too_wide.append(f"{msg.key}: {plain!r} ({width(plain)})")
    assert not too_wide, f"{screen} in {locale} on {platform}: rows wider than {PHONE_COLUMNS} columns:\n" + "\n".join(too_wide)


def figures_in(msg: Msg) -> list[Amount | Usd | Pct]:
    """The amounts, values and percentages a message was given, nested messages' included."""
    found: list[Amount | Usd | Pct] = []
    for value in msg.params.values():
        found += figures_in(value) if isinstance(value, Msg) else [value] if isinstance(value, (Amount, Usd, Pct)) else []
    return found


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("screen", SCREENS)
def test_the_figures_are_all_there(screen: str, locale: str) -> None:
    """Every amount, value, percentage and points figure the screen was given is shown whole, as the locale writes it."""
    msgs = SCREENS[screen]()
    shown = CATALOGS.render(Reply(lines=tuple(msgs)), locale, TELEGRAM.escape, TELEGRAM.style, zone="Asia/Shanghai").text
    given = [v for m in msgs for v in figures_in(m)]
    assert len(given) >= 2
    for value in given:
        assert CATALOGS.format_param(value, locale, TELEGRAM.escape) in shown, (screen, locale, value)
