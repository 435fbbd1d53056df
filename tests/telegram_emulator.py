"""A local Telegram Bot API emulator: real HTTP on 127.0.0.1, real Bot API JSON, every call recorded.

python-telegram-bot talks to it through `base_url`, so tests exercise the library's real request path.

    async with BotApiEmulator() as emu:
        frontend = TelegramFrontend(app, emu.token, emu.url)
        emu.send_text(user_id=1, chat_id=1, text="/help")
        call = await emu.wait_for("sendMessage", lambda c: c.params["chat_id"] == "1")

Injected updates are served by getUpdates (long polling, honouring `offset` and `timeout`). Params are
recorded as sent (form fields are strings; JSON fields such as reply_markup are decoded). `block(chat)`
makes sends to a chat fail with 403, `fail_next(method, 429, retry_after=1)` injects one error, and
`set_admin(chat, user)` makes getChatMember report the user as an administrator of that group. `never_started(user)`
makes sends to that user's private chat fail with 403 "bot can't initiate conversation with a user" until the user
writes to the bot privately, as Telegram does for a user who never pressed Start. setMyCommands keeps a list per
scope and language; `menu(user, chat, language)` is the list Telegram shows that user in that chat (the narrowest
scope that has one: chat member, chat administrators, chat, all chat administrators, all group or private chats,
default; in each the language's list, else the scope's list for every language). `hold(method, chat)`
keeps such calls waiting unanswered until the event it returns is set (a caller stuck at a known point), and a client
given `url_via(tag)` as its API URL has its calls recorded with `via` = tag.

Webhooks as Telegram does them: `setWebhook` (url, secret_token, max_connections, allowed_updates), `deleteWebhook`
and `getWebhookInfo`; while a webhook is set, getUpdates is refused with 409 and every update is POSTed to the URL
with the secret in `X-Telegram-Bot-Api-Secret-Token`, retried until a 2xx, one at a time per chat and up to
`max_connections` chats at once. `balance(backends, copies=2)` plays a load balancer in front of several bot
processes: the URL's path goes to each backend in turn, and with `copies` every update goes to that many different
backends at once (a redelivery racing the first). `deliveries` records each POST (update, URL, status).

`BotApiEmulator(limits=EmulatedLimits(scale=10))` enforces Telegram's flood limits on every send and edit as
Telegram does: 30 a second overall (sliding window), 1 a second per private chat with a small burst (a bucket
of `per_chat_burst` refilled at 1/s), 20 a minute per group or channel (sliding window). A send that breaks one
is refused with 429 "Too Many Requests: retry after N" and `parameters.retry_after` N, the whole seconds until
that limit would admit it; a refused send counts for nothing, and a chat's limit refuses only that chat's
sends. `too_many` counts those answers, `too_many_chats` the ones for a chat's own limit (per chat id),
`too_many_overall` the ones for the overall limit, and `sent_to` the accepted messages per chat. Without
`limits`, nothing is enforced.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import math
import time
from urllib.parse import urlsplit
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

JSON_FIELDS = {"reply_markup", "commands", "scope", "reply_parameters", "allowed_updates", "entities",
               "caption_entities", "link_preview_options", "results", "button"}
INLINE_RESULT_TYPES = {"article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document", "location", "venue",
                       "contact", "game", "sticker"}  # the Bot API's InlineQueryResult types (cached ones share them)
SENDS = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}
SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat", "chat_administrators",
          "chat_member"}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_RETRY_SECONDS = 0.2  # Telegram waits longer before posting an unacknowledged update again
WEBHOOK_ATTEMPTS = 100  # then it gives up on the update


@dataclass(frozen=True)
class Delivery:
    update_id: int
    url: str
    status: int  # the HTTP status the bot answered; 0: no answer (connection refused, reset)


@dataclass(frozen=True)
class EmulatedLimits:
    """Telegram's flood limits as the emulator enforces them; `scale` multiplies every rate (windows shrink)."""

    per_second: int = 30  # sends and edits, all chats together, in any 1 s window
    per_chat_per_second: float = 1.0  # per private chat (positive id): the bucket's refill rate
    per_chat_burst: int = 3  # per private chat: how many may go at once after a quiet spell
    per_group_per_minute: int = 20  # per group or channel (negative id), in any 60 s window
    scale: float = 1.0


