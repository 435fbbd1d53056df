"""What a member's closed DMs refused, shown to them the next time they use the bot.

A member who trades from a server with their DMs closed to the bot cannot be written to unasked: Discord answers
50007 to the outbox's DM (a trade's outcome after the interaction's 15 minutes, an order filled overnight, an
alert, a cooldown's end). The outbox keeps those messages for Discord (`Outbox.keep_refused`): the refused row
stays 'blocked', and so does every later one while the user is marked as unreachable, without a request to
Discord. The next time the user interacts (a slash command, a button, a form, or a `!` command in the DM) the
front end calls `show_kept` after its answer: under one line saying why, each kept message follows up that
interaction, only they see it (ephemeral) in a server or a group DM, and in the bot's DM with them it stays (there
DMs work again), as it does after a `!` command typed there. A `!` command in a server has no private answer: what
is kept waits for an interaction or the DM.

Bounded: the newest `KEPT_NEWEST` of the last `KEPT_SECONDS`; older or further ones are dropped as they are found.
Each is shown once, whichever process of a fleet the user reaches: `OutboxRows.take_kept` claims them by a
conditional UPDATE. One the platform refused to show goes back to being kept; one that may have been shown (a
timeout) is never shown again. Each says when it was meant for them (a Discord timestamp, in the reader's own
time zone and language).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord

from bot.app import App
from bot.core.messages import Rendered
from bot.delivery.outbox import codec
from bot.frontends.adapters.discord_render import MARKUP, NO_MENTIONS, chunks, extras
from bot.storage.outbox import KeptRow

log = logging.getLogger(__name__)

PLATFORM = "discord"
KEPT_NEWEST = 20  # kept messages shown at most, the newest
KEPT_SECONDS = 7 * 24 * 3600  # and none older than this
INTRO = "kept.intro"  # "While your direct messages were closed, these were waiting for you:"

# One message to the user, privately: its text and discord.py's send keywords (buttons, files); the id it got, if known.
Say = Callable[[str, dict[str, Any]], Awaitable[Any]]


async def show_kept(app: App, user_id: int | str, say: Say, clock: Callable[[], float] = time.time) -> int:
    """Show the Discord user `user_id` what their closed DMs refused, through `say` (follow-ups of their interaction,
    or their DM); how many were shown. Never raises: the user's own answer went out before."""
    try:
        return await _show(app, str(user_id), say, int(clock()))
    except Exception:  # noqa: BLE001 - a bug here must not break the interaction; what is kept stays kept or 'sending'
        log.exception("discord: kept messages of %s could not be shown", user_id)
        return 0


async def _show(app: App, user_id: str, say: Say, now: int) -> int:
    rows = app.outbox.rows
    kept = await rows.take_kept(PLATFORM, user_id, KEPT_NEWEST, now - KEPT_SECONDS)
    if not kept:
        return 0
    ready: list[tuple[KeptRow, Rendered]] = []
    for row in kept:
        rendered = await _render(app, row)
        if rendered is None:
            await rows.finish([row.id], "failed", error="kept: no longer shown")
        else:
            ready.append((row, rendered))
    if not ready:
        return 0
    renderer = app.outbox.renderer
    left = [row.id for row, _ in ready]
    try:
        await say(renderer.catalogs.text(INTRO, await renderer.locale_of(ready[0][0].user_id)), {"allowed_mentions": NO_MENTIONS})
        for row, rendered in ready:
            *head, last = chunks(f"<t:{row.created_at}:f>\n{rendered.text}")  # when it was meant for them
            for text in head:
                await say(text, {"allowed_mentions": NO_MENTIONS})
            sent = await say(last, extras(rendered))
            left.remove(row.id)
            await rows.finish([row.id], "sent", str(sent) if sent is not None else None)
    except discord.HTTPException as err:  # refused (the token expired, a limit): not shown, kept for the next time
        log.info("discord: kept messages of %s not shown (%s); kept", user_id, err.status)
        await rows.keep_again(left)
    except (aiohttp.ClientError, TimeoutError) as err:  # the one on its way may have been shown: never again
        log.warning("discord: kept messages of %s: %s", user_id, type(err).__name__)
        await rows.finish(left[:1], "unknown", error="kept: timed out")
        await rows.keep_again(left[1:])
    return len(ready) - len(left)


async def _render(app: App, row: KeptRow) -> Rendered | None:
    """The kept message for its reader; None for one that no longer means anything: an edit of a message that may
    be gone (an expired quote's) or one made at send time (`Outbox.source`)."""
    payload = json.loads(row.payload)
    if isinstance(payload, dict) and "source" in payload:
        return None
    renderer = app.outbox.renderer
    rendered = await renderer.render(row.user_id, codec.loads(row.payload), MARKUP)
    return None if rendered.edit_only else rendered
