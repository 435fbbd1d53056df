"""What one `indexbot run` process does in a fleet: `--role web|worker|sender|gateway|all` (comma-separated).

    gateway  takes updates from the platforms' connections: Telegram long polling (no webhook set), the Discord
             gateway (its shards)
    web      the HTTP server: the connect and signing pages, /healthz and /readyz, the Telegram webhook
    worker   does the work: updates taken from the job engine one chat at a time, timed jobs, trade follow-ups
    sender   the outbox sender: at most one active in a fleet (a PostgreSQL advisory lock), the others stand by
    all      every role in one process: the embedded default, and a small deployment

On the embedded default (SQLite, one process) only `all` makes sense: there is no engine to hand work to.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from bot.config import Config

if TYPE_CHECKING:
    from bot.app import App
    from bot.frontends.adapters.base import Frontend

log = logging.getLogger(__name__)

ROLES: Final = ("web", "worker", "sender", "gateway")
ALL: Final = frozenset(ROLES)


class RoleError(ValueError):
    """`--role` named something that is not a role."""


def parse_roles(text: str) -> frozenset[str]:
    """`web,worker` -> {"web", "worker"}; `all` -> every role. Unknown or empty names are refused with the valid ones."""
    names = [name.strip().lower() for name in text.split(",")]
    if names == ["all"]:
        return ALL
    unknown = [name for name in names if name not in ROLES]
    if unknown or not names:
        raise RoleError(f"unknown role {', '.join(repr(n) for n in unknown) or repr(text)}: "
                        f"use all, or any of {', '.join(ROLES)} separated by commas")
    return frozenset(names)


# -- what each role starts in this process (`indexbot run`, bot.cli) ----------------------------------------------


def discord_front(config: Config, app: App, roles: frozenset[str]) -> Frontend:
    """This process's Discord front end: the gateway (its shards: DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS) in the
    gateway role, else logged in for sends only. On PostgreSQL a gateway that is no worker hands each interaction
    to the workers, and a worker answers them (bot.frontends.adapters.discord_handover); a process that is both
    answers what its own shards receive, as the embedded default does."""
    from bot.frontends.adapters.discord import DiscordFrontend

    assert config.discord_token is not None
    front = DiscordFrontend(app, config.discord_token.reveal(), config.discord_guild_id, shards=config.discord_shards,
                            gateway="gateway" in roles, hand_over="worker" not in roles)
    if app.jobs is not None and "worker" in roles:
        front.answer_interactions(app.jobs)
    return front


def telegram_updates(app: App, roles: frozenset[str]) -> dict[str, Any]:
    """How this process takes Telegram's updates (TelegramFrontend's `webhook` and `polling`): by webhook when
    TELEGRAM_WEBHOOK_URL is set (served here with the web role), else by long polling with the gateway role."""
    from bot.frontends.adapters.telegram_webhook import Webhook
    from bot.storage.telegram_updates import TelegramUpdateRows

    config = app.config
    if config.telegram_webhook_url is None or config.telegram_webhook_secret is None:
        return {"polling": "gateway" in roles}
    ingress = app.telegram_webhook if "web" in roles else None
    return {"webhook": Webhook(config.telegram_webhook_url, config.telegram_webhook_secret.reveal(),
                               config.telegram_webhook_connections, TelegramUpdateRows(app.db), ingress, app.jobs)}


async def nothing() -> None:
    pass


async def send_outbox(app: App, frontends: list[Frontend], roles: frozenset[str]) -> Callable[[], Awaitable[None]]:
    """The sender role: this process sends its front ends' outbox messages; what stops that (before the front ends
    stop). On SQLite (one process) at once; on PostgreSQL only while it holds the platform's seat, elected through an
    advisory lock (bot/delivery/outbox/election.py), standing by meanwhile. Without the role it only queues messages,
    for the fleet's active sender."""
    from bot.delivery.outbox.election import SenderElection
    from bot.storage.leader import SenderSeat

    if "sender" not in roles:
        for frontend in frontends:
            app.outbox.elsewhere(frontend.name)
        return nothing
    if app.db.dialect == "sqlite" or app.config.database_url is None:
        for frontend in frontends:
            app.notices.attach(frontend)
        return nothing  # detached with the front ends
    elections = [SenderElection(app.outbox, f, SenderSeat(app.config.database_url, f.name)) for f in frontends]
    for election in elections:
        election.start()
    if app.health is not None:
        app.health.senders = elections  # /readyz: active, standby, or no sender in the fleet

    async def stop() -> None:
        for election in elections:
            await election.stop()

    return stop


WORKER_ONLY = frozenset({"worker"})


def without_web(config: Config) -> Config:
    """A process without the web role serves no pages on the operator's port (the fleet's web processes do, behind
    the proxy): its pages, which nobody is sent to, listen on a free loopback port, so several processes of a machine
    never compete for INDEXBOT_WEB_PORT. The links it writes still name INDEXBOT_PUBLIC_URL."""
    from dataclasses import replace

    if config.web.public_url is None:
        log.warning("INDEXBOT_PUBLIC_URL is not set: connect and signing links this process writes name its own "
                    "loopback port, which users cannot open; set it to the proxy's URL (docs/deploy.md)")
    return replace(config, web=replace(config.web, host="127.0.0.1", port=0))


def refusal(config: Config, roles: frozenset[str]) -> str | None:
    """Why this database cannot run these roles: on SQLite (the embedded default) only `all`, since there is no job
    engine to share work through; None when it can."""
    from bot.storage.db import database_url

    if roles == ALL or database_url(config.database_where).get_backend_name() == "postgresql":
        return None
    return ("--role " + ",".join(sorted(roles)) + " needs PostgreSQL (INDEXBOT_DATABASE_URL=postgresql://...): the "
            "embedded SQLite database has no job engine to share work between processes; use --role all")


async def start_jobs(app: App, roles: frozenset[str]) -> None:
    """Timed jobs re-created (every role: a `put` of a job that waits already changes nothing), and on PostgreSQL, in
    the worker role, the engine's jobs run in this process alongside, until `app.stop` cancels them."""
    await app.start_schedule(work="worker" in roles)
