"""Issue 19's "done" on each front end through its real path (tests/auxil/portfolio_journey.py walks it): Telegram
through python-telegram-bot against the Bot API emulator, Discord through discord.py's interactions against the REST
fake, the console through its own input loop (`ConsoleFrontend.run` reading a pipe, as `indexbot chat` reads stdin).

A brand-new user buys MAG7 on the devnet; `indexbot devnet price` moves BTC and /positions' unrealized PnL moves by
what the chain says (tokens held × the NAV's move); a typed stop-loss fires once when the price falls through and is
told in the user's chat, with no second sale blocks later; the user's Share of MAG7's quote card carries their invite
and a friend starting from it is counted in /referrals; /reserves MAG7 shows the basket fully backed.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.frontends.adapters.console import ConsoleFrontend
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.discord_commands import slash_for
from bot.frontends.adapters.telegram import TelegramFrontend
from auxil.discord import ALICE, BOB, DiscordJourney, shown
from auxil.portfolio_journey import DevnetPrice, walk
from auxil.telegram import keyboard
from devnet.harness import Devnet
from discord_fake import DM_CHANNEL_ID, FakeDiscord
from telegram_emulator import BotApiEmulator, Call

WAIT = 30.0


# -- Telegram -------------------------------------------------------------------------------------------------------


class TelegramChat:
    def __init__(self, emulator: BotApiEmulator, user: int, friend: int) -> None:
        self.emulator, self.user, self.friend = emulator, user, friend
        self.last: Call | None = None  # the bot's last answer with buttons

    def _text(self, call: Call) -> str:
        return html.unescape(str(call.params.get("text") or call.params.get("caption") or ""))

    async def _wait(self, since: int, chat: int, until: str, methods: tuple[str, ...] = ("sendMessage", "editMessageText")) -> Call:
        def found() -> Call | None:
            return next((c for c in self.emulator.calls[since:] if c.method in methods and str(c.params.get("chat_id")) == str(chat)
                         and until in self._text(c)), None)

        for _ in range(int(WAIT / 0.05)):
            if (call := found()) is not None:
                if keyboard(call):
                    self.last = call
                return call
            await asyncio.sleep(0.05)
        said = [self._text(c) for c in self.emulator.calls[since:] if str(c.params.get("chat_id")) == str(chat)]
        raise AssertionError(f"no answer holding {until!r}; the bot sent {said}")

    async def say(self, line: str, until: str) -> str:
        since = self.emulator.mark()
        self.emulator.send_text(self.user, self.user, line)
        return self._text(await self._wait(since, self.user, until))

    async def press(self, label: str, until: str, methods: tuple[str, ...] = ("sendMessage", "editMessageText")) -> str:
        assert self.last is not None
        message_id = self.last.result["message_id"] if self.last.method != "editMessageText" else int(self.last.params["message_id"])
        data = next(b["callback_data"] for b in keyboard(self.last) if b["text"] == label)
        since = self.emulator.mark()
        self.emulator.press(self.user, self.user, message_id, data)
        return self._text(await self._wait(since, self.user, until, methods))

    async def told(self, containing: str) -> list[str]:
        await self._wait(0, self.user, containing, ("sendMessage",))
        return [self._text(c) for c in self.emulator.calls_to("sendMessage") if c.chat_id == self.user
                and containing in self._text(c)]

    async def share(self) -> str:
        await self.say("/indexes MAG7", "NAV per token")
        return await self.press("Share", "in indexbot", ("sendPhoto",))

    async def friend_starts(self, invite: str) -> str:
        link = re.search(r"https://t\.me/\S+\?start=(ref_[A-Z0-9]+)", invite)
        assert link, invite
        since = self.emulator.mark()
        self.emulator.send_text(self.friend, self.friend, f"/start {link.group(1)}")  # what opening the link sends
        return self._text(await self._wait(since, self.friend, "invite"))


async def test_telegram(app: App, chain: Devnet, emulator: BotApiEmulator, telegram: TelegramFrontend, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    chat = TelegramChat(emulator, 9191, 9192)
    await walk(app, chat, "telegram", "9191", DevnetPrice(chain, tmp_path / "devnet", monkeypatch))


# -- Discord --------------------------------------------------------------------------------------------------------


def options(name: str, words: list[str]) -> dict[str, str]:
    """The slash command's options filled with the typed words in order, the last free-text option taking the rest."""
    filled: dict[str, str] = {}
    for option in slash_for(name).options:
        if not words:
            break
        if option.words:
            filled[option.name], words = " ".join(words), []
        else:
            filled[option.name], words = words[0], words[1:]
    assert not words, f"/{name} has no option for {words}"
    return filled


