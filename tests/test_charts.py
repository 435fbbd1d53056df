"""/chart on the real devnet: the `charts:nav` job's coroutine (`NavHistory.sample`) records NAV per token, the pool
price and the premium of every pool index at one block; /chart draws them as a PNG (1000 × 600) on Telegram (a
photo through the Bot API emulator), Discord (a file through discord.py's REST path) and the console (a path);
`/chart MAG7 weights` shows the weights now and before the last rebalance; bad input is refused and changes nothing;
a Chinese, Japanese and Korean title draws without a missing glyph."""

from __future__ import annotations

import asyncio
import json
import re
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.dates import format_skeleton
from matplotlib.dates import date2num, num2date

from auxil.pictures import size_of
from auxil.catalog import text as line
from auxil.console import console_lines
from auxil.discord import dm_slash
from auxil.telegram import to_chat
from auxil.trading import say
from bot.app import App
from bot.core.messages import Msg, When
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.market.history import NavHistory, NavSample
from bot.market.navchart import ChartLabels, nav_figure, render_nav_chart, tick_dates
from bot.storage.navs import NavSampleRows
from devnet import operator
from devnet.harness import Devnet
from devnet.anvil import node_call
from devnet.rpc import connect
from discord_fake import FakeDiscord
from telegram_emulator import BotApiEmulator

PNG = b"\x89PNG\r\n\x1a\n"
POOLS = "MAG7.ssi, MEME.ssi, DEFI.ssi, USSI"



async def test_the_job_records_a_sample_per_index_at_one_block_and_prunes_old_ones(app: App, chain: Devnet) -> None:
    navs = app.services.navs
    assert await navs.sample() == len(navs.indexes)
    assert await navs.sample() == 0  # the same block again (another process, a retry): stored once
    rows = await app.db.fetch_all("SELECT token, block, nav, pool, premium FROM nav_samples")
    assert {r[0] for r in rows} == {ref.token.address for ref in navs.indexes}
    assert len({r[1] for r in rows}) == 1  # every index at the same block
    snap = await app.services.market.snapshot()
    for token, _, nav, pool, premium in rows:
        ref = next(r for r in navs.indexes if r.token.address == token)
        state = snap.indexes[ref.symbol]
        assert Decimal(nav) == state.nav  # stored as text, exactly
        assert pool is None or Decimal(pool) == state.dex_price
        assert premium is None or Decimal(premium) == state.premium
    await app.db.execute("UPDATE nav_samples SET at = at - 101 * 86400")
    async with connect(chain.url) as w3:
        await node_call(w3, "anvil_mine", hex(1))
    await app.head.poll_once()
    assert await navs.sample() == len(navs.indexes)  # past chart_keep_days (100): pruned by the same job
    assert (await app.db.fetch_one("SELECT count(*) FROM nav_samples"))[0] == len(navs.indexes)


async def test_two_processes_sampling_the_same_block_at_once_store_it_once(app: App) -> None:
    """Two processes' samplers (each its own NavHistory and rows over the one database) at the same moment, as a
    retried run of the job would: one sample per index and block. Runs on PostgreSQL with INDEXBOT_TEST_ENGINE."""
    navs = app.services.navs
    other = NavHistory(app.services.market, NavSampleRows(app.db), navs.every_seconds, navs.keep_days)
    added = await asyncio.gather(navs.sample(), other.sample())
    assert sum(added) == len(navs.indexes)
    count = await app.db.fetch_one("SELECT count(*) FROM nav_samples")
    assert count is not None and count[0] == len(navs.indexes)


