"""The Telegram front end: python-telegram-bot inside the bot's own event loop, by long polling or by webhook.

Platform conversion only. An update becomes a `Request`, the router answers with an `Outcome`, and this
module turns that into Bot API calls: HTML text, an inline keyboard whose buttons carry only `b:<token>`,
an alert for presses that are refused, an edit or a new message otherwise. It adds no sentence of its own:
everything a user reads comes from the catalogs through the router.

The application is driven with `initialize()` / `start()` / `updater.start_polling()` (and the reverse on
stop) rather than `run_polling()`, so Telegram shares the running loop with Discord and the app. With a webhook
(telegram_webhook.py) the application is initialized and started the same way but never polls: updates come from
the web route, through jobs on PostgreSQL or its own queue on SQLite.

In a group, a personal command (wallet, positions, points, a trade's quote and progress) is answered in the user's
private chat and the group reads only that it was, with a link to that chat; a user who never started the bot
(Telegram refuses the message) gets the deep link `t.me/<bot>?start=private` in the group instead. The Bot API's
member-only messages in groups (10.2) are not in python-telegram-bot 22.8 (Bot API 10.0), so nothing personal is
shown in a group at all. The command menus leave moderators' commands out (`/announce`) but for group administrators
(`BotCommandScopeAllChatAdministrators`) and the configured moderators' private chats (`BotCommandScopeChat`).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar, cast

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeChat,
    CallbackQuery,
    Chat,
    ChatMember,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MenuButtonCommands,
    Message,
    ReplyParameters,
    Update,
    User,
    WebAppInfo,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, Defaults, ExtBot, InlineQueryHandler, MessageHandler, filters
from telegram.ext import Updater

from bot.frontends.adapters.split import TELEGRAM_MAX_CHARS, split_lines
from bot.frontends.adapters.telegram_limits import TelegramLimits, TelegramRateLimiter, retry_seconds
from bot.storage.send_pace import SendPace
from bot.frontends.adapters.telegram_updates import ChatOrderedUpdates, JournaledPolling, PressJournal
from bot.frontends.web.miniapp import miniapp_url
from bot.frontends.adapters.telegram_inline import answer_inline
from bot.frontends.adapters.telegram_webhook import ALLOWED_UPDATES, Webhook, WebhookUpdates
from bot.app import App
from bot.core.delivery import Delivery, Leaving, Withdrawn
from bot.core.expiry import Expiries
from bot.core.messages import Msg, Rendered, RenderedButton, Reply
from bot.core.request import ChatType, PrivateLinks, Request, Standing, for_another_bot, split_command
from bot.core.router import Aside, Outcome
from bot.i18n import DEFAULT_LOCALE, Catalogs

log = logging.getLogger(__name__)
# No link preview on any message: Telegram's preview fetcher would open a signing or connect link before the user
# does (and an explorer link's preview is noise). Applied as the bot's default, so no send can forget it.
NO_PREVIEWS = Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True))

CALLBACK_PREFIX = "b:"
MAX_CALLBACK_BYTES = 64  # Bot API limit on callback_data
ALERT_MAX_CHARS = 200  # Bot API limit on answerCallbackQuery text
CAPTION_MAX_CHARS = 1024  # Bot API limit on a photo caption
COMMAND_DESCRIPTION_MAX_CHARS = 256
POLL_TIMEOUT_SECONDS = 10  # long-polling timeout; stop() interrupts a pending poll, so this never delays shutdown
# Chats are handled concurrently, up to this many at once (one chat's updates in order: telegram_updates.py).
# A quote spends most of its time waiting on the RPC node and SQLite, so one-at-a-time (PTB's default) would
# leave the loop idle and make every user wait behind every other. The bound caps how many chain calls and DB
# writes a burst can put in flight at once.
CONCURRENT_UPDATES = 64
# Priorities in the rate limiter (bot/frontends/adapters/telegram_limits.py): replies to what a user just did go first.
REPLY, NOTICE, BULK = 0, 1, 2
RETRY_NETWORK_SECONDS = 5.0  # Telegram unreachable: the outbox tries a message again after this
CLOSED_REMEMBERED = 4096  # messages edited, with the buttons they show, remembered to ignore a double tap's second press
SENDS_AT_ONCE = 8  # outbox requests in flight: enough to use the overall allowance with loopback-to-WAN latency

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_TAG = re.compile(r"<[^>]+>")

T = TypeVar("T")


class TelegramMarkup:
    """Telegram HTML: user text is HTML-escaped; titles bold, code monospaced."""

    @staticmethod
    def escape(text: str) -> str:
        return html.escape(text)

    @staticmethod
    def style(kind: str, text: str) -> str:
        if kind == "title":
            return f"<b>{text}</b>"
        if kind == "code":
            return f"<code>{text}</code>"
        return text


MARKUP = TelegramMarkup()


def chat_type(telegram_type: str) -> ChatType:
    """Telegram's private / group / supergroup / channel, as the core's three kinds."""
    if telegram_type == Chat.PRIVATE:
        return "private"
    if telegram_type == Chat.CHANNEL:
        return "channel"
    return "group"


def button_token(data: str | None) -> str | None:
    """The token inside callback_data `b:<token>`, or None when the data is not something we sent.

    Callback data is chosen by the client, so it is checked for shape only; whether the token exists and
    belongs to the presser is the router's business.
    """
    if data is None or len(data.encode()) > MAX_CALLBACK_BYTES or not data.startswith(CALLBACK_PREFIX):
        return None
    token = data[len(CALLBACK_PREFIX) :]
    return token if _TOKEN_CHARS.fullmatch(token) else None


def keyboard(rendered: Rendered, chat_id: int | str) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard carrying only opaque tokens, and the links to the bot's pages."""
    rows = [
        [button for b in row if (button := _button(b, private=not str(chat_id).startswith("-"))) is not None]
        for row in rendered.buttons
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


def presses(rendered: Rendered) -> bool:
    """Whether the message has buttons that act when pressed (links to pages do not)."""
    return any(b.token for row in rendered.buttons for b in row)


def live_tokens(rendered: Rendered) -> frozenset[str]:
    """The tokens of the buttons a message shows after an edit: a press of any other is stale."""
    return frozenset(b.token for row in rendered.buttons for b in row if b.token)


def _button(b: RenderedButton, private: bool) -> InlineKeyboardButton | None:
    """A press button, or a link to one of the bot's pages (connect, sign). Telegram takes web_app buttons only for
    https URLs and only in private chats: there the page opens as a Mini App, Telegram signing who opened it
    (`?tg=1`: the page sends that sign-in data, checked by bot.frontends.web.miniapp). In a group an https page is a
    url button. Over plain http (a local bot) there is no button, as before: Telegram refuses buttons for addresses
    it cannot reach, and the message's text carries the link."""
    if not b.url:
        return InlineKeyboardButton(b.label, callback_data=CALLBACK_PREFIX + b.token)
    if not b.url.startswith("https://"):
        return None
    if private:
        return InlineKeyboardButton(b.label, web_app=WebAppInfo(miniapp_url(b.url)))
    return InlineKeyboardButton(b.label, url=b.url)


def plain_text(markup_text: str) -> str:
    """Rendered HTML as plain text (for alerts, which Telegram shows without formatting)."""
    return html.unescape(_TAG.sub("", markup_text))


def command_menus(catalogs: Catalogs) -> dict[str | None, str]:
    """Which shipped locale's command menu setMyCommands gets for each `language_code`: None (every language
    without its own menu) gets English, then one per language of the shipped locales.

    Telegram takes a bare two-letter ISO 639-1 code here, so locales of one language share one menu: zh_CN and
    zh_TW are both `zh`. That menu is the locale a bare `zh` negotiates to (CLDR's likely script: zh_CN, for
    Simplified); a zh_TW reader still gets every reply in zh_TW, only the / menu is in the other script.
    """
    menus: dict[str | None, str] = {None: DEFAULT_LOCALE}
    for language in sorted({catalogs.language(locale) for locale in catalogs.locales} - {catalogs.language(DEFAULT_LOCALE)}):
        menus[language] = catalogs.negotiate(language)
    return menus


class TelegramFrontend:
    """Telegram through python-telegram-bot, polling inside the caller's event loop."""

    name = "telegram"
    markup = MARKUP
    sends_at_once = SENDS_AT_ONCE

    def __init__(
        self, app: App, token: str, api_url: str | None = None, *, poll_interval: float = 0.0,
        concurrent_updates: int = CONCURRENT_UPDATES, limits: TelegramLimits | None = None,
        webhook: Webhook | None = None, polling: bool = True,
    ) -> None:
        """`webhook`: updates arrive by Telegram's posts (never polled); else `polling` says whether this process
        polls (the gateway role) or only sends."""
        self.app = app
        self.router = app.router
        self.poll_interval = poll_interval
        self.limits = limits or TelegramLimits()
        self.journal = PressJournal(app.db)
        self._replayed: set[int] = set()  # presses handled again from the journal at start-up
        self.polling = polling and webhook is None
        self.application = self._build(token, api_url, concurrent_updates)
        self.by_webhook = WebhookUpdates(webhook, self.application) if webhook is not None else None
        self.expiry = Expiries(app.services.deletions, self.name, self._delete_due)  # an exported key, even after a crash
        # messages a press's outcome edited, with the buttons it left there: a press of any other (a double tap's second,
        # fetched before the edit) is stale
        self._closed: OrderedDict[tuple[int, int], frozenset[str]] = OrderedDict()

    def _fleet_pace(self) -> SendPace | None:
        """On PostgreSQL, where processes of a fleet send side by side, Telegram's limits are kept across them all."""
        return SendPace(self.app.db) if self.app.db.dialect == "postgresql" else None

    def _build(self, token: str, api_url: str | None, concurrent_updates: int) -> Application:  # type: ignore[type-arg]
        updates = ChatOrderedUpdates(concurrent_updates, finished=self._finished)
        builder = (Application.builder().token(token).concurrent_updates(updates).job_queue(None)
                   .rate_limiter(TelegramRateLimiter(self.limits, fleet=self._fleet_pace())))
        if api_url:
            base = api_url.rstrip("/")
            builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
        builder = builder.defaults(NO_PREVIEWS)  # every sendMessage and editMessageText: see NO_PREVIEWS
        application = builder.build()
        commands = list(self.router.commands)
        new_messages = filters.UpdateType.MESSAGE
        application.add_handler(CommandHandler(commands, self._on_message, filters=new_messages))
        application.add_handler(MessageHandler(filters.TEXT & filters.ChatType.PRIVATE & new_messages, self._on_message))
        replies = filters.TEXT & ~filters.COMMAND & filters.REPLY & filters.ChatType.GROUPS & new_messages
        application.add_handler(MessageHandler(replies, self._on_reply))  # an answer to a question asked in a group
        application.add_handler(CallbackQueryHandler(self._on_press))
        application.add_handler(InlineQueryHandler(self._on_inline))  # `@bot mag7` in any chat (telegram_inline)
        application.add_error_handler(self._on_error)
        polling = JournaledPolling(application.bot, self.journal, self._replayed)  # presses stored as fetched
        application.updater = Updater(cast(Bot, polling), application.update_queue)
        return application

    async def _finished(self, update: object) -> None:
        """An update the application's own queue finished: a polled press forgotten, a stored update marked handled."""
        await self.journal.forget(update)
        if self.by_webhook is not None:
            await self.by_webhook.finished(update)

    @property
    def bot(self) -> ExtBot[Any]:
        bot: ExtBot[Any] = self.application.bot
        return bot

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (getMe), publish the localized command menus, and begin long polling, or take updates by webhook."""
        await self.application.initialize()
        await self.expiry.resume()  # what fell due while the bot was down goes now
        name = self.bot.username  # known since getMe: the /invite deep link, and no /name may look like it
        self.app.front_ends.attach("telegram", bot_name=name, invite_link=f"https://t.me/{name}?start=ref_{{code}}" if name else None,
                                   standing_of=self.standing_of,  # a scheduled group announcement re-checks its author
                                   answer_from_page=self.answer_from_page)  # a PIN typed on the PIN pad Mini App
        await self._publish_commands()
        # the persistent menu button beside the text field lists the commands, /start (the home screen) first
        await self._safely("setChatMenuButton", partial(self.bot.set_chat_menu_button, menu_button=MenuButtonCommands()))
        await self.application.start()
        await self._resume_presses()
        if self.by_webhook is not None:
            await self.by_webhook.resume()
            await self.by_webhook.serve()
            return
        if not self.polling:
            log.info("telegram: connected as @%s, not polling (no gateway role)", self.bot.username)
            return
        assert self.application.updater is not None
        await self.application.updater.start_polling(
            poll_interval=self.poll_interval,
            timeout=POLL_TIMEOUT_SECONDS,
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info("telegram: polling as @%s", self.bot.username)

    async def _resume_presses(self) -> None:
        """Handle the presses a previous run fetched and did not finish (killed meanwhile): answered now."""
        for body in await self.journal.unfinished():
            update = Update.de_json(body, self.bot)
            self._replayed.add(update.update_id)
            await self.application.update_queue.put(update)
        if self._replayed:
            log.info("telegram: handling %d presses fetched before the restart", len(self._replayed))

    async def stop(self) -> None:
        """Stop polling (or serving the webhook), let running handlers finish, delete now what was due for deletion,
        close the client."""
        if self.by_webhook is not None:
            self.by_webhook.stop_serving()  # Telegram's next post goes to another process (or comes back later)
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.expiry.stop()  # early rather than never: a key must not outlive us
        await self.application.shutdown()

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        """Send an unprompted message, or edit `edit_ref`; the id of the message shown, None when refused."""
        return (await self.post(chat_id, rendered, edit_ref)).ref

    async def post(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None, *, bulk: bool = False,
                   leaving: Leaving | None = None) -> Delivery:
        """What the outbox calls: send (or edit `edit_ref`) and say how it went. `bulk` sends yield to everything
        else in the rate limiter; Telegram's flood-control waits are honoured there, before this returns.
        `leaving` is awaited once, when the rate limiter lets the first request go (False: nothing is sent)."""
        once = _once(leaving)
        limit = self._limit(BULK if bulk else NOTICE, once)
        try:
            if limit is None and not await once():  # no rate limiter: the request leaves now
                return Delivery("withdrawn")
            if edit_ref is not None and rendered.image is None and len(rendered.text) <= TELEGRAM_MAX_CHARS:
                try:
                    await self.bot.edit_message_text(
                        rendered.text, chat_id=chat_id, message_id=int(edit_ref), parse_mode=ParseMode.HTML,
                        reply_markup=keyboard(rendered, chat_id), rate_limit_args=limit,
                    )
                    if chat_id.lstrip("-").isdigit():  # edited since: the buttons shown now are these
                        self._remember_shown((int(chat_id), int(edit_ref)), rendered)
                    return Delivery.sent(edit_ref)
                except BadRequest as err:
                    if "not modified" in err.message:
                        return Delivery.sent(edit_ref)
                    if rendered.edit_only:  # the message was deleted, or is too old: nothing to show instead
                        log.info("telegram: cannot edit %s in %s (%s); dropped", edit_ref, chat_id, err.message)
                        return Delivery("failed", error=err.message)
                    log.info("telegram: cannot edit %s in %s (%s); sending anew", edit_ref, chat_id, err.message)
                except Forbidden as err:
                    if not rendered.edit_only:
                        raise
                    return Delivery("failed", error=err.message)  # an edit only: the chat is not marked blocked for it
            sent = await self._post_now(chat_id, rendered, limit)
            return Delivery.sent(str(sent.message_id))
        except Forbidden as err:
            log.info("telegram: %s blocked the bot or left: %s", chat_id, err.message)
            return Delivery("blocked", error=err.message)
        except RetryAfter as err:
            return Delivery("retry", retry_after=retry_seconds(err), error="flood control")
        except TimedOut as err:  # the request may have arrived: never sent again
            return Delivery("unknown", error=str(err))
        except NetworkError as err:  # BadRequest and friends are NetworkErrors too
            if isinstance(err, BadRequest):
                gone = "chat not found" in err.message.lower()
                return Delivery("blocked" if gone else "failed", error=err.message)
            return Delivery("retry", retry_after=RETRY_NETWORK_SECONDS, error=str(err))
        except TelegramError as err:
            return Delivery("failed", error=str(err))
        except Withdrawn:
            return Delivery("withdrawn")

    def _limit(self, priority: int, leaving: Leaving) -> dict[str, Any] | None:
        """`rate_limit_args` for one request: its priority in the rate limiter and what to do as it leaves (None
        without a rate limiter)."""
        return {"priority": priority, "leaving": leaving} if self.bot.rate_limiter is not None else None

    async def _post_now(self, chat_id: str, rendered: Rendered, limit: dict[str, Any] | None) -> Message:
        """One new message (a photo with caption when the reply has an image), errors raised."""
        markup = keyboard(rendered, chat_id)
        if rendered.image is not None and len(rendered.text) <= CAPTION_MAX_CHARS:
            return await self.bot.send_photo(chat_id, rendered.image, caption=rendered.text, parse_mode=ParseMode.HTML,
                                             reply_markup=markup, rate_limit_args=limit)
        if rendered.image is not None:
            await self.bot.send_photo(chat_id, rendered.image, rate_limit_args=limit)
        *head, last = split_lines(rendered.text, TELEGRAM_MAX_CHARS)
        for text in head:  # a long answer: the buttons ride on its last piece
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, rate_limit_args=limit)
        return await self.bot.send_message(chat_id, last, parse_mode=ParseMode.HTML, reply_markup=markup, rate_limit_args=limit)

    async def _publish_commands(self) -> None:
        """One setMyCommands per language of the shipped locales (see `command_menus`) and scope, so Telegram's
        command menu is in the user's language; moderators' commands only in the menus of group administrators and of
        the configured moderators' private chats."""
        catalogs = self.app.services.catalogs
        moderators = sorted(self.app.services.announcements.config.telegram_moderators)
        everyone = [cmd for cmd in self.router.commands.values() if not cmd.moderator]
        scopes: list[tuple[BotCommandScope | None, list[Any]]] = [(None, everyone)]
        if len(everyone) < len(self.router.commands):  # moderators' commands: in their menus only
            scopes.append((BotCommandScopeAllChatAdministrators(), list(self.router.commands.values())))
            scopes += [(BotCommandScopeChat(int(m)), list(self.router.commands.values())) for m in moderators]
        for language, locale in command_menus(catalogs).items():
            for scope, shown in scopes:
                commands = [BotCommand(cmd.name, catalogs.text(cmd.description_key, locale)[:COMMAND_DESCRIPTION_MAX_CHARS])
                            for cmd in shown]
                await self._safely("setMyCommands", partial(self.bot.set_my_commands, commands, scope=scope, language_code=language))

    # -- updates ---------------------------------------------------------------------------------------

    async def _on_message(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A command (any chat) or plain text (private chats only, answered as an unknown command)."""
        message, user = update.message, update.effective_user
        if message is None or user is None or message.text is None:
            return
        if for_another_bot(message.text, self.bot.username):  # `/quote@otherbot`: not ours, private chats too
            return
        command, args = split_command(message.text)
        request = self._request(user, message.chat, command=command, args=args, text_length=len(message.text),
                                text=message.text, delete_message=partial(self._deleted, message.chat_id, message.message_id))
        outcome = await self.router.handle(request, MARKUP)  # it deletes a message carrying a secret and says how that went
        private = message.chat.type == Chat.PRIVATE
        reply_to = None if private or outcome.rendered.delete_request else message.message_id
        if outcome.aside is not None:
            told = await self._privately(outcome, outcome.aside)
            await self._send(message.chat_id, told, reply_to=reply_to)
            if told is outcome.aside.sent:  # a question asked with the private answer is answered there
                await self._ask(int(outcome.aside.chat), outcome.rendered, None)
            return
        shown = await self._send(message.chat_id, outcome.rendered, reply_to=reply_to)
        await self._shown(message.chat_id, shown, outcome, edited=False)
        await self._ask(message.chat_id, outcome.rendered, None if private else message.message_id)

    async def answer_from_page(self, request: Request) -> Outcome:
        """A question answered on its page (the PIN pad Mini App): `request` is the message the user would have typed in
        their private chat; answered and told there as that message would be (same prompt, same PIN checks), nothing
        said when the question was gone."""
        outcome = await self.router.handle(request, MARKUP)
        if not outcome.unasked:
            await self._send(request.chat_id, outcome.rendered)
            await self._ask(int(request.chat_id), outcome.rendered, None)
        return outcome

    async def _on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A reply in a group to one of the bot's messages (a question's ForceReply): the router tells whether it
        answers a question of its writer's; other replies in groups are none of the bot's business."""
        message = update.message
        replied = message.reply_to_message if message is not None else None
        if replied is None or replied.from_user is None or replied.from_user.id != self.bot.id:
            return
        await self._on_message(update, context)

    async def _ask(self, chat_id: int, rendered: Rendered, reply_to: int | None, mention: int | None = None) -> None:
        """A question's field as a ForceReply, selective: in a group only the asked user (whose message it replies
        to, or, after a press, whom the field's text mentions) gets the reply box; the question and its buttons went
        in the message before."""
        if rendered.ask is None:
            return
        field = rendered.ask.field
        shown = f'<a href="tg://user?id={mention}">{html.escape(field)}</a>' if mention is not None else html.escape(field)
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to is not None else None
        force = ForceReply(selective=True, input_field_placeholder=field[:64])
        await self._safely("sendMessage", lambda: self.bot.send_message(
            chat_id, shown, parse_mode=ParseMode.HTML, reply_markup=force, reply_parameters=reply))

    async def _privately(self, outcome: Outcome, aside: Aside) -> Rendered:
        """Send a personal answer asked for in a group to the user's private chat; what the group then reads: that it
        went, or (Telegram refused: the user never started the bot, or blocked it) the link that starts it."""
        try:
            sent = await self._post_now(aside.chat, outcome.rendered, None)
        except Forbidden as err:
            log.info("telegram: cannot write to %s privately: %s", aside.chat, err.message)
            return aside.start
        except TelegramError as err:
            log.warning("telegram: a private answer to %s failed: %s", aside.chat, err)
            return aside.start
        if outcome.rendered.delete_after is not None:
            await self.expiry.after(aside.chat, str(sent.message_id), outcome.rendered.delete_after)
        await self._shown(aside.chat, str(sent.message_id), outcome, edited=False)
        return aside.sent

    async def _on_press(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: answered as soon as the router accepts it, before its action runs (a trade); a refusal
        found before that is an alert to the presser only, one found after is an edit. An outcome the edit cannot
        show goes as a new message through the outbox."""
        query = update.callback_query
        if query is None:
            return
        message = query.message
        chat = message.chat if message is not None else None
        token = button_token(query.data)
        # A malformed token is looked up as "" and so refused by the router like any unknown one.
        ref = str(message.message_id) if message is not None else None
        pressed_on = (message.chat.id, message.message_id) if message is not None else None
        if pressed_on is not None and pressed_on in self._closed and token not in self._closed[pressed_on]:  # a second tap fetched before the first
            # one's outcome replaced the buttons (took them away, or left only Home)
            await self._answer(query, None)
            return
        answered = False

        async def accepted() -> None:  # the press passed the router's checks: stop the spinner before the work
            nonlocal answered
            answered = True
            await self._answer(query, None)

        request = self._request(query.from_user, chat, button_token=token or "", message_ref=ref, accepted=accepted)
        outcome = await self.router.handle(request, MARKUP)
        if outcome.ephemeral or chat is None:
            if not answered:
                await self._answer(query, outcome.rendered if outcome.ephemeral else None)
            return
        if not answered:
            await self._answer(query, None)
        if outcome.rendered.edit and isinstance(message, Message) and outcome.rendered.image is None:
            if not await self._edit_shown(message, outcome.rendered):
                await self._tell_later(chat.id, outcome)
            else:
                await self._shown(chat.id, ref, outcome, edited=True)
                if pressed_on is not None:
                    self._remember_shown(pressed_on, outcome.rendered)
        else:
            await self._shown(chat.id, await self._send(chat.id, outcome.rendered), outcome, edited=False)
        await self._ask(chat.id, outcome.rendered, None, None if chat.type == Chat.PRIVATE else query.from_user.id)

    def _remember_shown(self, message: tuple[int, int], rendered: Rendered) -> None:
        """`message` was edited to `rendered`: presses of buttons it no longer shows are stale from now on."""
        self._closed[message] = live_tokens(rendered)
        self._closed.move_to_end(message)
        if len(self._closed) > CLOSED_REMEMBERED:
            self._closed.popitem(last=False)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything that escaped the router: logged, never re-raised into the polling loop, and answered with
        the catalog's generic "something went wrong, nothing was changed" so the user is not left waiting."""
        log.error("telegram: update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        catalogs = self.app.services.catalogs
        locale = catalogs.negotiate(user.language_code if user is not None else None)
        rendered = catalogs.render(Reply.of(Msg("error.internal")), locale, MARKUP.escape, MARKUP.style)
        if update.callback_query is not None:
            await self._answer(update.callback_query, rendered)
        else:  # only updates a handler accepted get here: commands, and text in private chats
            await self._send(update.effective_chat.id, rendered)

    async def _on_inline(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline query: the asker's share cards (bot.frontends.adapters.telegram_inline)."""
        query = update.inline_query
        if query is not None:
            await answer_inline(self.router, MARKUP, self._request(query.from_user, None), query.id, query.query,
                                self.bot.answer_inline_query)

    def _request(self, user: User, chat: Chat | None, **what: Any) -> Request:
        """The platform-neutral request for an update from `user` in `chat` (their private chat if none)."""
        group = chat is not None and chat.type in (Chat.GROUP, Chat.SUPERGROUP)
        name = self.bot.username if group else None  # known since getMe (initialize)
        links = PrivateLinks(f"https://t.me/{name}", f"https://t.me/{name}?start=private") if name else None
        return Request(
            platform="telegram",
            user_id=str(user.id),
            chat_id=str(chat.id if chat is not None else user.id),
            chat_type=chat_type(chat.type) if chat is not None else "private",
            locale=user.language_code or "",
            display_name=user.full_name,
            dm_chat=str(user.id),  # a user's private chat with a bot has the user's id
            community=str(chat.id) if group and chat is not None else None,
            community_name=chat.title if group and chat is not None else None,
            standing=partial(self._standing, chat.id, user.id) if group and chat is not None else None,
            private_links=links,
            pin_pad=chat is None or chat.type == Chat.PRIVATE,  # Telegram opens a Mini App in a private chat only
            **what,
        )

    async def standing_of(self, community: str, user_id: str) -> Standing | None:
        """A user's standing in a group asked of Telegram now, outside any update; None when it did not answer."""
        member = await self._safely("getChatMember", lambda: self.bot.get_chat_member(int(community), int(user_id)))
        return None if member is None else Standing(admin=member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER))

    async def _standing(self, chat_id: int, user_id: int) -> Standing:
        """Whether the user administers the group, asked of Telegram now (getChatMember); unknown means no."""
        member = await self._safely("getChatMember", lambda: self.bot.get_chat_member(chat_id, user_id))
        return Standing(admin=member is not None and member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER))

    # -- sending ---------------------------------------------------------------------------------------

    async def _answer(self, query: CallbackQuery, refusal: Rendered | None) -> None:
        """Stop the button's spinner; a refusal is shown as an alert, in plain text."""
        if refusal is None:
            await self._safely("answerCallbackQuery", lambda: query.answer())
            return
        text = plain_text(refusal.text)[:ALERT_MAX_CHARS]
        await self._safely("answerCallbackQuery", lambda: query.answer(text, show_alert=True))

    async def _send(self, chat_id: int | str, rendered: Rendered, *, reply_to: int | None = None) -> str | None:
        """A new message in `chat_id` (a photo with caption when the reply has an image); its id, or None."""
        sent = await self._post(chat_id, rendered, reply_to)
        if sent is None:
            return None
        if rendered.delete_after is not None:
            await self.expiry.after(str(chat_id), str(sent.message_id), rendered.delete_after)
        return str(sent.message_id)

    async def _delete_due(self, chat_id: str, message_id: str) -> bool | None:
        return await self._delete(chat_id, int(message_id))

    async def _deleted(self, chat_id: int | str, message_id: int) -> bool:
        """Delete a user's message (one carrying a secret): whether it is gone."""
        return await self._delete(chat_id, message_id) is True

    async def _delete(self, chat_id: int | str, message_id: int) -> bool | None:
        """Delete one message: True when deleted, False when Telegram refuses (the bot is no admin of the group,
        the message is older than 48 hours or gone already), None when Telegram could not be asked."""
        try:
            try:
                return await self.bot.delete_message(chat_id, message_id)
            except RetryAfter as err:
                await asyncio.sleep(retry_seconds(err))
                return await self.bot.delete_message(chat_id, message_id)
        except (BadRequest, Forbidden) as err:
            log.info("telegram: cannot delete message %s in %s: %s", message_id, chat_id, err.message)
            return False
        except TelegramError as err:
            log.warning("telegram: deleteMessage failed: %s", err)
            return None

    async def _post(self, chat_id: int | str, rendered: Rendered, reply_to: int | None) -> Message | None:
        markup = keyboard(rendered, chat_id)
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to is not None else None
        if (file := rendered.file) is not None and len(rendered.text) <= CAPTION_MAX_CHARS:  # a file: its text the caption
            return await self._safely(
                "sendDocument",
                lambda: self.bot.send_document(chat_id, file.content, filename=file.name, caption=rendered.text,
                                               parse_mode=ParseMode.HTML, reply_markup=markup, reply_parameters=reply),
            )
        if (image := rendered.image) is not None:
            caption = rendered.text if len(rendered.text) <= CAPTION_MAX_CHARS else None
            photo = await self._safely(
                "sendPhoto",
                lambda: self.bot.send_photo(
                    chat_id, image, caption=caption, parse_mode=ParseMode.HTML,
                    reply_markup=markup if caption is not None else None, reply_parameters=reply,
                ),
            )
            if caption is not None:
                return photo
        *head, last = split_lines(rendered.text, TELEGRAM_MAX_CHARS)
        for text in head:  # a long answer: the first piece answers the message, the buttons ride on the last
            await self._safely("sendMessage", partial(self.bot.send_message, chat_id, text, parse_mode=ParseMode.HTML, reply_parameters=reply))
            reply = None
        return await self._safely(
            "sendMessage",
            lambda: self.bot.send_message(chat_id, last, parse_mode=ParseMode.HTML, reply_markup=markup, reply_parameters=reply),
        )

    async def _edit_shown(self, message: Message, rendered: Rendered) -> bool:
        """Edit the pressed message; whether the user sees `rendered` now (False: the edit failed, e.g. the
        message was deleted or Telegram answered 5xx). A blocked chat counts as shown: nothing could be. A long
        answer's first piece replaces the message and the rest follow as new messages, the buttons on the last."""
        first, *rest = split_lines(rendered.text, TELEGRAM_MAX_CHARS)
        try:
            await self.bot.edit_message_text(first, chat_id=message.chat_id, message_id=message.message_id,
                                             parse_mode=ParseMode.HTML, reply_markup=None if rest else keyboard(rendered, message.chat_id))
            if rest:
                await self._post(message.chat_id, replace(rendered, text="\n".join(rest)), None)
            return True
        except Forbidden as err:
            log.info("telegram: editMessageText refused: %s", err.message)
            return True
        except BadRequest as err:
            if "not modified" in err.message:
                return True
            log.info("telegram: cannot edit %s in %s (%s)", message.message_id, message.chat_id, err.message)
        except TelegramError as err:
            log.warning("telegram: editMessageText failed: %s", err)
        return False

    async def _shown(self, chat_id: int | str, ref: str | None, outcome: Outcome, edited: bool) -> None:
        """Tell the expiring quotes which message shows this outcome (a quote is edited at its expiry)."""
        await self.app.services.quotes.shown(self.name, str(chat_id), ref, outcome.reply, edited)

    async def _tell_later(self, chat_id: int, outcome: Outcome) -> None:
        """An outcome the edit could not show (a trade's result): a new message through the outbox, which stores
        it before sending and retries what Telegram refuses for now, as for every unprompted message."""
        if outcome.reply is None:
            await self._send(chat_id, outcome.rendered)
            return
        queued = await self.app.outbox.tell_instead("telegram", str(chat_id), outcome.reply, outcome.user_key)
        log.info("telegram: the outcome for chat %s goes as a new message (outbox %s)", chat_id, queued)

    async def _safely(self, method: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Run one Bot API call; honour one flood-control wait, log every other Telegram error."""
        try:
            try:
                return await call()
            except RetryAfter as err:
                wait = retry_seconds(err)
                log.warning("telegram: %s rate-limited, retrying in %.0fs", method, wait)
                await asyncio.sleep(wait)
                return await call()
        except Forbidden as err:
            log.info("telegram: %s refused: %s", method, err.message)
        except BadRequest as err:
            if "not modified" in err.message:
                log.debug("telegram: %s: message not modified", method)
            else:
                log.warning("telegram: %s failed: %s", method, err.message)
        except TelegramError as err:
            log.warning("telegram: %s failed: %s", method, err)
        return None


def _once(leaving: Leaving | None) -> Leaving:
    """`leaving` for the first request of a delivery only (an edit that falls back to a new message, a photo sent
    before its text: the message left with the first)."""
    called = False

    async def first() -> bool:
        nonlocal called
        if called or leaving is None:
            return True
        called = True
        return await leaving()

    return first
