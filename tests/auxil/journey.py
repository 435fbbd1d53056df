"""A brand-new Telegram user's journey by tapping, in the language of their Telegram app: the steps (a wallet and its
PIN, buy, sell, stake, a price alert, a withdrawal) shared by the journey tests, what the user typed, and every
sentence the bot showed them, to check against the English catalog.

Labels are read from the user's own catalog (`label`), so a step finds its button in any language; a step waits
for the bot's answer by a fixed piece of the catalog sentence it expects (`piece`), in that language too.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.app import App
from bot.i18n import Catalogs
from auxil.catalog import text
from auxil.telegram import Label, force_reply, keyboard, tap, to_chat
from auxil.trading import PIN
from telegram_emulator import BotApiEmulator, Call

CATALOGS = Catalogs()
# Each shipped locale and the language_code a Telegram app in that language sends.
TELEGRAM_CODES = {"en": "en", "zh_CN": "zh-hans", "zh_TW": "zh-hant", "ko": "ko", "ja": "ja", "vi": "vi", "ru": "ru",
                  "es": "es"}
LEAK_MIN = 12  # an English piece longer than this in a non-English chat is a sentence left untranslated
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_TAGS = re.compile(r"<[^>]+>")


def piece(key: str, locale: str) -> str:
    """The longest fixed piece (between placeholders) of the catalog entry `key` in `locale`."""
    return max((p.strip() for p in _PLACEHOLDER.split(CATALOGS.entries[locale][key])), key=len)


def english_pieces(locale: str) -> dict[str, str]:
    """English pieces longer than LEAK_MIN that the `locale` catalog translates (its entry differs), by piece."""
    english, other = CATALOGS.entries["en"], CATALOGS.entries[locale]
    found: dict[str, str] = {}
    for key, sentence in english.items():
        if not isinstance(sentence, str) or other.get(key) == sentence:
            continue
        for part in _PLACEHOLDER.split(sentence):
            part = part.strip()
            if len(part) > LEAK_MIN and part not in str(other.get(key, "")):
                found.setdefault(part, key)
    return found


@dataclass
class Journey:
    """One Telegram user (`user`, whose app speaks `locale`) tapping through the bot on `emulator`."""

    app: App
    emulator: BotApiEmulator
    user: int
    locale: str
    typed: list[str] = field(default_factory=list)  # every message the user typed, in order
    since: int = 0  # the emulator's mark when the journey began

    def __post_init__(self) -> None:
        self.since = self.emulator.mark()

    @property
    def code(self) -> str:
        return TELEGRAM_CODES[self.locale]

    def label(self, key: str, **params: Any) -> str:
        """A button's label as this user reads it."""
        return text(self.app, key, self.locale, **params)

    def starting(self, key: str, **params: Any) -> Label:
        """Matches a label that begins as the catalog entry `key` (with `params`) does in this user's language."""
        opening = self.label(key, **params)
        return lambda shown: shown.startswith(opening)

    def says(self, key: str) -> Label:
        """Matches a message holding the longest fixed piece of `key` in this user's language."""
        wanted = piece(key, self.locale)
        return lambda shown: wanted in html.unescape(shown)

    async def send(self, line: str, reply_to: Call | None = None) -> int:
        """Type `line` (an answer to the question `reply_to`, when given); the emulator's mark before it."""
        self.typed.append(line)
        since = self.emulator.mark()
        self.emulator.send_text(self.user, self.user, line, language_code=self.code,
                                reply_to=None if reply_to is None else reply_to.result["message_id"])
        return since

    async def start(self) -> Call:
        """/start, as Telegram's Start button sends it; the home screen."""
        since = await self.send("/start")
        return await self.emulator.wait_for("sendMessage", to_chat(self.user), since=since, timeout=30)

    async def tap(self, shown: Call, label: Label, until: Label = "") -> Call:
        return await tap(self.emulator, self.user, shown, label, until=until, language_code=self.code)

    async def tap_asked(self, shown: Call, label: Label, *, edits: bool = True) -> Call:
        """Press a button that asks a question (in place of the pressed message, unless `edits` is False: a new
        message under it); the question's ForceReply, which the user answers."""
        since = self.emulator.mark()
        if edits:
            await self.tap(shown, label)
        else:
            data = next(b["callback_data"] for b in keyboard(shown) if b["text"] == label)
            self.emulator.press(self.user, self.user, shown.result["message_id"], data, language_code=self.code)
        return await force_reply(self.emulator, self.user, since)

    async def answer(self, asked: Call, line: str, expect: Label) -> Call:
        """Type `line` in answer to `asked`; the bot's next message satisfying `expect` (a text or a test)."""
        matches = (lambda t: expect in t) if isinstance(expect, str) else expect
        since = await self.send(line, asked)
        try:
            return await self.emulator.wait_for("sendMessage", lambda c: c.chat_id == self.user
                                                and matches(html.unescape(c.params["text"])), since=since, timeout=30)
        except TimeoutError:
            got = [c.params["text"] for c in self.emulator.calls_to("sendMessage", since) if c.chat_id == self.user]
            raise AssertionError(f"no expected answer to {line!r}; the bot sent {got}") from None

    async def answer_asked(self, asked: Call, line: str) -> Call:
        """Type `line` in answer to `asked`; the next question's ForceReply."""
        since = await self.send(line, asked)
        return await force_reply(self.emulator, self.user, since)

    # The journey's steps -------------------------------------------------------------------------------------

    async def wallet_with_pin(self) -> Call:
        """From /start: Wallet, Create a wallet, Choose a PIN, the PIN typed twice; the home screen after it."""
        home = await self.start()
        wallet = await self.tap(home, self.label("home.button.wallet"))
        created = await self.tap(wallet, self.label("button.wallet_new"))
        asked = await self.tap_asked(created, self.label("button.pin_set"), edits=False)  # the address stays shown
        asked = await self.answer_asked(asked, PIN)
        done = await self.answer(asked, PIN, self.says("pin.set"))
        return await self.tap(done, self.label("button.home"))

    async def buy(self, home: Call, usd: int) -> Call:
        """Buy, the first index, the `usd` preset, Confirm; the confirmed trade."""
        pick = await self.tap(home, self.label("home.button.buy"))
        amounts = await self.tap(pick, lambda t: "MAG7.ssi" in t)
        quote = await self.tap(amounts, f"${usd}")
        return await self.tap(quote, self.label("button.confirm"), until=self.says("trade.mined.buy"))

    async def sell(self, home: Call, pct: int) -> Call:
        sell = await self.tap(home, self.label("home.button.sell"))
        shares = await self.tap(sell, lambda t: "MAG7.ssi" in t)
        quote = await self.tap(shares, self.label("menu.share", pct=pct))
        return await self.tap(quote, self.label("button.confirm"), until=self.says("trade.mined.sell"))

    async def stake(self, home: Call, pct: int) -> Call:
        stake = await self.tap(home, self.label("home.button.stake"))
        shares = await self.tap(stake, self.label("menu.stake.button", symbol="MAG7.ssi"))
        offer = await self.tap(shares, self.label("menu.share", pct=pct))
        return await self.tap(offer, self.label("button.confirm"), until=self.says("stake.mined.stake"))

    async def price_alert(self, home: Call, usd: str) -> Call:
        """Alerts, Price alerts, New alert, the index, Above, the line typed; the alert made."""
        settings = await self.tap(home, self.label("home.button.alerts"))
        alerts = await self.tap(settings, self.label("alerts.button.prices"))
        new = await self.tap(alerts, self.label("button.alert_new"))
        condition = await self.tap(new, self.label("alert.button.index", index="MAG7.ssi"))
        asked = await self.tap_asked(condition, self.label("alert.button.above"))
        return await self.answer(asked, usd, self.says("alert.watches.nav"))

    async def withdraw(self, home: Call, asset: str, amount: str, to: str) -> Call:
        """Wallet, Withdraw, the asset, the amount, the address and the PIN typed, Confirm; the withdrawal mined."""
        wallet = await self.tap(home, self.label("home.button.wallet"))
        assets = await self.tap(wallet, self.label("button.withdraw"))
        asked = await self.tap_asked(assets, self.label("withdraw.button.asset", asset=asset))
        asked = await self.answer_asked(asked, amount)
        asked = await self.answer_asked(asked, to)
        quote = await self.answer(asked, PIN, self.says("withdraw.confirm_prompt"))
        return await self.tap(quote, self.label("button.confirm"), until=self.says("trade.mined.withdraw"))

    async def home(self, shown: Call) -> Call:
        """🏠 Home on a screen that has it."""
        return await self.tap(shown, self.label("button.home"))

    # What the user saw --------------------------------------------------------------------------------------

    def seen(self) -> list[str]:
        """Every text the bot sent or edited into this user's chat, and every button label, since the start."""
        calls = [c for m in ("sendMessage", "editMessageText") for c in self.emulator.calls_to(m, self.since)
                 if c.chat_id == self.user or str(c.params.get("chat_id")) == str(self.user)]
        texts = [html.unescape(_TAGS.sub("", str(c.params.get("text", "")))) for c in calls]
        return texts + [b["text"] for c in calls for b in keyboard(c)]

    def english_leaks(self) -> list[tuple[str, str]]:
        """(catalog key, English piece) of each English sentence shown to a user of another language."""
        if self.locale == "en":
            return []
        pieces = english_pieces(self.locale)
        return sorted({(key, part) for shown in self.seen() for part, key in pieces.items() if part in shown})


def units(amount: str | int, decimals: int) -> int:
    """`amount` in base units of a token with `decimals`."""
    return int(Decimal(amount) * 10 ** decimals)
