"""A platform-neutral request: who asked, where, in which language, and what for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

Platform = Literal["console", "telegram", "discord"]
ChatType = Literal["private", "group", "channel"]


@dataclass(frozen=True)
class Standing:
    """What the platform says of a user in the community (group, server) a request came from."""

    admin: bool = False  # Telegram: an administrator or the creator of the group; Discord: Manage Server
    roles: frozenset[str] = frozenset()  # Discord role ids


StandingCheck = Callable[[], Awaitable[Standing]]  # asks the platform now; supplied by the adapter, never cached
Accepted = Callable[[], Awaitable[None]]  # tells the platform a press was taken (Telegram: answerCallbackQuery)
DeleteMessage = Callable[[], Awaitable[bool]]  # deletes the message a request came from: whether the platform did


@dataclass(frozen=True)
class PrivateLinks:
    """How a user in a group gets to their private chat with the bot (Telegram deep links): `open` opens it, `start`
    opens it and starts the bot, for a user the bot may not write to until they do. `refused`: what the group reads
    when the platform refused the private message (Telegram: start me first; Discord: your DMs are closed)."""

    open: str
    start: str
    refused: str = "private.start"


@dataclass(frozen=True)
class Request:
    platform: Platform
    user_id: str
    chat_id: str
    chat_type: ChatType
    locale: str  # what the platform says (Telegram language_code, Discord locale); the router resolves it
    command: str | None = None  # "quote" for /quote
    args: tuple[str, ...] = ()
    button_token: str | None = None  # an opaque id from a pressed button
    text_length: int = 0  # length of the raw message, so an oversized one is refused before parsing
    display_name: str = ""
    message_ref: str | None = None  # the platform's id of the message a button was pressed on (for edits)
    private_reply: bool = False  # the platform can answer so only the requester sees it (Discord ephemeral)
    dm_chat: str | None = None  # the user's private chat with the bot, when the platform can address it
    opens_dm: bool = False  # the bot may write to `dm_chat` unasked (Discord: a member of a server it shares)
    text: str | None = None  # the message as typed (a question's answer); None for a press or a slash command's form
    answer_button: bool = False  # a question is answered through a form its Answer button opens (Discord's modal)
    pin_pad: bool = False  # a PIN asked may be entered on the bot's PIN pad page inside the chat (Telegram's Mini App)
    page: str | None = None  # typed on the page made for the open question (a PIN pad): that page's link token
    form: str | None = None  # sent through the form of this question (its prompt's name): only that one takes `text`
    community: str | None = None  # the group (Telegram group chat id) or server (Discord guild id) it came from
    community_name: str | None = None  # that group's title or server's name, as the platform shows it
    # set where the adapter can answer in the user's private chat (`dm_chat`) what was asked in a group
    private_links: PrivateLinks | None = None
    standing: StandingCheck | None = field(default=None, compare=False, repr=False)  # the user's rights there
    # Called once a press passed the router's checks, before its action runs: a slow action (a trade) must not
    # keep the button spinning. A refusal found after it is then told by an edit, not as an alert.
    accepted: Accepted | None = field(default=None, compare=False, repr=False)
    # deletes the user's message (one that carried a secret); None where there is no message to delete (the
    # console, a Discord slash command, whose arguments nobody else sees)
    delete_message: DeleteMessage | None = field(default=None, compare=False, repr=False)

    @property
    def is_private(self) -> bool:
        return self.chat_type == "private"

    @property
    def private_chat(self) -> str | None:
        """Where only this user reads what the bot sends: this chat when it is private, else the user's private
        chat with the bot as the adapter knows it (`dm_chat`), None where a notice cannot reach one."""
        return self.chat_id if self.is_private else self.dm_chat

    @property
    def news_chat(self) -> str:
        """Where later news of what this request started goes (a trade's outcome after the inline wait, an order's
        fill), stored with it: this chat, or the user's private chat when this one is shared and the bot may write
        there unasked (a Discord server: its answers were ephemeral, which nothing can edit or add to later, and a
        user's trades are nobody else's business)."""
        if not self.is_private and self.opens_dm and self.dm_chat is not None:
            return self.dm_chat
        return self.chat_id

    @property
    def news_ref(self) -> str | None:
        """The message later news may edit: the one pressed, unless the news goes to another chat (`news_chat`)."""
        return self.message_ref if self.news_chat == self.chat_id else None


@dataclass(frozen=True)
class Caller:
    """The request after the router resolved the user's identity and language."""

    request: Request
    user_key: int  # the user's row id in storage
    locale: str  # a shipped locale, e.g. "en" or "zh_CN"


def split_command(text: str) -> tuple[str | None, tuple[str, ...]]:
    """`/quote@indexbot MAG7 100` -> ("quote", ("MAG7", "100")); text without a leading slash -> (None, words)."""
    words = tuple(text.split())
    if not words:
        return None, ()
    head = words[0]
    if not head.startswith("/") or len(head) == 1:
        return None, words
    return head[1:].split("@", 1)[0].lower(), words[1:]


def for_another_bot(text: str, me: str | None) -> bool:
    """Whether a command names another bot (`/quote@otherbot`, several bots share a chat): never answered, in
    groups and private chats alike. `me` is this bot's username (any case); a name it cannot be checked
    against (`me` unknown) is not ours either."""
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    if not head.startswith("/") or "@" not in head:
        return False
    named = head.split("@", 1)[1]
    return me is None or named.lower() != me.lower()