async def test_the_console_draws_the_chart_to_a_path_and_shows_the_weights(app: App, chain: Devnet) -> None:
    typed = console_lines(app, "carol")
    assert await app.db.fetch_one("SELECT 1 FROM nav_samples") is None  # a bot just started: the job ran not yet
    first = await typed("/chart MAG7")  # samples where NAV stands now, rather than asking to come back in 15 min
    nav = await operator.index_nav(chain.profile, "MAG7.ssi")
    assert first.startswith(f"MAG7.ssi, 7d: NAV per token ${nav.quantize(Decimal('0.01')):,}"), first
    assert size_of(Path(re.search(r"^(/\S+\.png)$", first, re.M).group(1)).read_bytes()) == (1000, 600)  # type: ignore[union-attr]
    count = await app.db.fetch_one("SELECT COUNT(*) FROM nav_samples")
    assert count is not None and count[0] == len(app.services.navs.indexes)  # one sample, as the job takes it
    shown = await typed("/chart MAG7 30d")
    assert (await app.db.fetch_one("SELECT COUNT(*) FROM nav_samples")) == count  # samples exist: none taken again
    assert shown.startswith("MAG7.ssi, 30d: NAV per token $")
    path = Path(re.search(r"^(/\S+\.png)$", shown, re.M).group(1))  # type: ignore[union-attr]
    assert size_of(path.read_bytes()) == (1000, 600)
    assert "[1] Weights" in shown
    weights = await typed("1")  # the Weights button
    assert weights.startswith("MAG7.ssi: weights at") and "No rebalance since the samples began" in weights
    assert len(re.findall(r"^  \w+: [\d.]+%$", weights, re.M)) == 7


async def test_a_partial_nav_is_not_sampled_and_chart_says_when_the_first_comes(app: App, chain: Devnet) -> None:
    """A constituent without any price (its feed gone): no sample can be taken now, so /chart and its weights say
    when the job's first one is due; nothing is stored."""
    async with connect(chain.url) as w3:
        await node_call(w3, "anvil_setCode", chain.profile.feeds["BTC"], "0x")
    await app.head.poll_once()
    assert (await app.services.market.snapshot()).indexes["MAG7.ssi"].partial
    for typed in ("/chart MAG7", "/chart MAG7 weights"):
        text = (await say(app, typed, "erin")).rendered.text
        assert text.startswith("MAG7.ssi has no NAV samples yet") and "Try again then." in text, text
    assert await app.db.fetch_one("SELECT 1 FROM nav_samples WHERE token = :t", {"t": app.profile.index("MAG7.ssi").token.address}) is None


