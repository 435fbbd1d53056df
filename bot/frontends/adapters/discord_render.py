"""How a rendered reply becomes Discord's message: markdown with links that are never embedded, messages of at most
2,000 characters, a row of buttons per rendered row. Shared by the front end (discord.py) and the workers that
answer interactions a gateway handed over (discord_handover.py)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord.utils import escape_markdown, escape_mentions

from bot.core.messages import Rendered, Reply
from bot.core.request import Request
from bot.core.router import Outcome
from bot.frontends.adapters.discord_commands import PressButton, valid_token

log = logging.getLogger(__name__)

MAX_CONTENT = 2000  # Discord's message length limit
MAX_ROWS = 5  # Discord's limit of component rows per message
NO_MENTIONS = discord.AllowedMentions.none()

_LINK = re.compile(r"(?<!<)\bhttps?://[^\s<>]+")

# An edit of the pressed message that did not happen: Discord refused it (a 5xx after discord.py's retries, the
# message deleted, the token expired) or could not be reached.
EDIT_FAILED = (discord.HTTPException, aiohttp.ClientError, TimeoutError)
Instead = Callable[[Reply, "int | None"], Awaitable["int | None"]]  # Outbox.tell_instead for one platform and chat


def outcome_chat(request: Request, hidden: bool) -> str:
    """Where a press's outcome goes as a new message when the pressed message cannot be edited: the channel it was
    pressed in, or the presser's DM (`user:<id>`, opened when needed) when only they saw the message."""
    return f"user:{request.user_id}" if hidden else request.chat_id


async def told_instead(outcome: Outcome, instead: Instead | None, err: BaseException) -> None:
    """Tell `outcome`, whose edit failed with `err`, by `instead` (stored in the outbox, sent and retried like any
    unprompted message); without one, or with nothing to tell, re-raise `err`."""
    if instead is None or outcome.reply is None:
        raise err
    queued = await instead(outcome.reply, outcome.user_key)
    log.info("discord: the pressed message could not be edited (%s %s): the outcome goes as a new message (outbox %s)",
             type(err).__name__, getattr(err, "status", ""), queued)


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
    """One `PressButton` per rendered button, row by row; buttons without a valid token are left out, and so are links
    to the bot's pages (no token): the message's text carries the link, which Discord shows without embedding."""
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