class _Windows:
    """Arrival times per window key and a bucket per private chat; `admit` records an arrival unless it would
    break a limit."""

    def __init__(self, limits: EmulatedLimits) -> None:
        self.limits = limits
        self._seen: dict[object, list[float]] = {}
        self._buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, when counted)

    def admit(self, chat_id: int | None, now: float) -> tuple[float, str] | None:
        """None when the send may go; else the seconds until it could and which limit refused it ("chat" or
        "overall"). A chat's own limit is checked first: Telegram refuses a flooding chat whatever the rest do."""
        lim = self.limits
        tokens = 0.0
        if chat_id is not None and chat_id > 0:
            rate = lim.per_chat_per_second * lim.scale
            held, at = self._buckets.get(chat_id, (float(lim.per_chat_burst), now))
            tokens = min(float(lim.per_chat_burst), held + (now - at) * rate)
            if tokens < 1.0:
                return (1.0 - tokens) / rate, "chat"
        elif chat_id is not None:
            wait = self._wait(chat_id, lim.per_group_per_minute, 60.0 / lim.scale, now)
            if wait > 0:
                return wait, "chat"
        wait = self._wait("all", lim.per_second, 1.0 / lim.scale, now)
        if wait > 0:
            return wait, "overall"
        self._seen.setdefault("all", []).append(now)
        if chat_id is not None and chat_id > 0:
            self._buckets[chat_id] = (tokens - 1.0, now)
        elif chat_id is not None:
            self._seen.setdefault(chat_id, []).append(now)
        return None

    def _wait(self, key: object, size: int, period: float, now: float) -> float:
        times = self._seen.get(key, [])
        recent = [t for t in times if t > now - period]
        if len(times) != len(recent):
            self._seen[key] = recent
        return recent[len(recent) - size] + period - now if len(recent) >= size else 0.0


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.perf_counter)
    result: Any = None
    via: str = ""  # the caller's tag when it used `url_via(tag)`

    @property
    def chat_id(self) -> int | None:
        raw = self.params.get("chat_id")
        return int(raw) if raw is not None else None


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class BotApiEmulator:
    def __init__(self, token: str = "123456:TEST-token", username: str = "indexbot_test_bot", *,
                 limits: EmulatedLimits | None = None) -> None:
        self.token = token
        self.me = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "indexbot", "username": username,
                   "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[Call] = []
        self.commands: dict[str, list[dict[str, str]]] = {}  # language_code ("" = default) -> the default scope's commands
        self.scoped: dict[tuple[str, str], list[dict[str, str]]] = {}  # (scope as JSON, language_code) -> commands
        self.not_started: set[int] = set()  # users the bot may not write to privately until they write first
        self.menu_button: Any = None  # what setChatMenuButton set (None: never called)
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat_id, message_id) -> Message
        self.documents: dict[tuple[int, int], tuple[str, bytes]] = {}  # sendDocument: (chat_id, message_id) -> (name, bytes)
        self.injected: dict[int, dict[str, Any]] = {}  # update_id -> Update
        self.blocked: set[int] = set()
        self.admins: dict[int, set[int]] = {}  # chat_id -> users getChatMember reports as administrators
        self.polled_updates: list[str] | None = None  # getUpdates' allowed_updates (None: every default kind)
        self.inline_queries: dict[str, float] = {}  # inline query id -> when it was asked (answerable for 10 s)
        self.inline_answers: dict[str, dict[str, Any]] = {}  # inline query id -> the answerInlineQuery parameters
        self.limits = limits
        self._windows = _Windows(limits) if limits is not None else None
        self.too_many = 0  # 429s answered because a limit was broken (not the injected ones)
        self.too_many_chats: Counter[int] = Counter()  # of which for a chat's own limit, per chat
        self.too_many_overall = 0  # of which for the overall limit
        self.sent_to: Counter[int] = Counter()  # accepted sends and edits per chat
        self._failures: dict[str, list[ApiError]] = {}
        self._holds: dict[tuple[str, int | None], asyncio.Event] = {}
        self._pending: list[dict[str, Any]] = []
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._recorded = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.webhook: dict[str, Any] | None = None  # what setWebhook set
        self.deliveries: list[Delivery] = []
        self.backends: list[str] = []  # balance(): where the webhook URL's posts really go
        self.copies = 1
        self._turn = 0
        self._delivering: set[int] = set()
        self._wake = asyncio.Event()
        self._deliverer: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- server ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> BotApiEmulator:
        """Serve on `port` (any free one by default)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_route("*", "/{via}/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._arrived.set()  # release long polls
        if self._deliverer is not None:
            self._deliverer.cancel()
            try:
                await self._deliverer
            except asyncio.CancelledError:
                pass
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> BotApiEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        call = Call(method, await _params(request), via=request.match_info.get("via", ""))
        self.calls.append(call)
        try:
            held = self._holds.get((method, call.chat_id))
            if held is not None:
                self._recorded.set()  # seen by wait_for while it waits
                await held.wait()
            call.result = await self._execute(call)
            if call.method in SENDS and call.chat_id is not None:
                self.sent_to[call.chat_id] += 1
        except ApiError as err:
            body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
            call.result = body
            return web.json_response(body, status=err.code)
        finally:
            self._recorded.set()
        return web.json_response({"ok": True, "result": call.result})

    async def _execute(self, call: Call) -> Any:
        if self._failures.get(call.method):
            raise self._failures[call.method].pop(0)
        if self._windows is not None and call.method in SENDS:
            refused = self._windows.admit(call.chat_id, time.monotonic())
            if refused is not None:
                wait, limit = refused
                self.too_many += 1
                if limit == "chat" and call.chat_id is not None:
                    self.too_many_chats[call.chat_id] += 1
                else:
                    self.too_many_overall += 1
                seconds = max(1, math.ceil(wait))  # the Bot API asks for whole seconds
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        if call.method in SENDS and call.chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if call.method in SENDS and call.chat_id in self.not_started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        handler = getattr(self, f"_api_{call.method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return await handler(call.params)

    # -- Bot API methods -------------------------------------------------------------------------------

    async def _api_getMe(self, p: dict[str, Any]) -> Any:
        return self.me

    async def _api_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = None
        if str(p.get("drop_pending_updates", "")).lower() == "true":
            self._pending.clear()
        return True

    async def _api_setWebhook(self, p: dict[str, Any]) -> Any:
        url = str(p.get("url") or "")
        if not url:
            return await self._api_deleteWebhook(p)
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "max_connections": int(p.get("max_connections") or 40),
                        "allowed_updates": p.get("allowed_updates")}
        if self._deliverer is None:
            self._deliverer = asyncio.create_task(self._deliver())
        self._wake.set()
        return True

    async def _api_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        hook = self.webhook or {}
        info = {"url": hook.get("url", ""), "has_custom_certificate": False, "pending_update_count": len(self._pending)}
        if hook:
            info["max_connections"] = hook["max_connections"]
            if hook["allowed_updates"] is not None:
                info["allowed_updates"] = hook["allowed_updates"]
        return info

    async def _api_close(self, p: dict[str, Any]) -> Any:
        return True

    async def _api_logOut(self, p: dict[str, Any]) -> Any:
        return True

    async def _api_setMyCommands(self, p: dict[str, Any]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        if scope.get("type") not in SCOPES:
            raise ApiError(400, "Bad Request: unsupported bot command scope type")
        if scope["type"] == "default":
            self.commands[p.get("language_code", "")] = p["commands"]
        else:
            self.scoped[(_scope_key(scope), p.get("language_code", ""))] = p["commands"]
        return True

    async def _api_setChatMenuButton(self, p: dict[str, Any]) -> Any:
        self.menu_button = p.get("menu_button")
        return True

    async def _api_getMyCommands(self, p: dict[str, Any]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        if scope.get("type", "default") == "default":
            return self.commands.get(p.get("language_code", ""), [])
        return self.scoped.get((_scope_key(scope), p.get("language_code", "")), [])

    def menu(self, user_id: int, chat_id: int, language: str = "") -> list[dict[str, str]]:
        """The command menu Telegram shows `user_id` in `chat_id` (their private chat: the user's id), as it picks it:
        the narrowest scope that has a list, the language's list in it before the scope's list for every language."""
        private = chat_id > 0
        admin = not private and user_id in self.admins.get(chat_id, set())
        scopes = [{"type": "chat_member", "chat_id": chat_id, "user_id": user_id}]
        scopes += [{"type": "chat_administrators", "chat_id": chat_id}] if admin else []
        scopes += [{"type": "chat", "chat_id": chat_id}]
        scopes += [{"type": "all_chat_administrators"}] if admin else []
        scopes += [{"type": "all_private_chats" if private else "all_group_chats"}]
        for scope in scopes:
            for lang in dict.fromkeys((language, "")):
                found = self.scoped.get((_scope_key(scope), lang))
                if found is not None:
                    return found
        return self.commands.get(language) or self.commands.get("", [])

    async def _api_getUpdates(self, p: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                                "delete the webhook first")
        offset, limit = int(p.get("offset") or 0), int(p.get("limit") or 100)
        if p.get("allowed_updates") is not None:  # kept until a later call names others, as Telegram keeps it
            self.polled_updates = list(p["allowed_updates"]) or None
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self._drop_unasked()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(p.get("timeout") or 0)
        while not self._pending and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
            self._drop_unasked()
        return self._pending[:limit]

    def _drop_unasked(self) -> None:
        """A kind of update getUpdates' allowed_updates did not ask for is never delivered."""
        if self.polled_updates is not None:
            self._pending = [u for u in self._pending if set(u) - {"update_id"} <= set(self.polled_updates)]

    async def _api_sendMessage(self, p: dict[str, Any]) -> Any:
        return self._new_message(int(p["chat_id"]), text=_shown(p["text"], p), reply_markup=p.get("reply_markup"))

    async def _api_sendPhoto(self, p: dict[str, Any]) -> Any:
        photo = [{"file_id": f"photo{next(self._ids)}", "file_unique_id": "u", "width": 1, "height": 1}]
        caption = _shown(p["caption"], p) if p.get("caption") else None
        return self._new_message(int(p["chat_id"]), photo=photo, caption=caption, reply_markup=p.get("reply_markup"))

    async def _api_sendDocument(self, p: dict[str, Any]) -> Any:
        """A file: the message shows its name; its bytes are kept in `documents` by (chat, message id)."""
        name = str(p.get("document_filename") or "file")
        document = {"file_id": f"doc{next(self._ids)}", "file_unique_id": "u", "file_name": name}
        caption = _shown(p["caption"], p) if p.get("caption") else None
        sent = self._new_message(int(p["chat_id"]), document=document, caption=caption, reply_markup=p.get("reply_markup"))
        self.documents[(int(p["chat_id"]), int(sent["message_id"]))] = (name, bytes(p["document"]))
        return sent

    async def _api_editMessageText(self, p: dict[str, Any]) -> Any:
        message = self.messages.get((int(p["chat_id"]), int(p["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text, markup = _shown(p["text"], p), p.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        message.update(text=text, reply_markup=markup, edit_date=int(time.time()))
        return _clean(message)

    async def _api_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        return True

    async def _api_answerInlineQuery(self, p: dict[str, Any]) -> Any:
        """As the Bot API checks it: a known, unanswered query (answered within 10 s), at most 50 results with unique
        ids of 1-64 bytes and a known type, an article with a title and input_message_content, a button with text and
        either a web_app or a start_parameter of 1-64 of A-Za-z0-9_-, a photo by URL as `_check_inline_photo` says.
        Kept in `inline_answers` by query id (what a test reads: the results as sent, photo URLs included)."""
        query_id = str(p.get("inline_query_id") or "")
        asked = self.inline_queries.get(query_id)
        if asked is None or query_id in self.inline_answers or time.time() - asked > 10:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        results = p.get("results")
        if not isinstance(results, list) or len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH" if isinstance(results, list) else "Bad Request: can't parse inline query results")
        ids = [str(r.get("id", "")) for r in results]
        if len(set(ids)) != len(ids):
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        for result, rid in zip(results, ids):
            if not 1 <= len(rid.encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            if result.get("type") not in INLINE_RESULT_TYPES:
                raise ApiError(400, "Bad Request: RESULT_TYPE_INVALID")
            content = result.get("input_message_content") or {}
            if result["type"] == "article" and (not result.get("title") or not content.get("message_text")):
                raise ApiError(400, "Bad Request: can't parse inline query result")
            if result["type"] == "photo" and "photo_file_id" not in result:
                _check_inline_photo(result)
        button = p.get("button")
        if button is not None:
            start = button.get("start_parameter")
            if not button.get("text") or (start is None) == ("web_app" not in button) or (
                    start is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(start))):
                raise ApiError(400, "Bad Request: BUTTON_START_PARAM_INVALID")
        self.inline_answers[query_id] = p
        return True

    async def _api_getChatMember(self, p: dict[str, Any]) -> Any:
        chat_id, user_id = int(p["chat_id"]), int(p["user_id"])
        user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"})
        if user_id not in self.admins.get(chat_id, set()):
            return {"status": "member", "user": user}
        rights = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
                  "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                  "can_delete_stories")
        return {"status": "administrator", "user": user, "can_be_edited": False, "is_anonymous": False,
                **{right: True for right in rights}}

    async def _api_deleteMessage(self, p: dict[str, Any]) -> Any:
        """As Telegram: a bot deletes anything in a private chat, but another's message in a group only as its admin."""
        key = (int(p["chat_id"]), int(p["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        theirs = message["from"]["id"] != self.me["id"]
        if theirs and message["chat"]["type"] != "private" and self.me["id"] not in self.admins.get(key[0], set()):
            raise ApiError(400, "Bad Request: message can't be deleted")
        del self.messages[key]
        return True

    def _new_message(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        message = {"message_id": next(self._ids), "from": self.me, "chat": self._chat(chat_id), "date": int(time.time()), **fields}
        self.messages[(chat_id, message["message_id"])] = message
        return _as_sent(message)

    # -- injecting updates -----------------------------------------------------------------------------

    def send_text(self, user_id: int, chat_id: int, text: str, chat_type: str = "private", language_code: str | None = "en",
                  reply_to: int | None = None) -> int:
        """Queue a text message from a user; a leading /command gets its bot_command entity; `reply_to`: the id of
        the message it replies to (a ForceReply's). Returns update_id."""
        message: dict[str, Any] = {"message_id": next(self._ids), "from": self._user(user_id, language_code),
                                   "chat": self._chat(chat_id, chat_type), "date": int(time.time()), "text": text}
        if reply_to is not None and (chat_id, reply_to) in self.messages:
            message["reply_to_message"] = _as_sent(self.messages[(chat_id, reply_to)])
        if text.startswith("/"):
            head = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(head.encode("utf-16-le")) // 2}]
        self.messages[(chat_id, message["message_id"])] = message  # in the chat until deleted
        if chat_type == "private" and chat_id == user_id:  # the user started the bot: it may write to them now
            self.not_started.discard(user_id)
        return self._push({"message": message})

    def press(self, user_id: int, chat_id: int, message_id: int, callback_data: str, language_code: str | None = None) -> int:
        """Queue a press of an inline button on message `message_id`. Returns update_id."""
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id, "from": self.me, "chat": self._chat(chat_id), "date": int(time.time()), "text": ""}
        query = {"id": str(next(self._ids)), "from": self._user(user_id, language_code), "message": _clean(message),
                 "chat_instance": str(chat_id), "data": callback_data}
        return self._push({"callback_query": query})

    def inline_query(self, user_id: int, query: str, chat_type: str = "sender", language_code: str | None = "en") -> str:
        """Queue an inline query (`@bot <query>` typed in a chat of `chat_type`); its id, the key of its answer in
        `inline_answers`."""
        query_id = str(next(self._ids))
        self.inline_queries[query_id] = time.time()
        self._push({"inline_query": {"id": query_id, "from": self._user(user_id, language_code), "query": query,
                                     "offset": "", "chat_type": chat_type}})
        return query_id

    def _push(self, body: dict[str, Any]) -> int:
        update = {"update_id": next(self._ids), **body}
        self.injected[update["update_id"]] = update
        self._pending.append(update)
        self._arrived.set()
        self._wake.set()
        return int(update["update_id"])

    def _user(self, user_id: int, language_code: str | None) -> dict[str, Any]:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"})
        if language_code is not None:
            user["language_code"] = language_code
        return dict(user)

    def _chat(self, chat_id: int, chat_type: str | None = None) -> dict[str, Any]:
        default = "private" if chat_id > 0 else "supergroup"
        chat = self._chats.setdefault(chat_id, {"id": chat_id, "type": chat_type or default})
        if chat_type is not None:
            chat["type"] = chat_type
        if chat["type"] != "private":
            chat.setdefault("title", f"Group {chat_id}")
        return dict(chat)

    # -- webhook delivery ------------------------------------------------------------------------------

    async def _deliver(self) -> None:
        """Post pending updates to the webhook while one is set: a chat's one at a time, in order; up to
        max_connections chats at once."""
        busy: set[object] = set()
        running: set[asyncio.Task[None]] = set()
        while True:
            self._wake.clear()
            hook = self.webhook
            if hook is not None:
                for update in list(self._pending):
                    if len(running) >= hook["max_connections"]:
                        break
                    key = _chat_of(update)
                    if key in busy or update["update_id"] in self._delivering:
                        continue
                    busy.add(key)
                    self._delivering.add(update["update_id"])
                    task = asyncio.create_task(self._post(hook, update))
                    running.add(task)

                    def done(t: asyncio.Task[None], key: object = key, uid: int = update["update_id"]) -> None:
                        busy.discard(key)
                        running.discard(t)
                        self._delivering.discard(uid)
                        self._wake.set()
                        self._recorded.set()

                    task.add_done_callback(done)
            try:
                await self._wake.wait()
            except asyncio.CancelledError:
                for task in running:
                    task.cancel()
                raise

    async def _post(self, hook: dict[str, Any], update: dict[str, Any]) -> None:
        """One update to its target(s), each until it answers 2xx; then it is no longer pending."""
        await asyncio.gather(*(self._post_to(url, hook.get("secret_token"), update) for url in self._targets(hook["url"])))
        if update in self._pending:
            self._pending.remove(update)

    async def _post_to(self, url: str, secret: str | None, update: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        for _ in range(WEBHOOK_ATTEMPTS):
            try:
                async with self._session.post(url, json=update, headers=headers) as response:
                    status = response.status
            except (aiohttp.ClientError, OSError):
                status = 0
            self.deliveries.append(Delivery(update["update_id"], url, status))
            self._recorded.set()
            if 200 <= status < 300:
                return
            await asyncio.sleep(WEBHOOK_RETRY_SECONDS)

    def _targets(self, url: str) -> list[str]:
        """Where a post to `url` goes: itself, or (balance) `copies` different backends, taken in turn."""
        if not self.backends:
            return [url]
        parts = urlsplit(url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        count = min(self.copies, len(self.backends))
        start, self._turn = self._turn, self._turn + 1
        return [self.backends[(start + n) % len(self.backends)].rstrip("/") + tail for n in range(count)]

    # -- test controls ---------------------------------------------------------------------------------

    def balance(self, backends: list[str], copies: int = 1) -> None:
        """Send the webhook's posts to `backends` (base URLs) in turn, each update to `copies` different ones."""
        self.backends, self.copies = list(backends), copies

    def delivered(self, update_id: int) -> list[Delivery]:
        return [d for d in self.deliveries if d.update_id == update_id]

    async def wait_delivered(self, update_id: int, timeout: float = 30.0) -> list[Delivery]:
        """Await until every copy of `update_id` was acknowledged (it left the pending updates); its posts."""
        async def acknowledged() -> None:
            while any(u["update_id"] == update_id for u in self._pending) or update_id in self._delivering:
                self._recorded.clear()
                await self._recorded.wait()

        await asyncio.wait_for(acknowledged(), timeout)
        return self.delivered(update_id)

    def set_admin(self, chat_id: int, user_id: int, admin: bool = True) -> None:
        """Make getChatMember report `user_id` as an administrator of `chat_id` (or, `admin=False`, a member)."""
        (self.admins.setdefault(chat_id, set()).add if admin else self.admins.setdefault(chat_id, set()).discard)(user_id)

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def never_started(self, user_id: int) -> None:
        """`user_id` never started the bot: Telegram refuses the bot's messages to them until they write privately."""
        self.not_started.add(user_id)

    def fail_next(self, method: str, code: int, description: str = "Too Many Requests", retry_after: int | None = None) -> None:
        self._failures.setdefault(method, []).append(ApiError(code, description, retry_after))

    def url_via(self, tag: str) -> str:
        """The emulator's URL for one client: its calls are recorded with `via` = `tag` (which process sent what)."""
        return f"{self.url}/{tag}"

    def hold(self, method: str, chat_id: int) -> asyncio.Event:
        """Calls of `method` for `chat_id` are recorded, then wait unanswered until the returned event is set."""
        return self._holds.setdefault((method, chat_id), asyncio.Event())

    def mark(self) -> int:
        """An index into `calls`; pass it as `since` to look only at later calls."""
        return len(self.calls)

    def calls_to(self, method: str, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == method]

    async def wait_for(self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 10.0,
                       since: int = 0) -> Call:
        """The first call of `method` (from `since` on) that satisfies `predicate`, awaiting it if need be."""
        async def first() -> Call:
            seen = since
            while True:
                for call in self.calls[seen:]:
                    if call.method == method and (predicate is None or predicate(call)):
                        return call
                seen = len(self.calls)
                self._recorded.clear()
                await self._recorded.wait()

        return await asyncio.wait_for(first(), timeout)

    async def wait_count(self, method: str, n: int, timeout: float = 60.0, since: int = 0) -> list[Call]:
        """Await until `n` calls of `method` were recorded from `since` on; returns them."""
        async def enough() -> list[Call]:
            while len(found := self.calls_to(method, since)) < n:
                self._recorded.clear()
                await self._recorded.wait()
            return found

        return await asyncio.wait_for(enough(), timeout)


def _scope_key(scope: dict[str, Any]) -> str:
    """A BotCommandScope as one comparable key (ids as integers, whatever the form sent)."""
    return json.dumps({k: int(v) if k in ("chat_id", "user_id") else v for k, v in scope.items()}, sort_keys=True)


async def _params(request: web.Request) -> dict[str, Any]:
    """Query and body (form, multipart or JSON) as one dict; uploaded files become bytes."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
        return params
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            params[key] = value.file.read()
            params[f"{key}_filename"] = value.filename
        elif key in JSON_FIELDS and isinstance(value, str):
            params[key] = json.loads(value)
        else:
            params[key] = value
    return params


def _chat_of(update: dict[str, Any]) -> object:
    """The chat an update belongs to (Telegram posts a chat's updates one at a time); the update itself if none."""
    for kind in ("message", "edited_message", "channel_post"):
        if kind in update:
            return update[kind]["chat"]["id"]
    message = update.get("callback_query", {}).get("message")
    return message["chat"]["id"] if message else ("update", update["update_id"])


def _shown(text: str, params: dict[str, Any]) -> str:
    """What a client displays: HTML parse mode strips the tags (entities are not emulated)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text)) if params.get("parse_mode") == "HTML" else text


def _as_sent(message: dict[str, Any]) -> dict[str, Any]:
    """A message as Telegram shows it back: a reply keyboard or ForceReply it was sent with is not part of it (only
    an inline keyboard is)."""
    shown = _clean(message)
    if "inline_keyboard" not in (shown.get("reply_markup") or {"inline_keyboard": []}):
        del shown["reply_markup"]
    return shown


def _clean(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if v is not None}


def _check_inline_photo(result: dict[str, Any]) -> None:
    """An InlineQueryResultPhoto by URL as the Bot API takes it: photo_url and thumbnail_url both public https URLs
    (Telegram's servers fetch them: a private or plain-http address is WEBDOCUMENT_URL_INVALID), and a caption of at
    most 1024 characters once its HTML is parsed."""
    for name in ("photo_url", "thumbnail_url"):
        parts = urlsplit(str(result.get(name) or ""))
        if parts.scheme != "https" or not parts.hostname or parts.hostname in ("localhost", "127.0.0.1", "::1"):
            raise ApiError(400, "Bad Request: WEBDOCUMENT_URL_INVALID")
    caption = str(result.get("caption") or "")
    shown = html.unescape(re.sub(r"<[^>]+>", "", caption)) if result.get("parse_mode") == "HTML" else caption
    if len(shown) > 1024:
        raise ApiError(400, "Bad Request: MEDIA_CAPTION_TOO_LONG")
