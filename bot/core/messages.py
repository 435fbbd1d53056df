"""What the core says: catalog keys with typed parameters, never sentences.

Handlers return a `Reply` made of `Msg`s. Each platform adapter renders it: it translates the key in the
user's locale, formats the typed parameters (`Usd`, `Amount`, `Pct`, `Count`, `When`, `Day`) with that locale's conventions,
escapes user-supplied text for its markup, and lays out the buttons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Literal, Union


@dataclass(frozen=True)
class Usd:
    """A US-dollar value; rendered with the locale's currency format."""

    value: Decimal
    places: int = 2


@dataclass(frozen=True)
class Amount:
    """A token quantity; rendered with up to `places` fractional digits, trailing zeros dropped."""

    value: Decimal
    places: int = 6


@dataclass(frozen=True)
class Pct:
    """A ratio (0.012 = 1.2 %); `signed` shows + for positive values (premium / discount)."""

    value: Decimal
    places: int = 2
    signed: bool = False


@dataclass(frozen=True)
class When:
    """A moment (unix seconds), rendered as a date and time in the user's locale and an IANA time zone: `tz`
    when given, else the zone of whoever reads it (their /timezone, resolved when the reply is rendered)."""

    timestamp: int
    tz: str | None = None


@dataclass(frozen=True)
class Count:
    """A whole number of things ("3 groups"), written with the locale's digit grouping. An entry that names what
    is counted is a plural entry in the catalogs (msgid_plural) with a `{count}` placeholder: the `Count` given
    as `count` picks its form through the language's plural rule (one/few/many/other)."""

    n: int


@dataclass(frozen=True)
class Day:
    """A calendar day (no time), rendered as the locale's medium date (`Dec 4, 2026`, `2026年12月4日`)."""

    day: date


def reads_a_time(msgs: Sequence[Msg]) -> bool:
    """Whether rendering needs the reader's time zone (some `When` without its own zone, nested included)."""
    for msg in msgs:
        for value in msg.params.values():
            if isinstance(value, When) and value.tz is None:
                return True
            if isinstance(value, Msg) and reads_a_time([value]):
                return True
    return False


Param = Union[str, int, Decimal, Usd, Amount, Pct, When, Count, Day, "Msg"]
Style = Literal["text", "title", "code"]


@dataclass(frozen=True)
class Msg:
    """One catalog entry with named parameters. A `Msg` parameter is translated and inserted."""

    key: str
    params: Mapping[str, Param] = field(default_factory=dict)
    style: Style = "text"


@dataclass(frozen=True)
class Button:
    """A button as the core sees it: a label and the action (with arguments) it stands for.

    The adapter never puts `action` or `args` on the wire: the router stores them server-side and the
    platform only carries an opaque token (see bot.core.buttons). A button with a `url` (`Button.link`) acts on
    nothing: it opens one of the bot's own pages, and gets no token.
    """

    label: Msg
    action: str
    args: tuple[str, ...] = ()
    url: str = ""

    @classmethod
    def link(cls, label: Msg, url: str) -> Button:
        """A button that opens `url` (a connect or signing page); the platform decides how (bot.frontends.adapters)."""
        return cls(label, "", (), url)


