"""A local stand-in for Discord's REST API, and factories for real gateway payloads.

`FakeDiscord` is an aiohttp server on 127.0.0.1 that answers the few routes the adapter uses (login,
application info, command sync, interaction callbacks, webhook follow-ups and edits, channel messages, a channel and
the server GUILD_ID) and
records every request as a `Call` with its JSON body, so tests assert on exactly what discord.py sent.
An ephemeral message (`ephemeral`) is reached only through its interaction's webhook, as on Discord.
As Discord does, it answers an interaction's webhook (`/webhooks/<application>/<token>`: PATCH
`messages/@original`, POST a follow-up) only once that interaction was acknowledged by its callback, and with
404 "Unknown Webhook" (10015) otherwise; `answers(token)` are the calls made with one interaction's token.
Its `/gateway` is a websocket that says HELLO, records each IDENTIFY (`identified`: which shard of how many),
answers READY and sends what `dispatch` is given: point `DiscordWebSocket.DEFAULT_GATEWAY` at `FakeDiscord.gateway` to see what a process connects as. Point
`discord.http.Route.BASE` at `FakeDiscord.api` (the webhook adapter shares that class) and the real
discord.py code runs unchanged up to the socket.

The payload factories build INTERACTION_CREATE and MESSAGE_CREATE dicts as the gateway sends them; tests
feed them through `client._connection.parse_interaction_create` / `parse_message_create`, discord.py's own
dispatch, and `dispatched()` waits for the tasks that dispatch started.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from aiohttp import web

APP_ID = 900000000000000001
BOT_ID = 900000000000000001
GUILD_ID = 910000000000000001
GUILD_NAME = "Index <Club>"
MANAGERS_ROLE_ID = 910000000000000002  # the server's role with Manage Server (`FakeDiscord.members`)
GUILD_OWNER_ID = 940000000000000098  # who owns the server GUILD_ID, as GET /guilds/<id> says
CHANNEL_ID = 920000000000000001
DM_CHANNEL_ID = 920000000000000099
TIMESTAMP = "2026-01-01T00:00:00+00:00"
_ids = itertools.count(930000000000000001)


def snowflake() -> str:
    return str(next(_ids))


def user_dict(user_id: int, name: str = "alice", *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0", "avatar": None, "bot": bot}


def member_dict(user: dict[str, Any]) -> dict[str, Any]:
    return {"user": user, "roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0, "permissions": "2147483647"}


def message_dict(content: str, author: dict[str, Any], channel_id: int, *, guild_id: int | None = None, components: list[Any] | None = None, flags: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": snowflake(), "channel_id": str(channel_id), "content": content, "author": author, "attachments": [],
        "embeds": [], "mentions": [], "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False,
        "type": 0, "timestamp": TIMESTAMP, "edited_timestamp": None, "flags": flags, "components": components or [],
    }  # fmt: skip
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        data["member"] = {k: v for k, v in member_dict(author).items() if k != "user"}
    return data


def _where(user: dict[str, Any], guild_id: int | None, channel_id: int) -> dict[str, Any]:
    if guild_id is None:
        return {"user": user, "channel_id": str(channel_id), "channel": {"id": str(channel_id), "type": 1}, "context": 1}
    channel = {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "general", "position": 0, "permission_overwrites": []}
    return {"member": member_dict(user), "guild_id": str(guild_id), "guild_locale": "en-US", "channel_id": str(channel_id), "channel": channel, "context": 0}


def _interaction(kind: int, data: dict[str, Any], user: dict[str, Any], locale: str, guild_id: int | None, channel_id: int) -> dict[str, Any]:
    return {
        "id": snowflake(), "application_id": str(APP_ID), "type": kind, "token": f"itoken-{snowflake()}", "version": 1,
        "data": data, "locale": locale, "app_permissions": "2147483647", "entitlements": [], "attachment_size_limit": 10485760,
        "authorizing_integration_owners": {"0": str(guild_id)} if guild_id else {"1": user["id"]},
        **_where(user, guild_id, channel_id),
    }  # fmt: skip


def slash_payload(name: str, options: dict[str, str], user: dict[str, Any], *, locale: str = "en-US", guild_id: int | None = GUILD_ID, channel_id: int = CHANNEL_ID) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction (type 2) as the gateway delivers it; options are string-typed."""
    opts = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
    data = {"id": snowflake(), "name": name, "type": 1, "options": opts}
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return _interaction(2, data, user, locale, guild_id, channel_id)


