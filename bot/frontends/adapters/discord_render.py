"""How a rendered reply becomes Discord's message: markdown with links that are never embedded, messages of at most
2,000 characters, a row of buttons per rendered row. Shared by the front end (discord.py) and the workers that
answer interactions a gateway handed over (discord_handover.py).

Discord allows five component rows of five buttons. A reply with more (the six switches of /alerts, a Delete
button per price alert) keeps as many leading rows of buttons as leave room, and the rest become select menus of
up to 25 choices each (`PressMenu`), each choice standing for the same opaque token its button would have carried:
any screen of any feature, with no screen knowing of it."""

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
from bot.core.messages import RenderedButton
from bot.frontends.adapters.discord_commands import PressButton, PressMenu, valid_token
from bot.frontends.adapters.split import DISCORD_MAX_CHARS, split_lines

log = logging.getLogger(__name__)

MAX_CONTENT = DISCORD_MAX_CHARS  # Discord's message length limit
MAX_ROWS = 5  # Discord's limit of component rows per message
MAX_PER_ROW = 5  # Discord's limit of buttons per row
MAX_OPTIONS = 25  # Discord's limit of choices per select menu
NO_MENTIONS = discord.AllowedMentions.none()

_LINK = re.compile(r"(?<!<)\bhttps?://[^\s<>]+")
# discord.py escapes a list marker with its leading blanks as `\ -`, which Discord shows as typed (a backslash before
# a blank escapes nothing): the backslash belongs right before the marker
_MISPLACED = re.compile(r"\\(\s+)([-#>])")

# An edit of the pressed message that did not happen: Discord refused it (a 5xx after discord.py's retries, the
# message deleted, the token expired) or could not be reached.
EDIT_FAILED = (discord.HTTPException, aiohttp.ClientError, TimeoutError)
Instead = Callable[[Reply, "int | None"], Awaitable["int | None"]]  # Outbox.tell_instead for one platform and chat


HOOK_PREFIX = "hook:"  # a message only its user sees, edited through its interaction's webhook: hook:<token>:<message>
ORIGINAL = "@original"  # the interaction's response itself


def hook_ref(token: str, message: str) -> str:
    return f"{HOOK_PREFIX}{token}:{message}"


def parse_hook_ref(ref: str) -> tuple[str, str] | None:
    """(the interaction's token, the message: an id or `@original`) of a `hook_ref`; None for a plain message id."""
    if not ref.startswith(HOOK_PREFIX):
        return None
    token, _, message = ref.removeprefix(HOOK_PREFIX).rpartition(":")
    return (token, message) if token and message else None


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
        escaped = _MISPLACED.sub(r"\1\\\2", escape_markdown(text))
        return _LINK.sub(lambda m: f"<{m.group(0)}>", escape_mentions(escaped))

    @staticmethod
    def style(kind: str, text: str) -> str:
        if kind == "title":
            return f"**{text}**"
        if kind == "code":
            return f"`{text}`"
        return text


MARKUP = DiscordMarkup()


def chunks(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Split on line breaks into messages of at most `limit` characters; a longer line is cut (the adapters' one
    helper, bot.frontends.adapters.split)."""
    return split_lines(text, limit)


def view_of(rendered: Rendered) -> discord.ui.View | None:
    """The reply's buttons, row by row, within Discord's five rows of five (`layout`); buttons without a valid
    token are left out, and so are links to the bot's pages (no token): the message's text carries the link, which
    Discord shows without embedding."""
    view = discord.ui.View(timeout=None)
    rows, menus = layout(tuple(tuple(b for b in row if valid_token(b.token)) for row in rendered.buttons))
    for row, buttons in enumerate(rows):
        for button in buttons:
            view.add_item(PressButton(button.token, button.label, row=row))
    for number, choices in enumerate(menus):
        view.add_item(PressMenu(number, [(b.token, b.label) for b in choices], row=len(rows) + number))
    return view if view.children else None


def layout(rows: tuple[tuple[RenderedButton, ...], ...]) -> tuple[list[tuple[RenderedButton, ...]], list[tuple[RenderedButton, ...]]]:
    """Button rows (at most five buttons each, a longer row wrapped) and select menus (at most 25 choices each)
    that fit Discord's five component rows: every button while they fit, else as many leading rows as leave
    room for menus holding the rest. What five menus cannot hold (over 125 buttons) is left out."""
    wrapped = [row[i : i + MAX_PER_ROW] for row in rows if row for i in range(0, len(row), MAX_PER_ROW)]
    if len(wrapped) <= MAX_ROWS:
        return wrapped, []
    for kept in range(MAX_ROWS - 1, -1, -1):
        rest = [b for row in wrapped[kept:] for b in row]
        menus = [tuple(rest[i : i + MAX_OPTIONS]) for i in range(0, len(rest), MAX_OPTIONS)]
        if kept + len(menus) <= MAX_ROWS:
            return wrapped[:kept], menus
    return [], menus[:MAX_ROWS]


def extras(rendered: Rendered) -> dict[str, Any]:
    """The keyword arguments that carry a reply's buttons, image and file, present only when there are some."""
    kw: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    view = view_of(rendered)
    if view is not None:
        kw["view"] = view
    files = [discord.File(io.BytesIO(rendered.image), filename="chart.png")] if rendered.image is not None else []
    if rendered.file is not None:  # a file the reply sends (a CSV export): an attachment
        files.append(discord.File(io.BytesIO(rendered.file.content), filename=rendered.file.name))
    if files:
        kw["files"] = files
    return kw
