"""Telegram by webhook: updates Telegram posts to any web process, processed once each, in order per chat, by any
worker process.

The web route (bot.frontends.web.telegram_webhook) stores each update once under its `update_id` and hands it to
`WebhookUpdates.stored`, which passes it on by the database the bot runs on:

- PostgreSQL (a fleet): a procrastinate job (bot.jobs.engine), deferred in the transaction that stores the update
  (`storing`: a stored update always has its job, in one commit), of task `telegram.update` with `lock` = the update's
  chat key, so a chat's jobs run one at a time in the order they were deferred whichever worker takes them, and
  `queueing_lock` = the update id, so a copy posted twice waits once (a copy found waiting defers again: its job may
  have failed for good). The job (`process`) handles, in update_id
  order, every stored update of its chat that is not handled yet (an earlier one stored late by another process
  goes first; a later one stored while the chat was busy goes now rather than at the engine's next poll), each with
  python-telegram-bot's `Application.process_update` of this process's front end, and marks each handled: the job
  of an update handled that way, or a second job for the same update, finds it handled and does nothing.
- SQLite (the embedded default, one process): the update goes straight into the application's own queue
  (ChatOrderedUpdates keeps each chat's order), marked handled when finished; what a killed run stored and did not
  finish is handled again at start (`resume`), as the press journal does for polled presses. On PostgreSQL `resume`
  defers a job for each stored update not handled (its job failed for good).

A job whose worker was killed half-way holds its chat's lock until the engine's stalled jobs are retried
(`Jobs.retry_stalled`, procrastinate's recipe), and then its update is handled again: an update's effects happen once
unless the process dies while handling it, as with polling.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from procrastinate import RetryStrategy
from telegram import Update
from telegram.ext import Application

from bot.frontends.adapters.telegram_updates import chat_key
from bot.frontends.web.telegram_webhook import WebhookIngress
from bot.jobs.engine import Jobs
from bot.storage.db import Tx
from bot.storage.telegram_updates import Stored, TelegramUpdateRows

log = logging.getLogger(__name__)

TASK = "telegram.update"
QUEUE = "telegram"  # the worker role runs this queue (bot.cli)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]  # what the handlers take: the rest is never posted
MAX_PER_TURN = 100  # updates of one chat one job handles at most; the rest are their own jobs
RETRY = RetryStrategy(max_attempts=10, linear_wait=1)  # a job that failed (the database away): again, a second later each time


@dataclass(frozen=True)
class Webhook:
    """How this process takes Telegram's updates by webhook: `ingress` when it serves the route (the web role), `jobs`
    on PostgreSQL (None: the in-process queue)."""

    url: str
    secret: str
    max_connections: int
    rows: TelegramUpdateRows
    ingress: WebhookIngress | None = None
    jobs: Jobs | None = None


class WebhookUpdates:
    """The web route's sink and the job that processes what it stored, for one front end's `Application`."""

    def __init__(self, webhook: Webhook, application: Application) -> None:  # type: ignore[type-arg]
        self.webhook = webhook
        self.rows = webhook.rows
        self._application = application
        if webhook.jobs is not None:
            webhook.jobs.task(TASK, self.process, queue=QUEUE, retry=RETRY)

    def key_of(self, body: dict[str, Any]) -> str | None:
        key = chat_key(Update.de_json(body, self._application.bot))
        return None if key is None else f"{key[0]}:{key[1]}"

    def storing(self, update_id: int, key: str | None) -> Callable[[Tx], Awaitable[None]] | None:
        """PostgreSQL: the update's job, deferred in the transaction that stores it (one commit for both; a second
        job for the update waiting is refused there, and the update is then not stored: Telegram posts it again)."""
        if self.webhook.jobs is None:
            return None

        async def defer(tx: Tx) -> None:
            await self._defer(update_id, key, connection=await tx.driver_connection())

        return defer

    async def stored(self, update_id: int, key: str | None, body: dict[str, Any], found: Stored) -> None:
        """Pass a stored update on, before Telegram gets its 200; a handled one needs nothing, a new one on
        PostgreSQL has its job already."""
        if found == "handled":
            return
        if self.webhook.jobs is not None:
            if found == "waiting":  # its job may have failed for good: again (one still waiting is not doubled)
                await self._defer(update_id, key)
        elif found == "new":  # one process: a copy found waiting is in this queue already (or resumed at start)
            await self._application.update_queue.put(Update.de_json(body, self._application.bot))

    async def _defer(self, update_id: int, key: str | None, connection: Any = None) -> None:
        assert self.webhook.jobs is not None
        await self.webhook.jobs.defer(TASK, lock=f"telegram:{key}" if key else None, connection=connection,
                                      queueing_lock=f"telegram:update:{update_id}", update_id=update_id)

    async def process(self, update_id: int) -> None:
        """The job, holding the chat's turn: unless `update_id` is handled already, every waiting update of its chat,
        oldest first, each processed and then marked handled; then those stored meanwhile (the chat's next jobs,
        waiting for the turn, find theirs handled), up to MAX_PER_TURN so one chat cannot keep a worker forever."""
        batch = await self.rows.waiting_in_chat(update_id)
        done = 0
        while batch and done < MAX_PER_TURN:
            for waiting in batch:
                update = Update.de_json(json.loads(waiting.body), self._application.bot)
                await self._application.process_update(update)
                await self.rows.handled(waiting.update_id)
                done += 1
            batch = await self.rows.waiting_in_chat(batch[-1].update_id, unless_handled=False, limit=MAX_PER_TURN - done)

    async def finished(self, update: object) -> None:
        """The in-process queue finished `update` (SQLite)."""
        if isinstance(update, Update):
            await self.rows.handled(update.update_id)

    async def resume(self) -> int:
        """What was stored and not handled (a previous run died meanwhile), passed on again, oldest first; how many.
        SQLite: into this queue. PostgreSQL: a job each (one still waiting is not deferred twice, one handled
        meanwhile does nothing, and a chat's turn takes its updates in order whichever job runs first)."""
        waiting = await self.rows.unhandled()
        for stored in waiting:
            if self.webhook.jobs is not None:
                await self._defer(stored.update_id, stored.chat_key)
            else:
                await self._application.update_queue.put(Update.de_json(json.loads(stored.body), self._application.bot))
        if waiting:
            log.info("telegram: passing on %d updates stored and not handled before this start", len(waiting))
        return len(waiting)

    async def serve(self) -> None:
        """Take Telegram's posts in this process (the web role) and tell Telegram where to post: setWebhook with
        the secret, the update kinds the bot handles and the parallel connections (the same each time: idempotent)."""
        if self.webhook.ingress is None:
            return
        self.webhook.ingress.attach(self)
        await self._application.bot.set_webhook(self.webhook.url, secret_token=self.webhook.secret,
                                                 allowed_updates=ALLOWED_UPDATES,
                                                 max_connections=self.webhook.max_connections)
        log.info("telegram: webhook set, serving %s", self.webhook.ingress.path)

    def stop_serving(self) -> None:
        if self.webhook.ingress is not None:
            self.webhook.ingress.detach()
