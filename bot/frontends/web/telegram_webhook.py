"""Where Telegram posts updates when the bot runs by webhook (TELEGRAM_WEBHOOK_URL): any number of web processes
behind the operator's TLS proxy and load balancer.

Each request must carry the configured secret in `X-Telegram-Bot-Api-Secret-Token` (compared in constant time;
anything else is a 401 and nothing is stored), a body of at most `MAX_UPDATE_BYTES`, and an Update as JSON. The
update is stored under its `update_id` (bot.storage.telegram_updates: a copy posted twice, to this process or
another, is stored once) and handed on (in the same transaction when the sink can: a job deferred with the row), and
only then is Telegram told 200: a database that does not answer is a
503, and Telegram posts the update again later. What "handed on" means belongs to the Telegram front end (an
`UpdateSink`: a job per update on PostgreSQL, the in-process queue on SQLite), which attaches itself when this
process has the web role; until then, and after it stops, the route answers 503 so Telegram tries another process.

This module knows no chat library: the sink computes an update's chat key and takes the parsed body.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from bot.storage.db import Tx
from bot.storage.telegram_updates import Stored, TelegramUpdateRows

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a message of at most 4096 characters with its entities, a caption, a replied-to message: well under
# this. A bigger body is no update of Telegram's.
MAX_UPDATE_BYTES = 256 * 1024


class UpdateSink(Protocol):
    """What the Telegram front end gives the route: the chat key of an update, what happens in the transaction that
    stores a new one (None: nothing), and what happens once it is stored."""

    def key_of(self, body: dict[str, Any]) -> str | None: ...

    def storing(self, update_id: int, key: str | None) -> Callable[[Tx], Awaitable[None]] | None: ...

    async def stored(self, update_id: int, key: str | None, body: dict[str, Any], found: Stored) -> None: ...


class WebhookIngress:
    """The route `path` on the bot's web server, answering 503 until a sink attaches."""

    def __init__(self, path: str, secret: str, rows: TelegramUpdateRows) -> None:
        self.path = path
        self._secret = secret.encode()
        self.rows = rows
        self._sink: UpdateSink | None = None

    def attach(self, sink: UpdateSink) -> None:
        self._sink = sink

    def detach(self) -> None:
        self._sink = None

    def routes(self) -> list[web.RouteDef]:
        return [web.post(self.path, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.Response(status=401, text="unauthorized")
        sink = self._sink
        if sink is None:
            return web.Response(status=503, text="not serving Telegram updates")
        raw = await _bounded(request)
        if raw is None:
            log.warning("telegram webhook: a body over %d bytes refused", MAX_UPDATE_BYTES)
            return web.Response(status=413, text="too large")
        body = _update(raw)
        if body is None:
            return web.Response(status=400, text="not an update")
        update_id = body["update_id"]
        try:
            key = sink.key_of(body)
        except Exception:  # noqa: BLE001 - an update the library cannot read is stored unordered, not refused
            log.warning("telegram webhook: no chat key for update %s", update_id, exc_info=True)
            key = None
        try:
            found = await self.rows.store(update_id, key, json.dumps(body, separators=(",", ":")),
                                          within=sink.storing(update_id, key))
            await sink.stored(update_id, key, body, found)
        except Exception:  # noqa: BLE001 - not acknowledged: Telegram posts it again
            log.exception("telegram webhook: update %s not stored or not handed on; Telegram will post it again", update_id)
            return web.Response(status=503, text="try again")
        return web.Response(status=200)


async def _bounded(request: web.Request) -> bytes | None:
    """The body, or None when it is longer than MAX_UPDATE_BYTES (read no further than that)."""
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return None
    parts, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_UPDATE_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _update(raw: bytes) -> dict[str, Any] | None:
    """The JSON object with a non-negative integer `update_id`, or None."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    update_id = body.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int) or update_id < 0:
        return None
    return body