def press_payload(custom_id: str, message: dict[str, Any], user: dict[str, Any], *, locale: str = "en-US", guild_id: int | None = GUILD_ID) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction (type 3): `user` pressed the button `custom_id` on `message`."""
    data = {"custom_id": custom_id, "component_type": 2}
    payload = _interaction(3, data, user, locale, guild_id, int(message["channel_id"]))
    payload["message"] = message
    return payload


def autocomplete_payload(name: str, options: dict[str, str], focused: str, user: dict[str, Any], *, locale: str = "en-US",
                         guild_id: int | None = GUILD_ID, channel_id: int = CHANNEL_ID) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4): `user` typing the option `focused` of `/name`, the
    options typed so far `options` (the focused one's text included)."""
    payload = slash_payload(name, options, user, locale=locale, guild_id=guild_id, channel_id=channel_id)
    for option in payload["data"]["options"]:
        if option["name"] == focused:
            option["focused"] = True
    payload["type"] = 4
    return payload


def choice_payload(custom_id: str, value: str, message: dict[str, Any], user: dict[str, Any], *, locale: str = "en-US",
                   guild_id: int | None = GUILD_ID) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction (type 3): `user` chose `value` in the select menu `custom_id` on `message`."""
    data = {"custom_id": custom_id, "component_type": 3, "values": [value]}
    payload = _interaction(3, data, user, locale, guild_id, int(message["channel_id"]))
    payload["message"] = message
    return payload


@dataclass
class Call:
    method: str
    path: str
    body: Any  # the JSON payload (from `payload_json` for multipart requests), or None
    files: int = 0
    status: int = 200  # what the fake answered
    at: float = 0.0  # time.monotonic() when it arrived


    @property
    def content(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        return str((body.get("data", body) or {}).get("content") or "")

    @property
    def custom_ids(self) -> list[str]:
        body = self.body if isinstance(self.body, dict) else {}
        rows = (body.get("data", body) or {}).get("components") or []
        return [c.get("custom_id", "") for row in rows for c in row.get("components", [])]

    @property
    def menus(self) -> list[dict[str, Any]]:
        """The select menus (component type 3) of the message sent."""
        body = self.body if isinstance(self.body, dict) else {}
        rows = (body.get("data", body) or {}).get("components") or []
        return [c for row in rows for c in row.get("components", []) if c.get("type") == 3]

    @property
    def flags(self) -> int:
        body = self.body if isinstance(self.body, dict) else {}
        return int((body.get("data", body) or {}).get("flags") or 0)

    @property
    def allowed_mentions(self) -> Any:
        body = self.body if isinstance(self.body, dict) else {}
        return (body.get("data", body) or {}).get("allowed_mentions")


@dataclass
class Refusal:
    """An error answer for requests `method` to a path containing `path_part`: `times` of them (None: until
    `until`, a time.monotonic(), or for ever)."""

    method: str
    path_part: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int | None = None
    until: float | None = None

    def applies(self, method: str, path: str) -> bool:
        if self.method != method or self.path_part not in path:
            return False
        if self.until is not None and time.monotonic() >= self.until:
            return False
        return self.times is None or self.times > 0


class FakeDiscord:
    """The REST edge of Discord on loopback; `calls` holds every request in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.bot = user_dict(BOT_ID, "indexbot", bot=True)
        self.dms: dict[str, dict[str, Any]] = {}  # DM channel id -> its recipient (see `open_dm`)
        self.refusals: list[Refusal] = []
        self.refused: dict[str, tuple[int, dict[str, Any]]] = {}  # HTTP method -> the error status and body answered
        self.acknowledged: dict[str, str] = {}  # interaction token -> its interaction id, once its callback came
        self.ephemerals: set[str] = set()  # ids of ephemeral messages (`ephemeral`): no channel route reaches them
        self.members: dict[str, list[str]] = {}  # the server's members as GET .../members/<id> reads them: role ids
        self.identified: list[dict[str, Any]] = []  # each IDENTIFY's payload, without its token
        self.gateway = ""
        self._sessions: list[web.WebSocketResponse] = []  # open gateway sessions, for `dispatch`
        self._sequence = 1  # the last dispatch's sequence number (READY is 1)
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()  # notified at each request (`wait_for`)
        self.api = ""

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_route("GET", "/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.api = f"http://127.0.0.1:{port}/api/v10"
        self.gateway = f"ws://127.0.0.1:{port}/gateway"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """One gateway session: HELLO, then READY for the IDENTIFY the client sends; heartbeats acknowledged."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sessions.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None})
        async for message in ws:
            data = json.loads(message.data)
            if data["op"] == 1:  # heartbeat
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif data["op"] == 2:  # identify
                self.identified.append({k: v for k, v in data["d"].items() if k != "token"})
                ready = {"v": 10, "user": self.bot, "guilds": [], "session_id": snowflake(), "shard": data["d"].get("shard"),
                         "resume_gateway_url": self.gateway, "application": {"id": str(APP_ID), "flags": 0}}
                await ws.send_json({"op": 0, "t": "READY", "s": 1, "d": ready})
                async with self._arrived:
                    self._arrived.notify_all()
        self._sessions.remove(ws)
        return ws

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send the event `event` (INTERACTION_CREATE, MESSAGE_CREATE) down every open gateway session, as Discord
        does: the client reads it off its socket, and discord.py's gateway code (its logging too) handles it."""
        assert self._sessions, "no gateway session is open"
        self._sequence += 1
        for ws in self._sessions:
            await ws.send_json({"op": 0, "t": event, "s": self._sequence, "d": data})

    async def wait_identified(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The first `count` IDENTIFY payloads, once that many came."""
        async def arrived() -> list[dict[str, Any]]:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.identified) >= count)
            return self.identified[:count]

        return await asyncio.wait_for(arrived(), timeout)

    def open_dm(self, channel_id: int, user: dict[str, Any]) -> None:
        """Make `channel_id` a DM channel with `user`: fetching it answers a DM, and the bot's messages to it
        (POST /channels/<id>/messages) are DMs to that user."""
        self.dms[str(channel_id)] = user

    def ephemeral(self, message: dict[str, Any]) -> dict[str, Any]:
        """Make `message` (an answer shown with the ephemeral flag) one only its interaction's webhook reaches: as
        Discord does, a channel route (GET, PATCH, DELETE /channels/<id>/messages/<its id>) answers 404 Unknown
        Message (10008)."""
        self.ephemerals.add(str(message["id"]))
        return message

    def refuse(self, method: str, path_part: str, status: int, code: int = 0, message: str = "", *, times: int | None = None,
               until: float | None = None, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Answer matching requests with Discord's error `code` (e.g. 403 with 50007 "Cannot send messages to
        this user"), or with `body` as given."""
        answer = body if body is not None else {"message": message or f"refused ({code})", "code": code}
        self.refusals.append(Refusal(method, path_part, status, answer, {"Via": "1.1 google", **(headers or {})}, times, until))

    def rate_limit(self, method: str, path_part: str, retry_after: float, *, scope: str = "global", cloudflare: bool = True,
                   times: int | None = None, until: float | None = None) -> None:
        """429s as Discord sends them for a global limit (Retry-After, X-RateLimit-Global, `global` in the body);
        `cloudflare` leaves out Discord's Via header, as when Cloudflare answers first, so discord.py does not wait
        it out itself but raises."""
        headers = {"Retry-After": str(max(1, round(retry_after))), "X-RateLimit-Scope": scope}
        if scope == "global":
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": scope == "global", "code": 0}
        self.refuse(method, path_part, 429, body=body, headers=headers, times=times, until=until)
        if cloudflare:
            self.refusals[-1].headers.pop("Via")

    def where(self, method: str, path_part: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and path_part in c.path]

    async def wait_for(self, found: Callable[[Call], bool], timeout: float = 30) -> Call:
        """The first request `found` accepts, waiting for it to arrive (a request made by another task)."""
        async def arrived() -> Call:
            async with self._arrived:
                await self._arrived.wait_for(lambda: any(found(c) for c in self.calls))
            return next(c for c in self.calls if found(c))

        return await asyncio.wait_for(arrived(), timeout)

    def answers(self, token: str) -> list[Call]:
        """The requests made through the webhook of the interaction whose token is `token`."""
        return [c for c in self.calls if c.path.startswith(f"/webhooks/{APP_ID}/{token}")]

    def sent(self) -> list[Call]:
        """Everything that puts a message in front of a user: callbacks, follow-ups, edits, channel sends."""
        return [c for c in self.calls if c.method in ("POST", "PATCH") and not c.path.endswith("/commands")]

    async def _body(self, request: web.Request) -> tuple[Any, int]:
        if request.content_type.startswith("multipart/"):
            body, files = None, 0
            async for part in await request.multipart():
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files += 1
            return body, files
        text = await request.text()
        return (json.loads(text) if text else None), 0

    async def _handle(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        path = "/" + request.match_info["tail"]
        call = Call(request.method, path, body, files, at=time.monotonic())
        self.calls.append(call)
        response = self._respond(request.method, path, body, call)
        async with self._arrived:
            self._arrived.notify_all()
        return response

    def _respond(self, method: str, path: str, body: Any, call: Call) -> web.Response:
        refusal = next((r for r in self.refusals if r.applies(method, path)), None)
        if refusal is not None:
            if refusal.times is not None:
                refusal.times -= 1
            call.status = refusal.status
            headers = {"Content-Type": "application/json", **refusal.headers}
            return web.Response(status=refusal.status, body=json.dumps(refusal.body).encode(), headers=headers)
        parts = path.split("/")
        if len(parts) == 5 and parts[1] == "channels" and parts[3] == "messages" and parts[4] in self.ephemerals:
            call.status = 404
            return web.Response(status=404, body=json.dumps({"message": "Unknown Message", "code": 10008}).encode(),
                                headers={"Content-Type": "application/json"})
        unknown = self._unknown_webhook(path)
        if unknown is not None:
            call.status = 404
            return web.Response(status=404, body=json.dumps(unknown).encode(), headers={"Content-Type": "application/json"})
        if method in self.refused:
            status, error = self.refused[method]
            call.status = status
            return web.Response(status=status, body=json.dumps(error).encode(), headers={"Content-Type": "application/json"})
        answered = self._answer(method, path, body)
        if answered is None:  # a server or member the fake does not hold: Discord's 404
            call.status = 404
            return web.Response(status=404, body=json.dumps({"message": "Unknown Member", "code": 10007}).encode(),
                                headers={"Content-Type": "application/json"})
        answer = json.dumps(answered)
        return web.Response(body=answer.encode(), headers={"Content-Type": "application/json"})  # exactly, as discord.py checks

    def _unknown_webhook(self, path: str) -> dict[str, Any] | None:
        """Discord's answer to an interaction webhook whose interaction was never acknowledged (or a wrong token)."""
        parts = path.split("/")
        if path.startswith("/interactions/") and path.endswith("/callback"):
            self.acknowledged[parts[3]] = parts[2]
        if path.startswith("/webhooks/") and len(parts) > 3 and parts[3] not in self.acknowledged:
            return {"message": "Unknown Webhook", "code": 10015}
        return None

    def _answer(self, method: str, path: str, body: Any) -> Any:
        if path == "/users/@me":
            return self.bot
        if path == "/oauth2/applications/@me":
            return {"id": str(APP_ID), "name": "indexbot", "icon": None, "description": "", "bot_public": True,
                    "bot_require_code_grant": False, "owner": user_dict(1, "owner"), "verify_key": "00", "flags": 0}  # fmt: skip
        if path.endswith("/commands"):
            return [{**c, "id": snowflake(), "application_id": str(APP_ID), "version": "1"} for c in body or []]
        if method == "POST" and path == "/users/@me/channels":  # open a DM: the same channel for a user each time
            recipient = user_dict(int(body["recipient_id"]))
            channel_id = next((c for c, u in self.dms.items() if u["id"] == recipient["id"]), None) or snowflake()
            self.dms[channel_id] = recipient
            return {"id": channel_id, "type": 1, "recipients": [recipient], "last_message_id": None}
        if path.endswith("/callback"):
            return {"interaction": {"id": path.split("/")[2], "type": 2}}
        if method == "GET" and path.startswith(f"/guilds/{GUILD_ID}"):
            return self._guild(path)
        channel_id = path.split("/")[2] if path.startswith("/channels/") else str(CHANNEL_ID)
        if method == "GET" and path.startswith("/channels/") and channel_id in self.dms:
            return {"id": channel_id, "type": 1, "recipients": [self.dms[channel_id]], "last_message_id": None}
        if method == "GET" and path.startswith("/channels/"):
            return {"id": channel_id, "type": 0, "guild_id": str(GUILD_ID), "name": "general", "position": 0, "permission_overwrites": []}
        data = body if isinstance(body, dict) else {}
        return message_dict(data.get("content") or "", self.bot, int(channel_id), components=data.get("components"), flags=data.get("flags") or 0)

    def _guild(self, path: str) -> Any:
        """The server (its @everyone role without rights, a managers role with Manage Server) or one of `members`."""
        parts = path.split("/")
        if len(parts) == 3:
            role = {"color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
            return {"id": str(GUILD_ID), "name": GUILD_NAME, "owner_id": str(GUILD_OWNER_ID), "features": [], "emojis": [], "stickers": [],
                    "roles": [{**role, "id": str(GUILD_ID), "name": "@everyone", "permissions": "0", "position": 0},
                              {**role, "id": str(MANAGERS_ROLE_ID), "name": "managers", "permissions": "32", "position": 1}],
                    "preferred_locale": "en-US"}  # fmt: skip
        if len(parts) == 5 and parts[3] == "members" and parts[4] in self.members:
            return {**member_dict(user_dict(int(parts[4]))), "roles": self.members[parts[4]]}
        return None


@asynccontextmanager
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    try:
        yield server
    finally:
        await server.stop()


async def dispatched(feed: Callable[[], None], timeout: float = 60) -> None:
    """Run `feed` (a synchronous gateway parse) and wait for every task it started to finish."""
    before = asyncio.all_tasks()
    feed()
    started = asyncio.all_tasks() - before
    if started:
        done, pending = await asyncio.wait(started, timeout=timeout)
        assert not pending, f"still running after {timeout}s: {pending}"
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


def iter_custom_ids(calls: list[Call]) -> Iterator[str]:
    for call in calls:
        yield from call.custom_ids