async def test_weights_before_the_last_rebalance_come_from_the_last_other_composition(app: App) -> None:
    navs = app.services.navs
    ref = app.profile.index("MAG7.ssi")
    snap = await app.services.market.snapshot()
    now = snap.indexes["MAG7.ssi"]
    old = tuple((e.symbol, e.decimals, e.amount * (2 if e.symbol == "BTC" else 1)) for e in now.tokenset)
    prices = {e.symbol: snap.prices[e.symbol] for e in now.tokenset}
    # today's amounts a little larger before the last daily fee collection, which is not a rebalance
    unfeed = tuple((e.symbol, e.decimals, e.amount * 10001 // 10000) for e in now.tokenset)
    t = int(time.time())
    rows = navs._rows  # earlier samples: before a rebalance that halved BTC's amount, then before a fee collection
    await rows.add([NavSample(ref.token.address, 1, t - 7200, now.nav, None, None, old, prices),
                    NavSample(ref.token.address, 2, t - 3600, now.nav, None, None, unfeed, prices)])
    await navs.sample()
    text = (await say(app, "/chart MAG7 weights", "dave")).rendered.text
    assert re.search(r"BTC: [\d.]+% \(was [\d.]+%\)", text), text
    assert line(app, "chart.weights.before", at=When(t - 7200)) in text  # not the fee collection's sample


VIEWS = "7d, 30d, 90d, weights"


@pytest.mark.parametrize(
    ("typed", "locale", "key", "params"),
    [
        ("/chart", "en", "error.chart.missing", {"valid": POOLS, "views": VIEWS}),
        ("/chart MAG7 1y", "en", "error.chart.period", {"value": "1y", "valid": VIEWS}),
        ("/chart MAG7 0d", "ja", "error.chart.period", {"value": "0d", "valid": VIEWS}),
        ("/chart MAG7 -7d", "ru", "error.chart.period", {"value": "-7d", "valid": VIEWS}),
        ("/chart NOPE", "zh_CN", "error.index.unknown", {"value": "NOPE", "valid": POOLS}),
        ("/chart MAG7.nex", "en", "error.chart.not_sampled", {"index": "MAG7.nex", "valid": POOLS}),  # a factory's
        ("/chart MAG7 7d now", "es", "error.args.extra", {"usage": Msg("usage.chart")}),
    ],
)
async def test_bad_input_says_what_is_valid_and_changes_nothing(app: App, typed: str, locale: str, key: str,
                                                                params: dict) -> None:
    before = app.chain.method_counts().get("eth_call", 0)
    reply = await say(app, typed, "bad", locale=locale)
    assert reply.rendered.text == line(app, key, locale, **params) and reply.rendered.image is None
    assert await app.db.fetch_one("SELECT 1 FROM nav_samples") is None
    assert app.chain.method_counts().get("eth_call", 0) == before


async def test_telegram_receives_a_photo(app: App, chain: Devnet, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    await app.services.navs.sample()
    since = emulator.mark()
    emulator.send_text(8801, 8801, "/chart MAG7 90d")
    sent = await emulator.wait_for("sendPhoto", lambda c: c.chat_id == 8801, since=since)
    assert size_of(sent.params["photo"]) == (1000, 600)
    assert "MAG7.ssi, 90d: NAV per token" in sent.params["caption"]
    markup = sent.params["reply_markup"]
    rows = (json.loads(markup) if isinstance(markup, str) else markup)["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == "Weights")
    since = emulator.mark()
    emulator.press(8801, 8801, sent.result["message_id"], data)  # the Weights button under the picture
    weights = await emulator.wait_for("sendMessage", to_chat(8801), since=since)
    assert "MAG7.ssi: weights at" in weights.params["text"]


async def test_discord_receives_a_file(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    await app.services.navs.sample()
    sent = await dm_slash(frontend, rest, "chart", index="MAG7.ssi", period="7d")
    assert sent.files == 1 and "MAG7.ssi, 7d: NAV per token" in str(sent.body)


@pytest.mark.parametrize("locale", ["zh_CN", "zh_TW", "ja", "ko", "ru", "vi"])
def test_every_language_draws_without_a_missing_glyph(locale: str) -> None:
    titles = {"zh_CN": "净值与池价格", "zh_TW": "淨值與池價格", "ja": "NAVとプール価格", "ko": "NAV와 풀 가격",
              "ru": "NAV и цена пула", "vi": "NAV và giá pool"}
    sample = NavSample("0x", 1, 1_800_000_000, Decimal("100"), Decimal("101"), Decimal("0.01"), (), {})
    later = NavSample("0x", 2, 1_800_003_600, Decimal("102"), Decimal("101"), Decimal("-0.0098"), (), {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
        png = render_nav_chart([sample, later], ChartLabels(titles[locale], titles[locale], titles[locale], "$",
                                                            titles[locale], locale))
    assert png.startswith(PNG) and size_of(png) == (1000, 600)


def test_a_lone_sample_is_drawn_on_two_hours_around_it_not_a_decade() -> None:
    """A bot's first /chart has one sample: its time axis is the hour each side, labelled with that day and times (a
    zero span left to matplotlib ran from 1970 to 2040 in ticks of half a year)."""
    sample = NavSample("0x", 1, 1_800_000_000, Decimal("100"), Decimal("100.01"), Decimal("0.0001"), (), {})
    fig = nav_figure([sample], ChartLabels("t", "NAV", "pool", "$", "%", "en"))
    low, high = (num2date(x, tz=UTC) for x in fig.axes[1].get_xlim())
    at = datetime.fromtimestamp(sample.at, UTC)
    assert (low, high) == (at - timedelta(hours=1), at + timedelta(hours=1))
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert ticks and all(t.startswith(format_skeleton("MMMd", at, locale="en")) for t in ticks), ticks
    assert fig.axes[1].get_ylim() == (-0.05, 0.05)  # a premium of 0.01 %: the panel still spans ±0.05 %
    assert not fig.axes[1].yaxis.get_offset_text().get_text()  # no "1e-16" beside the figures


@pytest.mark.parametrize(("locale", "week", "day"), [
    ("en", "Dec 1", "Dec 1 06:30"), ("zh_CN", "12月1日", "12月1日 06:30"), ("ru", "1 дек.", "1 дек. 06:30"),
    ("ko", "12월 1일", "12월 1일 06:30"), ("es", "1 dic", "1 dic 6:30"),
])
def test_the_time_axis_is_dated_in_the_readers_language(locale: str, week: str, day: str) -> None:
    """Tick labels come from Babel, not matplotlib's English month names; over two days or less they name the time."""
    start = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    tick = date2num(start)
    assert tick_dates([start, start + timedelta(days=7)], locale)(tick, 0) == week
    assert tick_dates([start, start + timedelta(hours=12)], locale)(tick, 0) == day
