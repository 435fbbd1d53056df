"""The console front end driven line by line in a test, as a user types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from io import StringIO

from bot.app import App
from bot.frontends.adapters.console import ConsoleFrontend


def console_lines(app: App, user_id: str) -> Callable[[str], Awaitable[str]]:
    """`line(typed)`: the console's answer to one typed line (what it printed for it alone)."""
    out = StringIO()
    console = ConsoleFrontend(app.router, stdin=StringIO(), stdout=out, user_id=user_id)

    async def line(typed: str) -> str:
        start = len(out.getvalue())
        await console.handle_line(typed)
        return out.getvalue()[start:]

    return line
