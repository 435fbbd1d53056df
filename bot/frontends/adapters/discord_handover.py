"""Discord interactions in a fleet: acknowledged by the gateway that received them, answered by any worker.

Discord wants an answer to an interaction within 3 seconds, and a command may wait on the chain far longer. On
PostgreSQL (`App.jobs` is the job engine) the gateway process therefore does the least it can: it defers the
interaction at once (the "thinking…" of a command, or a silent acknowledgement of a press, as the single-process
path does when it defers), stores what the handler needs (`Ask`, as JSON) with the interaction's token
(bot.storage.interactions), and defers a job. The job runs in the order of its user's other updates in that
channel (`lock`, the same key for a chat and member on every platform), once per interaction (`queueing_lock`,
and `take` clears the token as it reads it). A worker builds the same `Request`, runs the router and answers
through the interaction's webhook with the token: it edits the deferred response (`@original`) and follows up
with what does not fit. The token answers for 15 minutes; a job that starts too late says nothing to the user
(there is no way left to) and logs it. A 429 discord.py leaves to us (Cloudflare's, a global limit) is waited out
as the outbox waits it out (discord_limits.py): by the worker while the token answers, by the gateway while Discord
still waits for the acknowledgement. No log line holds a token.

On SQLite (one process) none of this runs: `IndexClient` answers in the process that received the interaction.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

import aiohttp
import discord

from bot.app import App
from bot.core.messages import Rendered
from bot.core.router import Outcome
from bot.frontends.adapters.discord_commands import Ask
from bot.frontends.adapters.discord_kept import show_kept
from bot.frontends.adapters.discord_limits import Backoff, patiently
from bot.frontends.adapters.discord_render import (
    EDIT_FAILED,
    NO_MENTIONS,
    ORIGINAL,
    Instead,
    chunks,
    extras,
    hook_ref,
    outcome_chat,
    told_instead,
    view_of,
)
from bot.i18n import Catalogs
from bot.jobs.engine import Jobs
from bot.storage.interactions import TOKEN_SECONDS, InteractionRows

log = logging.getLogger(__name__)

TASK = "discord.interaction"
TOO_LATE = TOKEN_SECONDS - 60  # seconds after receipt: past this a worker no longer starts the command
ACK_SECONDS = 3.0  # Discord's wait for an interaction's acknowledgement (counted here from when the gateway saw it)
Each = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]  # makes one request of an answer (see `answer`)


def chat_lock(platform: str, chat_id: str, user_id: str) -> str:
    """The job engine's lock for one member's updates in one chat: handled one at a time, in order."""
    return f"chat:{platform}:{chat_id}:{user_id}"


class Handover:
    """The gateway's side: acknowledge, store, defer a job. `backoff`: the process's hold on Discord's limits."""

    def __init__(self, jobs: Jobs, rows: InteractionRows, catalogs: Catalogs, *, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._jobs, self._rows, self._catalogs, self._clock = jobs, rows, catalogs, clock
        self._backoff = backoff or Backoff()

    async def hand_over(self, interaction: discord.Interaction[Any], ask: Ask, *, thinking: bool, ephemeral: bool,
                        hidden: bool = False) -> None:
        """Defer `interaction` now (a command `thinking`, ephemeral when its answer is private), then hand it to
        a worker; `hidden`: its answers go only to the presser (a press on an ephemeral message). A 429 discord.py
        leaves to us is waited out while Discord still waits for the acknowledgement."""
        try:
            await patiently(self._backoff, partial(interaction.response.defer, thinking=thinking, ephemeral=ephemeral),
                            self._clock() + ACK_SECONDS, self._clock)
        except discord.HTTPException as err:  # expired before we saw it, acknowledged by another process, or limited
            log.warning("discord: interaction %s not acknowledged (%s); not handed to a worker", interaction.id, err.status)
            return
        held = {"ask": ask.to_json(), "application_id": str(interaction.application_id), "hidden": hidden}
        interaction_id = str(interaction.id)
        try:
            if not await self._rows.keep(interaction_id, interaction.token, json.dumps(held), int(self._clock())):
                log.info("discord: interaction %s delivered again; handled once", interaction_id)
                return
            await self._jobs.defer(TASK, lock=chat_lock("discord", ask.channel_id, ask.user_id),
                                   queueing_lock=f"discord:{interaction_id}", interaction_id=interaction_id)
        except Exception as exc:  # noqa: BLE001 - the user must not be left "thinking"; the text may hold the token
            log.error("discord: interaction %s not handed to a worker (%s); told the user", interaction_id, type(exc).__name__)
            text = self._catalogs.text("error.internal", self._catalogs.negotiate(ask.locale))
            await interaction.edit_original_response(content=text, allowed_mentions=discord.AllowedMentions.none())


class Finisher:
    """A worker's side: the job engine's task `TASK`, answering through the interaction's token. `client` lends
    its HTTP session and its state (which Discord's webhook API needs to send buttons); it need not hold a gateway.
    `backoff`: the process's hold on Discord's limits, shared with its outbox sends."""

    def __init__(self, app: App, client: discord.Client, rows: InteractionRows, markup: Any, *,
                 backoff: Backoff | None = None, clock: Callable[[], float] = time.time) -> None:
        self._app, self._client, self._rows, self._markup, self._clock = app, client, rows, markup, clock
        self._backoff = backoff or Backoff()

    def register(self, jobs: Jobs) -> None:
        jobs.task(TASK, self.finish)

    async def finish(self, interaction_id: str) -> None:
        now = self._clock()
        taken = await self._rows.take(interaction_id, int(now))
        if taken is None:
            log.info("discord: interaction %s was answered already", interaction_id)
            return
        if now - taken.received_at > TOO_LATE:
            log.warning("discord: interaction %s reached a worker %.0fs after it arrived, too late for its token: "
                        "not handled, the user is told nothing", interaction_id, now - taken.received_at)
            return
        held = json.loads(taken.ask)
        ask = Ask.from_json(held["ask"])
        request, hidden = ask.request(), bool(held["hidden"])
        outcome = await self._app.router.handle(request, self._markup)
        webhook = discord.Webhook.from_state(
            {"id": int(held["application_id"]), "type": 3, "token": taken.token}, state=self._client._connection)
        instead = partial(self._app.outbox.tell_instead, "discord", outcome_chat(request, hidden))
        deadline = taken.received_at + TOKEN_SECONDS - 5  # a request sent later may find the token expired

        async def each(call: Callable[[], Awaitable[Any]]) -> Any:
            return await patiently(self._backoff, call, deadline, self._clock)

        pressed = ask.message_id is not None
        try:
            shown = await answer(webhook, outcome, pressed=pressed, hidden=hidden, instead=instead, each=each)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            # not retried (but for the 429s waited out above): the token is taken, and the command's effects
            # happened. Only the kind is logged (an aiohttp error's text names the URL, which holds the token).
            log.warning("discord: interaction %s handled but its answer failed (%s %s)", interaction_id,
                        type(exc).__name__, getattr(exc, "status", ""))
            return
        edited = pressed and outcome.rendered.edit and not outcome.ephemeral
        await self._app.services.quotes.shown("discord", request.chat_id, shown, outcome.reply, edited)

        async def say(text: str, kw: dict[str, Any]) -> int:  # what the user's closed DMs refused (discord_kept)
            sent = await each(partial(webhook.send, text, ephemeral=not ask.in_dm, wait=True, **kw))
            return int(sent.id)

        await show_kept(self._app, ask.user_id, say, self._clock)


async def _at_once(request: Callable[[], Awaitable[Any]]) -> Any:
    return await request()


async def answer(webhook: discord.Webhook, outcome: Outcome, *, pressed: bool, hidden: bool,
                 instead: Instead | None = None, each: Each = _at_once) -> str | None:
    """Answer a deferred interaction through its webhook, as `discord.reply` answers one in place: a press that
    asks for an edit edits the pressed message (an outcome the edit cannot show goes to `instead`); a command's
    deferred "thinking…" becomes the first part of its answer; the rest follows up, ephemeral when the router says
    so or `hidden`. `each` makes each request (the Finisher's waits out a 429), so a part already shown is not sent
    twice. What the message shown last can be edited by later (`hook_ref`, or a plain id), None if not shown."""
    rendered = outcome.rendered
    *head, last = chunks(rendered.text)
    original = hook_ref(webhook.token or "", ORIGINAL)
    if pressed and rendered.edit and not outcome.ephemeral and not head:
        try:
            await _edit(webhook, last, rendered, rendered.image, view_of(rendered), each)
        except EDIT_FAILED as err:
            await told_instead(outcome, instead, err)
            return None
        return original
    parts = [*head, last]
    if not pressed:
        first = parts.pop(0)
        await _edit(webhook, first, rendered, rendered.image if not parts else None, view_of(rendered) if not parts else None,
                    each)
    ephemeral = outcome.ephemeral or hidden
    for i, text in enumerate(parts):

        async def send(text: str = text, last: bool = i == len(parts) - 1) -> discord.WebhookMessage:
            kw = extras(rendered) if last else {"allowed_mentions": NO_MENTIONS}  # an image's file afresh each time
            return await webhook.send(text, ephemeral=ephemeral, wait=True, **kw)

        sent = await each(send)
        if rendered.delete_after is not None:
            await sent.delete(delay=rendered.delete_after)
        original = hook_ref(webhook.token or "", str(sent.id)) if ephemeral else str(sent.id)
    return original


async def _edit(webhook: discord.Webhook, text: str, rendered: Rendered, image: bytes | None, view: discord.ui.View | None,
                each: Each) -> None:
    """Edit the interaction's own response to `text`, with `image` and `view` when this is the answer's last part."""

    async def edit() -> discord.WebhookMessage:
        files = [discord.File(io.BytesIO(image), filename="chart.png")] if image is not None else []  # read once each
        # discord.py types a message id as int; the interaction webhook's route takes "@original" in its place
        return await webhook.edit_message(cast(int, ORIGINAL), content=text, view=view, attachments=files,
                                          allowed_mentions=discord.AllowedMentions.none())

    message = await each(edit)
    if rendered.delete_after is not None:
        await message.delete(delay=rendered.delete_after)