@dataclass(frozen=True)
class Ask:
    """A question a reply asks: the user's next plain message in that chat (a Telegram reply, a Discord modal, the
    console's next line) goes to the prompt `prompt` (registered with `Router.prompt`) with `state`, the words the
    asking step kept. `field` names the value asked for (a catalog entry: a modal's label, a reply field's
    placeholder); `secret` ("pin"): the answer is deleted where the platform allows, whatever it says."""

    prompt: str
    state: tuple[str, ...] = ()
    field: Msg = field(default_factory=lambda: Msg("prompt.field.answer"))
    secret: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file a reply sends (a CSV export): its name and its bytes. Telegram sends a document, Discord an
    attachment, the console writes it and prints the path."""

    name: str
    content: bytes


@dataclass(frozen=True)
class Reply:
    lines: tuple[Msg, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    image: bytes | None = None
    file: Attachment | None = None
    private_only: bool = False
    edit: bool = False  # a button press edits the message it came from rather than sending a new one
    locale: str | None = None  # set by /lang so the confirmation is already in the new language
    delete_after: int | None = None  # seconds after which the adapter deletes this reply (an exported key)
    delete_request: bool = False  # the user's message carried a secret: the router had it deleted where the platform could
    ask: Ask | None = None  # the reply asks for a value: the next plain message answers it (bot.core.router)
    modal: bool = False  # show the question as a form now (Discord's Answer button: a modal)
    edit_only: bool = False  # an unprompted edit (an expired quote): dropped, never sent anew, if the message is gone
    public: bool = False  # shown to everyone in the chat even where the request was answered privately (a Share press)

    @classmethod
    def of(cls, *lines: Msg, **kw: object) -> Reply:
        return cls(lines=tuple(lines), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Shared:
    """A card offered for sharing in any chat (Telegram's inline mode): `id` names it among the offers, `title` and
    `about` describe it in the list, `lines` are the message it sends, `link` the button under that message.
    `image`: the card's picture at a public https URL (bot.card_links), sent as a photo with `lines` as its caption;
    None: the card is sent as text."""

    id: str
    title: Msg
    about: Msg
    lines: tuple[Msg, ...]
    link: Button
    image: str | None = None


@dataclass(frozen=True)
class Shares:
    """What an inline query offers: the cards, or (none matched) a hint of what to type, never an error."""

    cards: tuple[Shared, ...] = ()
    hint: Msg | None = None


def pressed(reply: Reply) -> list[tuple[str, tuple[str, ...]]]:
    """The (action, args) of the reply's buttons that act when pressed (not links), in reading order: what gets a
    server-side token."""
    return [(b.action, b.args) for row in reply.buttons for b in row if not b.url]


def in_form(reply: Reply, suffix: str, exists: Callable[[str], bool]) -> Reply:
    """`reply` with every entry (nested parameters included) that has a `<key><suffix>` form, e.g. the `.group`
    form of a hint said where others read it, replaced by that form; the rest unchanged."""

    def form(msg: Msg) -> Msg:
        params = {name: form(value) if isinstance(value, Msg) else value for name, value in msg.params.items()}
        key = msg.key + suffix if exists(msg.key + suffix) else msg.key
        return Msg(key, params, msg.style)

    return replace(reply, lines=tuple(form(m) for m in reply.lines))


@dataclass(frozen=True)
class RenderedButton:
    """A button ready for a platform: translated label and the opaque token its press carries, or the page it
    opens (`url`, no token)."""

    label: str
    token: str
    url: str = ""


@dataclass(frozen=True)
class RenderedAsk:
    """A question ready for a platform: the field's label in the user's language, and whether the answer is a
    secret (a PIN: never shown back, the message carrying it deleted)."""

    field: str
    secret: bool = False
    prompt: str = ""  # the registered question that takes the answer: a form names it, so only it takes what is sent


@dataclass(frozen=True)
class RenderedShare:
    """A shared card ready for a platform: the list's title and description, the message text in its markup (a
    photo's caption when there is an `image` URL), and the link button under it."""

    id: str
    title: str
    about: str
    text: str
    link: RenderedButton
    image: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A reply ready for a platform: text in its markup, button rows, optional image."""

    text: str
    buttons: tuple[tuple[RenderedButton, ...], ...] = ()
    image: bytes | None = None
    file: Attachment | None = None
    edit: bool = False
    delete_after: int | None = None
    delete_request: bool = False
    ask: RenderedAsk | None = None  # the reply waits for an answer (Telegram: ForceReply; Discord: an Answer button)
    modal: bool = False  # open the question as a form at once (Discord: the Answer button was pressed)
    edit_only: bool = False  # the edit of a message that may be gone: if it fails, nothing is sent instead
    public: bool = False  # for everyone in the chat (Discord: not ephemeral, whatever the pressed message was)
