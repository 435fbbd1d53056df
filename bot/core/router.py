"""Dispatch requests to handlers; the one place errors become localized replies; buttons kept server-side.

Every adapter turns a platform update into a `Request`, calls `Router.handle(request, markup)` and sends the
`Rendered` it gets back. A button on the wire carries only an opaque token; the router looks it up, checks
the presser is the user it was made for, and runs the action it stands for.

Personal answers asked for where others read (a group) stay the user's: answered so only they see it where the
platform can (`Request.private_reply`, a Discord ephemeral reply), else, where the adapter can reach the user's
private chat (`Request.private_links`, Telegram), answered there while the group is told where to look
(`Outcome.aside`). While a user types an argument, `Router.suggest` offers what features registered for it
(`Router.suggestion`): index symbols, the user's holdings, "all" (Discord's autocomplete asks it).

A reply may ask for the next value (`Reply.ask`): the question is stored (bot.storage.prompts, one per user and
chat, with a time-out) and the user's next plain message in that chat answers it, through the prompt registered
under the question's name, before anything else a plain message might mean. A command typed instead wins and
ends the question; Cancel ends it; an answer the prompt refuses is said and the question asked again.

Where the platform has one (`Request.pin_pad`: Telegram's Mini App in a private chat), a question for a PIN also gets
an Enter PIN button opening the PIN pad page made for that question (`pin_pad`: its address for a fresh link token,
kept hashed with the question). The page's answer comes back as the plain message the user would have typed, naming
the page (`Request.page`): it answers that question only, and nothing else once the question is gone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.chain.client import ChainUnavailable
from bot.core.errors import UserError
from bot.core.messages import (Ask, Button, Count, Msg, Rendered, RenderedButton, RenderedShare, Reply, Shares, in_form, pressed,
                               reads_a_time)
from bot.core.reverts import explain, revert_of
from bot.core.request import Caller, DeleteMessage, Request
from bot.core.secrets import bare, shape_of
from bot.i18n import Catalogs
from bot.metrics import BUTTON, HANDLING_SECONDS, OTHER, UPDATE_ERRORS, UPDATES
from bot.storage.prompts import PromptRow, PromptRows
from bot.storage.repositories import ButtonRows, UserRows

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000
BUTTON_TTL_SECONDS = 24 * 3600
PROMPT_SECONDS = 300  # how long a question waits for its answer, unless the router is told otherwise
PROMPT_CANCEL, PROMPT_ANSWER = "prompt.cancel", "prompt.answer"  # the router's own buttons under a question
GROUP_FORM = ".group"  # the suffix of a catalog entry's form for chats others read (bot.core.messages.in_form)

CommandFn = Callable[[Caller], Awaitable[Reply]]
ActionFn = Callable[[Caller, tuple[str, ...]], Awaitable[Reply]]
SecretOf = Callable[[tuple[str, ...]], str | None]  # which secret ("key", "pin") these arguments carry, if any
ZoneOf = Callable[[int], Awaitable[str]]  # a user's IANA time zone (their /timezone, else UTC)
Watcher = Callable[[Caller], Awaitable[None]]  # told of every request once its user is known
MAX_SUGGESTIONS = 25  # what a platform shows at most as a user types (Discord's autocomplete: 25)


@dataclass(frozen=True)
class Suggestion:
    """A value a user may mean for an argument they are typing, and how to show it (the value itself if no label)."""

    value: str
    label: Msg | None = None


# (the caller, whose request's `args` hold what is typed so far in its other arguments, "" where none; the typed
# text of the argument asked about) -> what to offer, best first
SuggestFn = Callable[[Caller, str], Awaitable[Sequence[Suggestion]]]
ShareFn = Callable[[Caller, str], Awaitable[Shares]]
AnswerFn = Callable[[Caller, str, tuple[str, ...]], Awaitable[Reply]]  # (caller, the answer typed, the question's state)
AskFn = Callable[[Caller, tuple[str, ...]], Awaitable[Reply]]  # the question again, from its state
PinPad = Callable[[str], str]  # the address of the PIN pad page for a question's link token


async def _utc(user_id: int) -> str:
    return "UTC"


class Markup(Protocol):
    """How a platform shows text: escaping user-supplied text and applying a line style."""

    def escape(self, text: str) -> str: ...

    def style(self, kind: str, text: str) -> str: ...


@dataclass(frozen=True)
class Command:
    name: str
    run: CommandFn
    private_only: bool = False
    secret: SecretOf | None = None
    personal: bool = False  # about the user's own money or account: hidden from others where the platform can
    moderator: bool = False  # for moderators: offered only to them where the platform can, answered to them alone

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"

    @property
    def hidden(self) -> bool:
        """Answered so only the requester sees it where the platform can (a Discord ephemeral reply)."""
        return self.personal or self.moderator


@dataclass(frozen=True)
class Action:
    run: ActionFn
    private_only: bool = False
    personal: bool = False


@dataclass(frozen=True)
class Prompt:
    """A question's two halves: `answer` takes the user's answer; `again` asks the question anew (after an answer
    it refused, whose reason is said first)."""

    answer: AnswerFn
    again: AskFn
    shown: AskFn | None = None  # the question as asked from its state, where `again` asks something else (its page)


@dataclass(frozen=True)
class Outcome:
    """What an adapter sends: the rendered reply, and whether only the requester may see it (a refused
    press, or a private-only command answered in a shared channel where the platform allows that)."""

    rendered: Rendered
    locale: str
    ephemeral: bool = False
    reply: Reply | None = None  # what was rendered, for an adapter that must show it later (bot/delivery/outbox)
    user_key: int | None = None  # the requester's row id, when known
    aside: Aside | None = None  # `rendered` goes to the requester's private chat; the chat asked in is told
    unasked: bool = False  # plain text that answered no open question (an adapter may leave chatter unanswered)


@dataclass(frozen=True)
class Aside:
    """A personal answer asked for in a group, sent to the requester's private chat instead (`chat`): what the group
    then reads, once it went (`sent`), or when the platform refused it (`start`: the user never started the bot there,
    with the link that starts it; on Discord, their DMs are closed)."""

    chat: str
    sent: Rendered
    start: Rendered


class Router:
    def __init__(self, users: UserRows, buttons: ButtonRows, catalogs: Catalogs, zones: ZoneOf = _utc,
                 clock: Callable[[], float] = time.time, prompts: PromptRows | None = None,
                 prompt_seconds: int = PROMPT_SECONDS, pin_pad: PinPad | None = None) -> None:
        self.users = users
        self.pin_pad = pin_pad  # where a PIN asked may be entered on a page (bot.frontends.web.pin), if anywhere
        self.questions = prompts or PromptRows(buttons.db, clock)  # the open questions (bot.storage.prompts)
        self.prompt_seconds = prompt_seconds
        self.clock = clock  # a pressed button's expiry is read against it
        self.buttons = buttons
        self.catalogs = catalogs
        self.zones = zones
        self.commands: dict[str, Command] = {}
        self.actions: dict[str, Action] = {}
        self.sub_commands: dict[tuple[str, str], ActionFn] = {}  # (command, first word) -> run(caller, the rest)
        self.watchers: list[Watcher] = []
        self.suggestions: dict[tuple[str, int], SuggestFn] = {}  # (command, argument's position) -> what to offer
        self.sharer: ShareFn | None = None  # what a query typed after the bot's name offers (Telegram's inline mode)
        self.prompts: dict[str, Prompt] = {}
        self.action(PROMPT_CANCEL, self._cancel)
        self.action(PROMPT_ANSWER, self._form)
        self.plain: Command | None = None  # what answers a plain message that is no command (the home screen)
        self.remedies: dict[str, tuple[Button, ...]] = {}  # a refusal's key -> the buttons that put it right

    def command(self, name: str, run: CommandFn, *, private_only: bool = False, secret: SecretOf | None = None,
                personal: bool = False, moderator: bool = False) -> None:
        """Register a command. `private_only`: answered only where nobody else can read the answer (a private
        chat, or an ephemeral reply where the platform has one). `secret`: tells which secret the arguments may
        carry (keys and recovery phrases are also recognized by shape in any message); such a message is
        deleted where the platform allows, whatever the outcome, and the reply says whether it was, and that
        the secret must be considered seen when others could read it. `personal`: the user's own balances,
        quotes, points; answered so only they see it where the platform allows (a Discord ephemeral reply), else
        in their private chat where the adapter can reach it (a Telegram group is told where to look).
        `moderator`: for moderators (who may use it is the feature's check): platforms offer it to moderators only
        (Discord's default permissions, Telegram's administrators' command menu) and answer it to them alone."""
        self.commands[name] = Command(name, run, private_only, secret, personal, moderator)

    def plain_text(self, run: CommandFn) -> None:
        """Register what answers a plain message that is no command (Telegram text in a private chat): a message
        that carries a secret is never answered by it. A feature that waits for the user's next message (a
        prompt) takes the message before this."""
        self.plain = Command("", run)

    def action(self, name: str, run: ActionFn, *, private_only: bool = False, personal: bool = False) -> None:
        self.actions[name] = Action(run, private_only, personal)

    def remedy(self, key: str, *buttons: Button) -> None:
        """Offer `buttons` under every refusal `key` (UserError), registered by the feature that puts it right:
        "your wallet has no PIN yet" gets Choose a PIN from the PIN feature, wherever the refusal comes from."""
        self.remedies[key] = buttons

    def sub_command(self, command: str, word: str, run: ActionFn) -> None:
        """Register `/<command> <word> ...` (e.g. `/boost add 5`, registered by the staking feature): run with the
        words after `word`, under the command's own rules (private, personal, secret). The command's own handler
        answers whatever first word no feature registered."""
        self.sub_commands[(command, word.lower())] = run

    def suggestion(self, command: str, position: int, run: SuggestFn) -> None:
        """Offer `run`'s suggestions while a user types the argument at `position` (0: the first) of `/<command>`."""
        self.suggestions[(command, position)] = run

    def suggests(self, command: str, position: int) -> bool:
        return (command, position) in self.suggestions

    async def suggest(self, request: Request, position: int, typed: str) -> list[tuple[str, str]]:
        """What to offer for the argument at `position` of `request.command` as `typed` so far: (label in the user's
        language, value) pairs, those matching what is typed, at most `MAX_SUGGESTIONS`. Never raises: a failure
        offers nothing (the user can still type)."""
        run = self.suggestions.get(((request.command or "").lower(), position))
        if run is None:
            return []
        try:
            user = await self.users.seen(request.platform, request.user_id, request.display_name, request.locale or None)
            caller = Caller(request, user.id, user.locale or self.catalogs.negotiate(request.locale))
            offered = await run(caller, typed.strip())
        except UserError:  # e.g. no wallet yet: nothing of theirs to offer
            return []
        except Exception:  # noqa: BLE001 - a suggestion is a convenience, never an error shown to the user
            log.exception("suggestions failed for %s", _describe(request))
            return []
        wanted = typed.strip().lower()
        found: list[tuple[str, str]] = []
        for item in offered:
            label = self.catalogs.render_msg(item.label, caller.locale, str) if item.label is not None else item.value
            if wanted in item.value.lower() or wanted in label.lower():
                found.append((label, item.value))
        return found[:MAX_SUGGESTIONS]

    def shares(self, run: ShareFn) -> None:
        """Offer `run`'s cards for a query typed after the bot's name in any chat (`@bot mag7`)."""
        self.sharer = run

    async def share(self, request: Request, typed: str, markup: Markup) -> tuple[list[RenderedShare], str | None]:
        """The cards a query offers, rendered for the platform, or (none) the hint in the user's language. Never
        raises: a failure offers nothing with the hint (an inline query has no message to answer with)."""
        user = await self.users.seen(request.platform, request.user_id, request.display_name, request.locale or None)
        locale = user.locale or self.catalogs.negotiate(request.locale)
        shares = Shares()
        if self.sharer is not None:
            try:
                shares = await self.sharer(Caller(request, user.id, locale), typed.strip())
            except UserError as err:
                shares = Shares(hint=Msg(err.key, err.params))
            except Exception:  # noqa: BLE001 - logged; the user sees the hint, never a stack
                log.exception("inline query failed for %s", _describe(request))
        say = self.catalogs.render_msg
        rendered = [RenderedShare(card.id, say(card.title, locale, str), say(card.about, locale, str),
                                  "\n".join(markup.style(m.style, say(m, locale, markup.escape)) for m in card.lines),
                                  RenderedButton(say(card.link.label, locale, str), "", card.link.url), card.image)
                    for card in shares.cards]
        hint = say(shares.hint, locale, str) if shares.hint is not None and not rendered else None
        return rendered, hint

    def prompt(self, name: str, answer: AnswerFn, again: AskFn, *, shown: AskFn | None = None) -> None:
        """Register the question `name` (`Ask(name, state)` in a reply asks it): `answer(caller, text, state)` takes
        the user's next plain message in that chat; `again(caller, state)` asks it anew after `answer` refused one
        with a `UserError`, whose reason is said first. The question stays open until answered, cancelled, ended by
        a command, or timed out (`prompt_seconds`). `shown(caller, state)`: the question as it was asked, for its page
        (a PIN pad), when `again` asks something else after a refusal; `again` otherwise."""
        self.prompts[name] = Prompt(answer, again, shown)

    def watch(self, watcher: Watcher) -> None:
        """Tell `watcher` of every request (command or press) once its user is known, before it is answered
        (e.g. who uses the bot in which group); a failing watcher is logged and never changes the answer."""
        self.watchers.append(watcher)

    async def _tell_watchers(self, caller: Caller) -> None:
        for watcher in self.watchers:
            try:
                await watcher(caller)
            except Exception:  # noqa: BLE001 - bookkeeping must not cost the user their answer
                log.exception("watcher %s failed for %s", getattr(watcher, "__qualname__", watcher), _describe(caller.request))

    async def handle(self, request: Request, markup: Markup) -> Outcome:
        """Answer one request; never raises: every failure becomes a localized reply."""
        started = time.perf_counter()
        locale = self.catalogs.negotiate(request.locale)
        pressed = request.button_token is not None
        refused = private = accepted = False
        kind = self._secret(request)  # known before any refusal: a message carrying a secret goes whatever the answer
        plain = self._plain(request)  # no command: it may answer the question the user was asked here
        held = plain and kind == "pin"  # a lone PIN, or an amount of 1000? the open question, if any, tells
        deletion = _start(request.delete_message) if kind is not None and not held else None  # at once, meanwhile
        user_key: int | None = None
        caller: Caller | None = None
        aside = False  # a personal answer moved to the requester's private chat (`Aside`)
        unasked = False
        try:
            dm_chat = request.chat_id if request.is_private else None  # where their alerts go from now on
            reach = request.dm_chat if request.opens_dm else None  # else where, until they write privately
            user = await self.users.seen(request.platform, request.user_id, request.display_name, request.locale or None, dm_chat,
                                         reach)
            locale, user_key = user.locale or locale, user.id
            caller = Caller(request, user.id, locale)
            await self._tell_watchers(caller)
            if request.button_token is not None:
                action, args = await self._find_press(caller, request.button_token)
                private = self._allowed(request, action.private_only) or action.personal and request.private_reply
                if request.accepted is not None:
                    await request.accepted()
                    accepted = True
                reply = await action.run(caller, args)
            elif plain and (asked := await self.questions.take(user.id, request.chat_id, page=request.page, prompt=request.form)) is not None:
                held, kind = False, asked.secret or shape_of(request.args)
                if kind is not None:  # a PIN asked for: its message goes, whatever it holds
                    deletion = _start(request.delete_message)
                private = request.private_reply  # an answer is the asker's business: theirs alone where it can be
                reply = await self._answer(caller, asked, request.text or "")
            elif request.page is not None or request.form is not None:  # the page's or form's question was answered,
                private = request.private_reply  # cancelled or asked anew meanwhile
                unasked = request.page is not None
                raise UserError("prompt.closed")
            else:
                unasked = plain
                if held:
                    held, deletion = False, _start(request.delete_message)
                command = self._find(caller)
                aside = self._aside(request, command, kind)
                if aside:  # answered as though asked in the private chat, where it goes
                    caller = Caller(_in_private(request), user.id, locale)
                private = self._allowed(caller.request, command.private_only) or command.hidden and request.private_reply
                sub = self.sub_commands.get((command.name, request.args[0].lower())) if request.args else None
                ended = await self.questions.end(user.id, request.chat_id)  # a command typed instead wins
                reply = await (sub(caller, request.args[1:]) if sub is not None else command.run(caller))
                if ended:
                    reply = replace(reply, lines=(Msg("prompt.ended"), *reply.lines))
            reply, page = self._with_prompt_buttons(request, reply)
            tokens = await self._issue(caller, reply)
            await self._ask(caller, reply, page)
        except UserError as err:
            reply, tokens, refused = Reply.of(err.msg), [], pressed and not accepted  # to the presser only
            if (remedy := self.remedies.get(err.key)) and caller is not None:
                try:
                    tokens = await self._issue(caller, with_remedy := replace(reply, buttons=(remedy,)))
                    reply = with_remedy
                except Exception:  # noqa: BLE001 - the refusal is said without its buttons
                    log.exception("remedy buttons for %s failed", err.key)
            aside = aside and err.key != "error.command.unknown"
            if accepted:  # the press was answered already: the refusal replaces the message it was made on
                reply = replace(reply, edit=True)
            if kind is not None and err.key == "error.command.unknown":  # what was typed is never echoed
                reply = Reply.of(Msg("secret.bare"))
        except ChainUnavailable:
            log.warning("chain unavailable for %s", _describe(request))
            UPDATE_ERRORS.labels(platform=request.platform, kind="chain_unavailable").inc()
            reply, tokens = Reply.of(Msg("error.chain.unavailable")), []
        except Exception as exc:
            revert = revert_of(exc)
            if revert is not None:  # a contract said no where no feature expected it: say what it said, in words
                log.warning("contract refused %s: %s %s", _describe(request), revert.message, revert.data[:74])
                UPDATE_ERRORS.labels(platform=request.platform, kind="contract").inc()
                reply, tokens = Reply.of(Msg("error.contract.refused", {"reason": explain(revert)})), []
            else:
                log.exception("request failed for %s", _describe(request))
                UPDATE_ERRORS.labels(platform=request.platform, kind="internal").inc()
                reply, tokens = Reply.of(Msg("error.internal")), []
        if held:  # refused before the question was looked up: a lone PIN is one
            deletion = _start(request.delete_message)
        if kind is not None:
            reply = await self._remove(request, kind, reply, deletion)
        if not request.is_private and not aside:  # read by others: a hint's group form (never "/wallet import <private key>")
            reply = in_form(reply, GROUP_FORM, self.catalogs.has)
        locale = reply.locale or locale
        zone = await self._zone(user_key, reply)
        rendered = self.catalogs.render(reply, locale, markup.escape, markup.style, tokens, zone)
        self._count(request, time.perf_counter() - started)
        told = self._told(request, locale, markup) if aside else None
        hidden = refused or (private and not request.is_private and not aside)
        return Outcome(rendered, locale, hidden, reply, user_key, told, unasked)

    @staticmethod
    def _aside(request: Request, command: Command, kind: str | None) -> bool:
        """Whether a personal answer asked for in a group goes to the requester's private chat instead: where the
        platform has no answer only they see but the adapter can reach their private chat. Never a message that
        carried a secret (it is refused there as ever: a PIN typed in a group is spent)."""
        return (request.private_links is not None and not request.is_private and not request.private_reply
                and kind is None and (command.personal or command.private_only))

    def _told(self, request: Request, locale: str, markup: Markup) -> Aside:
        """What the group reads of an answer sent privately: that it went (with the link to the private chat), or
        the link that starts the bot when the user never did."""
        links = request.private_links
        assert links is not None and request.dm_chat is not None
        name = request.display_name or request.user_id

        def told(key: str, link: str) -> Rendered:
            return self.catalogs.render(Reply.of(Msg(key, {"name": name, "link": link})), locale, markup.escape, markup.style)

        return Aside(request.dm_chat, told("private.sent", links.open), told(links.refused, links.start))

    def _count(self, request: Request, seconds: float) -> None:
        """An update answered, and how long it took, by platform and registered command (never what was typed)."""
        command = self.commands.get((request.command or "").lower())
        label = BUTTON if request.button_token is not None else command.name if command is not None else OTHER
        UPDATES.labels(platform=request.platform).inc()
        HANDLING_SECONDS.labels(platform=request.platform, command=label).observe(seconds)

    def _plain(self, request: Request) -> bool:
        """Whether a message is plain text, no command (the console's first word may be no command either): the
        answer to a question, if one is open."""
        if request.button_token is not None or request.text is None or request.text.startswith("/"):
            return False
        return (request.command or "").lower() not in self.commands

    async def _answer(self, caller: Caller, asked: PromptRow, text: str) -> Reply:
        """The open question's answer: taken by its prompt; a refused answer is said and the question asked again."""
        prompt = self.prompts.get(asked.prompt)
        if prompt is None or asked.expires_at < self.clock():
            raise UserError("prompt.expired", count=Count(max(1, self.prompt_seconds // 60)))
        try:
            return await prompt.answer(caller, text.strip(), asked.state)
        except UserError as err:
            again = await prompt.again(caller, asked.state)
            return replace(again, lines=(err.msg, *again.lines), edit=False)

    def _with_prompt_buttons(self, request: Request, reply: Reply) -> tuple[Reply, str | None]:
        """A question gets its Cancel button, an Answer button where the platform answers by a form (Discord), and a
        question for a PIN the Enter PIN button where the platform has the PIN pad; that page's link token, if any."""
        if reply.ask is None or reply.modal:
            return reply, None
        answer = (Button(Msg("button.answer"), PROMPT_ANSWER),) if request.answer_button else ()
        page = None
        if reply.ask.secret == "pin" and request.pin_pad and request.is_private and self.pin_pad is not None:
            page = secrets.token_urlsafe(32)
            answer = (Button.link(Msg("button.pin_pad"), self.pin_pad(page)), *answer)
        return replace(reply, buttons=(*reply.buttons, (*answer, Button(Msg("button.cancel"), PROMPT_CANCEL)))), page

    async def _ask(self, caller: Caller, reply: Reply, page: str | None = None) -> None:
        """Store the question a reply asks: the user's next plain message in this chat answers it (or its page)."""
        ask = reply.ask
        if ask is None or reply.modal:
            return
        if ask.prompt not in self.prompts:
            raise RuntimeError(f"no prompt registered as {ask.prompt!r}")
        await self.questions.open(caller.user_key, caller.request.chat_id, ask.prompt, ask.state, ask.field.key,
                                  ask.secret, self.prompt_seconds, page)

    async def on_page(self, page: str) -> PromptRow | None:
        """The open question the page with link token `page` was made for (a PIN pad), left open; None once it is
        answered, ended or replaced."""
        return await self.questions.on_page(page)

    def still_open(self, asked: PromptRow | None) -> PromptRow:
        """`asked` while it may still be answered; UserError when it is gone or timed out (nothing changed)."""
        if asked is None or asked.prompt not in self.prompts:
            raise UserError("prompt.closed")
        if asked.expires_at < self.clock():
            raise UserError("prompt.expired", count=Count(max(1, self.prompt_seconds // 60)))
        return asked

    async def restate(self, caller: Caller, asked: PromptRow) -> Reply:
        """What the question said when it was asked (a withdrawal's summary, /pin's step), for its page: asked anew
        from its state, nothing stored."""
        prompt = self.prompts[self.still_open(asked).prompt]
        return await (prompt.shown or prompt.again)(caller, asked.state)

    async def _cancel(self, caller: Caller, _: tuple[str, ...]) -> Reply:
        """Cancel under a question: it is closed, nothing was changed."""
        if not await self.questions.end(caller.user_key, caller.request.chat_id):
            raise UserError("prompt.closed")
        return Reply.of(Msg("prompt.cancelled"), edit=True)

    async def _form(self, caller: Caller, _: tuple[str, ...]) -> Reply:
        """Answer under a question (Discord): the question as a form; it stays open until the form is sent."""
        asked = await self.questions.peek(caller.user_key, caller.request.chat_id)
        if asked is None:
            raise UserError("prompt.closed")
        if asked.expires_at < self.clock():
            raise UserError("prompt.expired", count=Count(max(1, self.prompt_seconds // 60)))
        field = Msg(asked.field)
        return Reply.of(field, ask=Ask(asked.prompt, asked.state, field, asked.secret), modal=True)

    def _secret(self, request: Request) -> str | None:
        """The secret a message carries: what its command says of its arguments, else a key or recovery phrase
        by shape; a message that is no known command (text in a private chat) may also be a lone PIN."""
        if request.button_token is not None:
            return None
        command = self.commands.get((request.command or "").lower())
        if command is None:
            return bare((request.command, *request.args) if request.command else request.args)
        return (command.secret(request.args) if command.secret else None) or shape_of(request.args)

    @staticmethod
    async def _remove(request: Request, kind: str, reply: Reply, deletion: asyncio.Task[bool] | None) -> Reply:
        """Say first in the reply whether the message that carried a secret is gone (where the platform has one to
        delete), and that the secret must be considered seen when others could read it."""
        lines = []
        secret = Msg(f"secret.noun.{kind}")
        if deletion is not None:
            try:
                deleted = await deletion
            except Exception:  # noqa: BLE001 - the answer must still say the message is there
                log.exception("deleting the message of %s failed", _describe(request))
                deleted = False
            lines.append(Msg("secret.deleted" if deleted else "secret.kept", {"secret": secret}))
        if not (request.is_private or request.private_reply):  # typed where others can read it
            lines.append(Msg(f"secret.public.{kind}"))
        return replace(reply, lines=(*lines, *reply.lines), delete_request=True)

    async def _zone(self, user_key: int | None, reply: Reply) -> str:
        """The reader's time zone, looked up only when the reply shows a time in it."""
        if user_key is None or not reads_a_time(reply.lines):
            return "UTC"
        try:
            return await self.zones(user_key)
        except Exception:  # noqa: BLE001 - a time in UTC beats no answer
            log.exception("time zone lookup failed for user %s", user_key)
            return "UTC"

    @staticmethod
    def _allowed(request: Request, private_only: bool) -> bool:
        """Whether the answer must be private; refuses a private-only request where it cannot be."""
        if not private_only:
            return False
        if not (request.is_private or request.private_reply):
            raise UserError("error.private_only")
        return True

    async def _issue(self, caller: Caller, reply: Reply) -> list[str]:
        """Store the reply's buttons server-side; their opaque tokens in reading order."""
        specs = pressed(reply)
        return await self.buttons.issue(caller.user_key, specs, BUTTON_TTL_SECONDS) if specs else []

    def _find(self, caller: Caller) -> Command:
        request = caller.request
        if request.text_length > MAX_MESSAGE_CHARS:
            raise UserError("error.message.too_long", count=Count(MAX_MESSAGE_CHARS))
        command = self.commands.get((request.command or "").lower())
        if command is None:
            if self._plain(request) and not request.is_private:  # a reply in a group, to a question for another
                raise UserError("prompt.not_yours")
            if request.command is None and request.is_private and self.plain is not None and self._secret(request) is None:
                return self.plain
            raise UserError("error.command.unknown", command=(request.command or "")[:32])
        return command

    async def _find_press(self, caller: Caller, token: str) -> tuple[Action, tuple[str, ...]]:
        row = await self.buttons.get(token[:64])
        if row is None or row.expires_at < self.clock():
            raise UserError("error.button.expired")
        if row.user_id != caller.user_key:
            raise UserError("error.button.not_yours")
        action = self.actions.get(row.action)
        if action is None:
            raise UserError("error.button.expired")
        return action, row.args


def _in_private(request: Request) -> Request:
    """`request` as though it came from the user's private chat with the bot, where its answer goes."""
    assert request.dm_chat is not None
    return replace(request, chat_id=request.dm_chat, chat_type="private", community=None, community_name=None,
                   standing=None, private_links=None, message_ref=None)


def _start(delete: DeleteMessage | None) -> asyncio.Task[bool] | None:
    """Start deleting the user's message now, if the platform has one to delete."""
    return asyncio.ensure_future(delete()) if delete is not None else None


def _describe(request: Request) -> str:
    what = f"/{request.command}" if request.command else "button"
    return f"{request.platform} user {request.user_id} chat {request.chat_id} {what}"
