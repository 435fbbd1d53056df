"""The terminal front end: one message per line in, plain text out, buttons as `[1] Label`, a picture (a
/chart, a /points chart) written as a PNG file whose path is printed.

A line holding only a button's number or its label presses that button of the last reply that had
buttons; while a question waits (an amount, an address, a PIN), a number is the answer, and only a label presses. It runs the very same router and handlers as Telegram and Discord.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.frontends.adapters.base import PlainMarkup
from bot.core.messages import Rendered, RenderedButton
from bot.core.request import Request, split_command
from bot.core.router import Router


def console_locale(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    raw = env.get("INDEXBOT_LOCALE") or env.get("LC_ALL") or env.get("LANG") or "en"
    return raw.split(".", 1)[0]


class ConsoleFrontend:
    name = "console"

    def __init__(self, router: Router, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, user_id: str = "local",
                 files_dir: Path | None = None) -> None:
        self.router = router
        self.files_dir = files_dir  # where a reply's picture or file is written; None: a private directory made at the first
        self.stdin = stdin
        self.stdout = stdout
        self.user_id = user_id
        self.locale = console_locale()
        self.interactive = stdin.isatty()
        self.markup = PlainMarkup()
        self._buttons: list[RenderedButton] = []
        self._buttons_ref: str | None = None  # the message the current buttons belong to
        self._asked = False  # the last reply asked a question: a number typed is its answer, not a button's
        self._shown = 0

    def _request(self, line: str) -> Request:
        pressed = self._pressed(line)
        base = dict(platform="console", user_id=self.user_id, chat_id=self.user_id, chat_type="private", locale=self.locale)
        if pressed is not None:
            return Request(**base, button_token=pressed.token, message_ref=self._buttons_ref)  # type: ignore[arg-type]
        command, args = split_command(line)
        if command is None:  # a line without the slash: its first word is the command, and the rest its words
            command, args = (args[0], args[1:]) if args else ("", ())
        return Request(**base, command=command, args=args, text_length=len(line), text=line.strip())  # type: ignore[arg-type]

    def _pressed(self, line: str) -> RenderedButton | None:
        text = line.strip()
        if not self._asked and text.isascii() and text.isdigit() and 1 <= int(text) <= len(self._buttons):  # `²` is no button
            return self._buttons[int(text) - 1]
        return next((b for b in self._buttons if b.label.casefold() == text.casefold()), None)

    def show(self, rendered: Rendered) -> str:
        """Print a reply (an edit prints the new version below); returns its message id."""
        self._shown += 1
        ref = str(self._shown)
        out = [rendered.text]
        if rendered.image is not None:  # a terminal shows a picture or a file as where it was written
            out.append(str(self._write(f"{self.user_id}-{ref}.png", rendered.image)))
        if rendered.file is not None:
            out.append(str(self._write(rendered.file.name, rendered.file.content)))
        buttons = [b for row in rendered.buttons for b in row if not b.url]  # a link is in the text already
        out += [f"[{i}] {b.label}" for i, b in enumerate(buttons, 1)]
        if buttons:
            self._buttons, self._buttons_ref = buttons, ref
        self._asked = rendered.ask is not None
        if rendered.ask is not None:
            out.append(f"{rendered.ask.field}:")
        self.stdout.write("\n".join(out) + "\n\n")
        self.stdout.flush()
        return ref

    def _write(self, name: str, content: bytes) -> Path:
        """Write a reply's picture or file into the console's directory, readable by this user only (the bot's home
        gives one; without, a private temporary directory is made)."""
        if self.files_dir is None:
            self.files_dir = Path(tempfile.mkdtemp(prefix="indexbot-"))  # mode 700
        self.files_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.files_dir / name
        path.write_bytes(content)
        path.chmod(0o600)
        return path

    async def handle_line(self, line: str) -> None:
        if not line.strip():
            return
        outcome = await self.router.handle(self._request(line.rstrip("\n")), self.markup)
        self.show(outcome.rendered)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.interactive:
                self.stdout.write("> ")
                self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                return
            await self.handle_line(line)

    async def start(self) -> None:
        await self.run()

    async def stop(self) -> None:
        return None

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        """A terminal cannot rewrite what scrolled by: an edit is printed as the message's new version."""
        return self.show(rendered)
