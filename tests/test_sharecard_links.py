"""Share cards as pictures in Telegram's inline mode, and the text sparkline.

    over https (the public URL configured, TLS not served: the card link is fetched from the local web server over
    http on loopback): `@bot mag7` and `@bot pnl` answer photo results through the Bot API emulator, each photo a
    card link that serves the card as a real JPEG (drawn as PNG), its words and the sharer's deep link in the caption and button
    a card link is opaque (no user id, index or figure in it), and one that is altered, cut, made under another key
    or expired is refused with a bare 404; a PnL link opens only its owner's card and no other user's can be made
    over plain http the same queries answer text cards, with a Unicode sparkline of the day's NAV samples (a known
    series gives known bars) and none while there are no samples
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from auxil.pictures import pixels_near, size_of
from auxil.sharing import INDEX, fills_moved_to, inline
from bot.app import App
from bot.card_links import CardLinks, CardRef
from bot.cards import COLOURS, spark_text
from bot.config import WebSettings
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.market.history import NavSample
from conftest import JOURNEY_LIMITS, make_config
from telegram_emulator import BotApiEmulator

PUBLIC = "https://cards.example.org"
LINK = f"{PUBLIC}/card/"


@dataclass
class CardBot:
    app: App
    emulator: BotApiEmulator
    http: aiohttp.ClientSession

    def local(self, url: str) -> str:
        """A public card link as this machine reaches it: the web server's socket over http on loopback."""
        assert url.startswith(PUBLIC), url
        return f"http://127.0.0.1:{self.app.web.sock.getsockname()[1]}" + url.removeprefix(PUBLIC)  # type: ignore[union-attr]

    async def fetch(self, url: str) -> tuple[int, str, bytes]:
        async with self.http.get(self.local(url)) as response:
            return response.status, response.content_type, await response.read()