class DiscordChat:
    def __init__(self, app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
        self.app, self.rest = app, rest
        self.me = DiscordJourney(frontend, rest, ALICE, guild=False)
        self.friend = DiscordJourney(frontend, rest, BOB, guild=False)
        self.last: Any = None

    async def _slash(self, journey: DiscordJourney, line: str, until: str) -> str:
        name, *words = line.lstrip("/").split()
        answer = await journey.slash(name, **options(name, words))
        if journey is self.me and self.me.labels(answer):
            self.last = answer
        assert until in shown(answer.content), shown(answer.content)
        return shown(answer.content)

    async def say(self, line: str, until: str) -> str:
        return await self._slash(self.me, line, until)

    async def press(self, label: str, until: str, *, edits: bool = True) -> str:
        answer = await self.me.press(self.last, label, edits=edits)
        assert until in shown(answer.content), shown(answer.content)
        if self.me.labels(answer):
            self.last = answer
        return shown(answer.content)

    async def told(self, containing: str) -> list[str]:
        def dm(c: Any) -> bool:
            return c.method == "POST" and c.path == f"/channels/{DM_CHANNEL_ID}/messages" and containing in shown(c.content)

        await self.rest.wait_for(dm, timeout=WAIT)
        return [shown(c.content) for c in self.rest.calls if dm(c)]

    async def share(self) -> str:
        await self.say("/indexes MAG7.ssi", "MAG7.ssi")
        return await self.press("Share", "in indexbot", edits=False)  # a message of its own, for all to see

    async def friend_starts(self, invite: str) -> str:
        code = re.search(r"/start (\w+)", invite)
        assert code, invite
        return await self._slash(self.friend, f"/start {code.group(1)}", "invite")


async def test_discord(app: App, chain: Devnet, frontend: DiscordFrontend, rest: FakeDiscord, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    app.notices.attach(frontend)  # the outbox tells through it, as `indexbot run` attaches it
    try:
        await walk(app, DiscordChat(app, frontend, rest), "discord", ALICE["id"], DevnetPrice(chain, tmp_path / "devnet", monkeypatch))
    finally:
        await app.notices.detach(frontend)


# -- the console ----------------------------------------------------------------------------------------------------


class ConsoleUser:
    """`ConsoleFrontend.run`, the console's input loop, reading the lines typed into a pipe (as `indexbot chat`
    reads its stdin) and printing into `out`."""

    def __init__(self, app: App, user: str, files: Path) -> None:
        read, write = os.pipe()
        self.typing = os.fdopen(write, "w")
        self.out = StringIO()
        self.front = ConsoleFrontend(app.router, stdin=os.fdopen(read), stdout=self.out, user_id=user, files_dir=files)
        self.loop = asyncio.create_task(self.front.run())

    def messages(self, since: int = 0) -> list[str]:
        """What was printed from `since` on, a message each (a blank line ends one)."""
        return self.out.getvalue()[since:].split("\n\n")[:-1]

    async def wait(self, since: int, until: str) -> str:
        for _ in range(int(WAIT / 0.05)):
            found = next((m for m in self.messages(since) if until in m), None)
            if found is not None:
                return found
            assert not self.loop.done(), self.loop
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message holding {until!r}; printed:\n{self.out.getvalue()[since:]}")

    async def say(self, line: str, until: str) -> str:
        since = len(self.out.getvalue())
        self.typing.write(line + "\n")
        self.typing.flush()
        return await self.wait(since, until)

    async def close(self) -> None:
        self.typing.close()
        await asyncio.wait_for(self.loop, WAIT)


class ConsoleChat:
    def __init__(self, app: App, files: Path) -> None:
        self.app, self.files = app, files
        self.user = ConsoleUser(app, "u1", files)
        self.friend: ConsoleUser | None = None

    async def say(self, line: str, until: str) -> str:
        return await self.user.say(line, until)

    async def press(self, label: str, until: str) -> str:
        return await self.user.say(label, until)  # a button's label typed presses it

    async def told(self, containing: str) -> list[str]:
        await self.user.wait(0, containing)
        return [m for m in self.user.messages() if containing in m]

    async def share(self) -> str:
        await self.say("/indexes MAG7", "NAV per token")
        return await self.press("Share", "in indexbot")

    async def friend_starts(self, invite: str) -> str:
        code = re.search(r"/start (\w+)", invite)
        assert code, invite
        self.friend = ConsoleUser(self.app, "friend", self.files)
        return await self.friend.say(f"/start {code.group(1)}", "invite")

    async def close(self) -> None:
        for user in (self.user, self.friend):
            if user is not None:
                await user.close()


async def test_console(app: App, chain: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = ConsoleChat(app, tmp_path / "files")
    app.notices.attach(chat.user.front)  # as `indexbot chat` attaches its console
    try:
        await walk(app, chat, "console", "u1", DevnetPrice(chain, tmp_path / "devnet", monkeypatch))
    finally:
        await app.notices.detach(chat.user.front)
        await chat.close()
