"""Every shipped language on each platform, with eight of them: the repository's catalogs plus complete made-up
ones for the languages not landed yet (tests/auxil/locales.py), so what a new catalog folder turns on is seen
through the real front ends: Telegram's per-language command menus and replies through the Bot API emulator,
Discord's localized command descriptions and replies through discord.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from auxil.discord import shown, slash, synced
from auxil.locales import more_locales
from auxil.telegram import ask
from bot.app import App
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_commands import command_problems
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.i18n import DEFAULT_LOCALE, Catalogs, locales_dir
from conftest import make_config
from devnet.harness import Devnet
from discord_fake import GUILD_ID, FakeDiscord
from telegram_emulator import BotApiEmulator

SHIPPED = {p.parent.parent.name for p in locales_dir().glob("*/LC_MESSAGES/messages.po")}
EIGHT = ("en", "zh_CN", "zh_TW", "ja", "ko", "vi", "ru", "es")


@pytest.fixture
async def app(chain: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    """The bot started with a locales/ folder of eight languages."""
    folder = more_locales(tmp_path / "locales", tuple(c for c in EIGHT if c not in SHIPPED))
    monkeypatch.setenv("INDEXBOT_LOCALES", str(folder))
    bot = await App.start(make_config(chain, tmp_path / "home"))
    try:
        yield bot
    finally:
        await bot.stop()


def catalogs(app: App) -> Catalogs:
    return app.services.catalogs


# -- Telegram -------------------------------------------------------------------------------------------------


async def test_telegram_menus_one_per_language(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """Telegram's language_code is two letters: zh_CN and zh_TW share `zh`, which gets zh_CN's (a bare `zh`)."""
    c = catalogs(app)
    assert set(EIGHT) <= set(c.locales)
    assert set(emulator.commands) == {"", "zh", "ja", "ko", "vi", "ru", "es"} | {c.language(x) for x in c.locales} - {"en"}
    for language, locale in {"": "en", "zh": "zh_CN", "ja": "ja", "ko": "ko", "vi": "vi", "ru": "ru", "es": "es"}.items():
        expected = [{"command": name, "description": c.text(f"cmd.{name}", locale)} for name, cmd in app.router.commands.items()
                    if not cmd.moderator]  # moderators' commands: in their menus only (tests/test_telegram_groups.py)
        assert emulator.commands[language] == expected, language
    assert len({str(menu) for menu in emulator.commands.values()}) == len(emulator.commands)  # each in its own language
    menus = 2 + len(app.services.announcements.config.telegram_moderators)  # everyone's, administrators', each moderator's
    assert len(emulator.calls_to("setMyCommands")) == len(emulator.commands) * menus


@pytest.mark.parametrize(("client", "locale"), [
    ("zh-hant", "zh_TW"), ("zh-TW", "zh_TW"), ("zh-HK", "zh_TW"), ("zh-hans", "zh_CN"), ("zh", "zh_CN"),
    ("ja", "ja"), ("ko", "ko"), ("vi", "vi"), ("ru", "ru"), ("es-419", "es"), ("pt-br", "en"),
])
async def test_telegram_replies_in_the_clients_language(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend,
                                                        client: str, locale: str) -> None:
    sent = await ask(emulator, 1801, 1801, "/help", language_code=client)
    assert catalogs(app).text("help.title", locale) in sent.params["text"]


async def test_telegram_plural_in_russian(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    """`/pin 12`: a PIN has 4 to 8 digits; 8 takes Russian's third form (n % 10 >= 5), 1 would take the first."""
    sent = await ask(emulator, 1802, 1802, "/pin 12", language_code="ru")
    forms = catalogs(app).plurals["ru"]["error.pin.length"]
    assert len(forms) == 3 and forms[2].format(min=4, count=8) in sent.params["text"].splitlines()


async def test_telegram_lang_offers_every_folder(app: App, emulator: BotApiEmulator, telegram: TelegramFrontend) -> None:
    c = catalogs(app)
    shown_ = await ask(emulator, 1803, 1803, "/lang")
    rows = shown_.params["reply_markup"]["inline_keyboard"]
    labels = [b["text"] for row in rows[:-1] for b in row]
    assert labels == [c.language_name(code) for code in c.locales] and all(len(row) <= 4 for row in rows)
    assert ", ".join(c.locales) in shown_.params["text"]
    await ask(emulator, 1803, 1803, "/lang zh-Hant")
    assert (await app.services.users.seen("telegram", "1803")).locale == "zh_TW"
    again = await ask(emulator, 1803, 1803, "/help", language_code="en")
    assert c.text("help.title", "zh_TW") in again.params["text"]


# -- Discord --------------------------------------------------------------------------------------------------


async def test_discord_descriptions_in_every_shipped_language(app: App, rest: FakeDiscord) -> None:
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    try:
        await front.bot.login("test-token")
        commands = synced(rest)
    finally:
        await front.bot.close()
    c = catalogs(app)
    assert command_problems(commands) == []
    quote = next(x for x in commands if x["name"] == "quote")
    described = quote["description_localizations"]
    assert isinstance(described, dict)
    for discord_locale, locale in {"zh-CN": "zh_CN", "zh-TW": "zh_TW", "ja": "ja", "ko": "ko", "vi": "vi", "ru": "ru",
                                   "es-ES": "es", "es-419": "es", "en-US": "en", "en-GB": "en"}.items():
        assert described[discord_locale] == c.text("cmd.quote", locale), discord_locale
    reached = {c.negotiate(str(code)) for code in described}
    assert reached == set(c.locales)  # every shipped language is some Discord language's
    assert {c.negotiate(x.value) for x in discord.Locale} >= set(c.locales)
    lang = next(x for x in commands if x["name"] == "lang")
    options = lang["options"]
    assert isinstance(options, list)
    assert [choice["value"] for choice in options[0]["choices"]] == [*c.locales, "auto"]


@pytest.mark.parametrize(("client", "locale"), [("zh-TW", "zh_TW"), ("zh-CN", "zh_CN"), ("es-ES", "es"), ("ja", "ja"),
                                                ("fr", DEFAULT_LOCALE)])
async def test_discord_replies_in_the_clients_language(app: App, frontend: DiscordFrontend, rest: FakeDiscord,
                                                       client: str, locale: str) -> None:
    await slash(frontend, "help", locale=client)
    title = catalogs(app).text("help.title", locale)
    assert any(title in shown(call.content) for call in rest.sent())  # /help is long: Discord gets it in parts
