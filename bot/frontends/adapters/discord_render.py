"""How a rendered reply becomes Discord's message: markdown with links that are never embedded, messages of at most
2,000 characters, a row of buttons per rendered row. Shared by the front end (discord.py) and the workers that
answer interactions a gateway handed over (discord_handover.py)."""

from __future__ import annotations

import io
import re
from typing import Any

import discord
from discord.utils import escape_markdown, escape_mentions

from bot.core.messages import Rendered
from bot.frontends.adapters.discord_commands import PressButton, valid_token

MAX_CONTENT = 2000  # Discord's message length limit
MAX_ROWS = 5  # Discord's limit of component rows per message
NO_MENTIONS = discord.AllowedMentions.none()

_LINK = re.compile(r"(?<!<)\bhttps?://[^\s<>]+")


class DiscordMarkup:
    """Discord markdown: user text escaped (markdown and mentions), titles bold, code inline. A link is shown
    as `<url>`, which Discord never embeds: its embed fetcher would open a signing or connect link before the
    user does (links only ever enter a message as parameters, through here)."""

    @staticmethod
    def escape(text: str) -> str:
        return _LINK.sub(lambda m: f"<{m.group(0)}>", escape_mentions(escape_markdown(text)))

    @staticmethod
    def style(kind: str, text: str) -> str:
        if kind == "title":
            return f"**{text}**"
        if kind == "code":
            return f"`{text}`"
        return text


MARKUP = DiscordMarkup()


def chunks(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Split on line breaks into messages of at most `limit` characters; a longer line is cut."""
    lines = [line[i : i + limit] for line in text.split("\n") for i in range(0, max(len(line), 1), limit)]
    parts = [""]
    for line in lines:
        if parts[-1] and len(parts[-1]) + 1 + len(line) > limit:
            parts.append(line)
        else:
            parts[-1] = f"{parts[-1]}\n{line}" if parts[-1] else line
    return parts


def view_of(rendered: Rendered) -> discord.ui.View | None:
    """One `PressButton` per rendered button, row by row; buttons without a valid token are left out."""
    view = discord.ui.View(timeout=None)
    for row, buttons in enumerate(rendered.buttons[:MAX_ROWS]):
        for button in buttons[:5]:
            if valid_token(button.token):
                view.add_item(PressButton(button.token, button.label, row=row))
    return view if view.children else None


def extras(rendered: Rendered) -> dict[str, Any]:
    """The keyword arguments that carry a reply's buttons and image, present only when there are some."""
    kw: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    view = view_of(rendered)
    if view is not None:
        kw["view"] = view
    if rendered.image is not None:
        kw["file"] = discord.File(io.BytesIO(rendered.image), filename="chart.png")
    return kw