@pytest.fixture
async def cardbot(chain: Any, tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[CardBot]:
    """The bot with an https public URL, its Telegram front end on the emulator."""
    app = await App.start(make_config(chain, tmp_path, web=WebSettings(port=0, public_url=PUBLIC)))
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield CardBot(app, emulator, http)
    finally:
        await front.stop()
        await app.stop()


def token_of(url: str) -> str:
    assert url.startswith(LINK) and url.endswith(".jpg"), url
    return url.removeprefix(LINK).removesuffix(".jpg")


def opaque(token: str, *plain: str) -> None:
    """Nothing of the card in its token: neither it nor its raw bytes hold any of `plain` (as a word, or quoted as
    the sealed record writes it)."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for word in plain:
        assert f'"{word}"'.encode() not in raw and word not in token, word


async def test_inline_mag7_over_https_is_a_photo_whose_link_serves_the_quote_card(cardbot: CardBot) -> None:
    user = 9101
    key = (await cardbot.app.services.users.seen("telegram", str(user))).id
    code = await cardbot.app.services.points.referrals.code_of(key)
    answer = await inline(cardbot.emulator, user, "mag7")
    [card] = [r for r in answer["results"] if r["id"] == f"quote:{INDEX}"]
    assert card["type"] == "photo" and card["photo_url"] == card["thumbnail_url"], card
    assert (card["photo_width"], card["photo_height"]) == (800, 450) and answer["is_personal"] in (True, "true")
    caption = card["caption"]
    assert card["parse_mode"] == "HTML" and "NAV $" in caption and f"?start=ref_{code}" in caption, caption
    assert "NAV over 24 h" not in caption  # the picture draws the line
    [[button]] = card["reply_markup"]["inline_keyboard"]
    assert button["text"] == f"Buy {INDEX} in indexbot" and button["url"].endswith(f"?start=ref_{code}")
    opaque(token_of(card["photo_url"]), INDEX, "quote", code)
    status, kind, png = await cardbot.fetch(card["photo_url"])
    assert (status, kind) == (200, "image/jpeg") and size_of(png, "JPEG") == (800, 450)


async def test_inline_pnl_over_https_is_the_owners_card_and_no_one_elses(cardbot: CardBot) -> None:
    owner, other = 9111, 9112
    uid = await fills_moved_to(cardbot.app, "telegram", str(owner))
    answer = await inline(cardbot.emulator, owner, "pnl")
    [card] = answer["results"]
    assert card["type"] == "photo" and card["id"] == f"pnl:{INDEX}" and "Cost basis: $" in card["caption"], card
    token = token_of(card["photo_url"])
    opaque(token, INDEX, "pnl")
    status, kind, png = await cardbot.fetch(card["photo_url"])
    assert (status, kind) == (200, "image/jpeg") and size_of(png, "JPEG") == (800, 450)
    links = cardbot.app.services.card_links
    assert links.open(token) == CardRef("pnl", INDEX, uid, "en")  # the link names its owner, and only them
    theirs = await inline(cardbot.emulator, other, "pnl")  # another user has no fills: no card, no link to one
    assert theirs["results"] == [] and LINK not in str(theirs)
    other_key = (await cardbot.app.services.users.seen("telegram", str(other))).id
    status, _, _ = await cardbot.fetch(links.link(CardRef("pnl", INDEX, other_key, "en")) or "")
    assert status == 404  # their own link draws nothing: they hold no position
    again = token_of(links.link(CardRef("pnl", INDEX, uid, "en")) or "")
    assert again != token and links.open(again) == links.open(token)  # a fresh nonce each time: no pattern to follow


def altered(token: str) -> str:
    """The token with one character of its sealed part changed."""
    at = len(token) // 2
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


def foreign(token: str) -> str:
    """The same card sealed under a key that is not the bot's (what anyone without the key could make)."""
    stranger = CardLinks(PUBLIC, secrets.token_bytes(32))
    stranger.draws(lambda ref: None)  # type: ignore[arg-type,return-value]
    return token_of(stranger.link(CardRef("pnl", INDEX, 1, "en")) or "")


REFUSED = {
    "altered": altered,
    "cut short": lambda t: t[:-4],
    "padded": lambda t: t + "AAAA",
    "random": lambda t: base64.urlsafe_b64encode(secrets.token_bytes(len(t) * 3 // 4)).decode().rstrip("="),
    "another key": foreign,
}


@pytest.mark.parametrize("how", REFUSED)
async def test_a_tampered_or_foreign_card_link_is_refused_and_says_nothing(cardbot: CardBot, how: str) -> None:
    answer = await inline(cardbot.emulator, 9121, "mag7")
    url = answer["results"][0]["photo_url"]
    bad = REFUSED[how](token_of(url))
    status, kind, body = await cardbot.fetch(LINK + bad + ".jpg")
    assert status == 404 and kind != "image/jpeg" and INDEX.encode() not in body and b"NAV" not in body, body[:200]
    assert (await cardbot.fetch(url))[0] == 200  # the genuine one still opens


async def test_an_expired_card_link_is_refused(cardbot: CardBot) -> None:
    links = cardbot.app.services.card_links
    ref = CardRef("quote", INDEX, 1, "en")
    fresh = links.link(ref) or ""
    links.seconds = -1  # issued already expired
    expired = links.link(ref) or ""
    assert (await cardbot.fetch(fresh))[0] == 200
    status, kind, _ = await cardbot.fetch(expired)
    assert status == 404 and kind != "image/jpeg"


SPARK_BOX = (500, 70, 760, 200)  # where bot.cards draws the sparkline on its 800 × 450 card


async def test_the_quote_picture_draws_the_days_nav_line_once_there_are_samples(cardbot: CardBot) -> None:
    before = (await inline(cardbot.emulator, 9141, "mag7"))["results"][0]
    status, _, png = await cardbot.fetch(before["photo_url"])
    assert status == 200 and pixels_near(png, SPARK_BOX, COLOURS["flat"]) == 0  # no samples: no line, nothing broken
    await samples(cardbot.app, [Decimal(n) for n in (10, 30, 20, 40, 35, 50)])
    after = (await inline(cardbot.emulator, 9142, "mag7"))["results"][0]
    status, _, png = await cardbot.fetch(after["photo_url"])
    assert status == 200 and size_of(png, "JPEG") == (800, 450) and pixels_near(png, SPARK_BOX, COLOURS["flat"]) > 100


def test_a_card_link_expires_and_needs_https() -> None:
    now = [1_000_000.0]
    links = CardLinks(PUBLIC, secrets.token_bytes(32), clock=lambda: now[0], seconds=60)
    ref = CardRef("quote", INDEX, 7, "ja")
    assert links.link(ref) is None  # nothing draws cards yet: no link to a picture that cannot be drawn
    links.draws(lambda r: None)  # type: ignore[arg-type,return-value]
    token = token_of(links.link(ref) or "")
    assert links.open(token) == ref
    now[0] += 61
    assert links.open(token) is None
    plain = CardLinks("http://127.0.0.1:8080", secrets.token_bytes(32))
    plain.draws(lambda r: None)  # type: ignore[arg-type,return-value]
    assert not plain.enabled and plain.link(ref) is None  # Telegram fetches photos over https only


# -- text cards (no https) and their sparkline ------------------------------------------------------------------

SERIES = [
    ("1 2 3 4 5 6 7 8", "▁▂▃▄▅▆▇█"),
    ("8 7 6 5 4 3 2 1", "█▇▆▅▄▃▂▁"),
    ("100 101 100 101", "▁█▁█"),
    ("2.5 2.5 2.5", "▄▄▄"),
    ("0.0001 0.0003 0.0002", "▁█▅"),
    ("5", ""),
    ("", ""),
]


@pytest.mark.parametrize(("values", "bars"), SERIES)
def test_the_text_sparkline_of_a_known_series(values: str, bars: str) -> None:
    assert spark_text([Decimal(v) for v in values.split()]) == bars


def test_a_long_day_of_samples_is_a_short_line_ending_at_the_newest() -> None:
    day = [Decimal(n) for n in range(288)]  # every 5 minutes
    line = spark_text(day)
    assert len(line) == 17 and line[0] == "▁" and line[-1] == "█"


async def samples(app: App, navs: list[Decimal]) -> None:
    """NAV samples of MAG7 over the last hours, oldest first."""
    ref = app.profile.index(INDEX)
    now = int(time.time())
    await app.services.navs._rows.add([NavSample(ref.token.address, n + 1, now - 600 * (len(navs) - n), nav, None, None,
                                                 (), {}) for n, nav in enumerate(navs)])


async def test_without_https_inline_cards_are_text_with_the_days_sparkline(app: App, emulator: BotApiEmulator,
                                                                          telegram: TelegramFrontend) -> None:
    answer = await inline(emulator, 9131, "mag7")
    [card] = [r for r in answer["results"] if r["id"] == f"quote:{INDEX}"]
    assert card["type"] == "article" and "NAV over 24 h" not in card["input_message_content"]["message_text"]
    await samples(app, [Decimal(n) for n in (10, 20, 30, 40, 50, 60, 70, 80)])
    answer = await inline(emulator, 9132, "mag7")
    [card] = [r for r in answer["results"] if r["id"] == f"quote:{INDEX}"]
    text = card["input_message_content"]["message_text"]
    assert card["type"] == "article" and "photo_url" not in card and "NAV over 24 h: ▁▂▃▄▅▆▇█" in text, text
    assert app.services.card_links.link(CardRef("quote", INDEX, 1, "en")) is None
