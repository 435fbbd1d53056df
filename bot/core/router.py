"""Dispatch requests to handlers; the one place errors become localized replies; buttons kept server-side.

Every adapter turns a platform update into a `Request`, calls `Router.handle(request, markup)` and sends the
`Rendered` it gets back. A button on the wire carries only an opaque token; the router looks it up, checks
the presser is the user it was made for, and runs the action it stands for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.chain import ChainUnavailable
from bot.core.errors import UserError
from bot.core.messages import Msg, Rendered, Reply
from bot.core.request import Caller, Request
from bot.i18n import Catalogs
from bot.storage.repositories import Buttons, Users

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000
BUTTON_TTL_SECONDS = 24 * 3600

CommandFn = Callable[[Caller], Awaitable[Reply]]
ActionFn = Callable[[Caller, tuple[str, ...]], Awaitable[Reply]]


class Markup(Protocol):
    """How a platform shows text: escaping user-supplied text and applying a line style."""

    def escape(self, text: str) -> str: ...

    def style(self, kind: str, text: str) -> str: ...


@dataclass(frozen=True)
class Command:
    name: str
    run: CommandFn
    private_only: bool = False

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"


@dataclass(frozen=True)
class Outcome:
    """What an adapter sends: the rendered reply, and whether only the requester may see it (a refused
    press, or a private-only command answered in a shared channel where the platform allows that)."""

    rendered: Rendered
    locale: str
    ephemeral: bool = False


class Router:
    def __init__(self, users: Users, buttons: Buttons, catalogs: Catalogs) -> None:
        self.users = users
        self.buttons = buttons
        self.catalogs = catalogs
        self.commands: dict[str, Command] = {}
        self.actions: dict[str, ActionFn] = {}

    def command(self, name: str, run: CommandFn, *, private_only: bool = False) -> None:
        self.commands[name] = Command(name, run, private_only)

    def action(self, name: str, run: ActionFn) -> None:
        self.actions[name] = run

    async def handle(self, request: Request, markup: Markup) -> Outcome:
        """Answer one request; never raises: every failure becomes a localized reply."""
        locale = self.catalogs.negotiate(request.locale)
        pressed = request.button_token is not None
        refused = False
        private = request.is_private
        try:
            user = await self.users.seen(request.platform, request.user_id, request.display_name, request.locale or None)
            locale = user.locale or locale
            caller = Caller(request, user.id, locale)
            if request.button_token is not None:
                reply = await self._press(caller, request.button_token)
            else:
                command = self._find(caller)
                private = private or command.private_only  # answered where only the requester sees it
                reply = await command.run(caller)
            tokens = await self._issue(caller, reply)
        except UserError as err:
            reply, tokens, refused = Reply.of(err.msg), [], pressed  # refusals of a press go to the presser only
        except ChainUnavailable:
            log.warning("chain unavailable for %s", _describe(request))
            reply, tokens = Reply.of(Msg("error.chain.unavailable")), []
        except Exception:
            log.exception("request failed for %s", _describe(request))
            reply, tokens = Reply.of(Msg("error.internal")), []
        locale = reply.locale or locale
        rendered = self.catalogs.render(reply, locale, markup.escape, markup.style, tokens)
        return Outcome(rendered, locale, refused or (private and not request.is_private))

    async def _issue(self, caller: Caller, reply: Reply) -> list[str]:
        """Store the reply's buttons server-side; their opaque tokens in reading order."""
        specs = [(b.action, b.args) for row in reply.buttons for b in row]
        return await self.buttons.issue(caller.user_key, specs, BUTTON_TTL_SECONDS) if specs else []

    def _find(self, caller: Caller) -> Command:
        request = caller.request
        if request.text_length > MAX_MESSAGE_CHARS:
            raise UserError("error.message.too_long", limit=MAX_MESSAGE_CHARS)
        command = self.commands.get((request.command or "").lower())
        if command is None:
            raise UserError("error.command.unknown", command=(request.command or "")[:32])
        if command.private_only and not (request.is_private or request.private_reply):
            raise UserError("error.private_only")
        return command

    async def _press(self, caller: Caller, token: str) -> Reply:
        row = await self.buttons.get(token[:64])
        if row is None:
            raise UserError("error.button.expired")
        if row.user_id != caller.user_key:
            raise UserError("error.button.not_yours")
        if row.expires_at < time.time():
            raise UserError("error.button.expired")
        action = self.actions.get(row.action)
        if action is None:
            raise UserError("error.button.expired")
        return await action(caller, row.args)


def _describe(request: Request) -> str:
    what = f"/{request.command}" if request.command else "button"
    return f"{request.platform} user {request.user_id} chat {request.chat_id} {what}"
