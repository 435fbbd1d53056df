"""Discord's view of the router's commands: slash-command shapes, localized descriptions, button ids.

Nothing here knows what a command does. The router owns the commands; this module only says how each one
is typed into Discord's slash-command UI (which options, in which order, with which choices) and whether the
adapter should defer before calling the router because the handler may read the chain. A router command
without an entry still gets a slash command, with one free-text `args` option split on whitespace, so a new
feature works on Discord without touching this file.

It also turns what Discord delivers (an interaction, or a `!`-prefixed message) into the core's `Request`.

Descriptions come from the catalogs: commands use `cmd.<name>`, options `param.<command>.<option>`; a
`discord.app_commands.Translator` backed by the catalogs localizes them for each Discord locale.
"""

from __future__ import annotations

import inspect
import re
import unicodedata
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol

import discord
from discord import app_commands

from bot.core.request import Request, Standing, StandingCheck, for_another_bot, split_command
from bot.i18n import DEFAULT_LOCALE, Catalogs
from bot.storage.outbox import KIND_SWITCHES

if TYPE_CHECKING:
    from bot.app import App

TOKEN_TEMPLATE = r"b:(?P<token>[A-Za-z0-9_-]{1,64})"
_TOKEN = re.compile(TOKEN_TEMPLATE)
MAX_DESCRIPTION = 100  # Discord's limit for command and option descriptions
MAX_LABEL = 80  # Discord's limit for a button label
MAX_NAME = 32  # Discord's limit for command and option names
MAX_CHOICES = 25  # Discord's limit of choices per option (and of options per command)
MAX_CHOICE = 100  # Discord's limit for a choice's name and a string choice's value
MAX_COMMAND_CHARS = 4000  # Discord's limit on a command's names, descriptions and values together, per locale
NO_DESCRIPTION = "…"  # discord.py's own placeholder when a catalog has no entry for an option

ChoiceSource = Callable[["App"], Sequence[tuple[str, str]]]  # (shown name, value) pairs
SlashRun = Callable[[discord.Interaction[Any], str, tuple[str, ...]], Awaitable[None]]


def index_choices(app: App) -> Sequence[tuple[str, str]]:
    return [(ref.symbol, ref.symbol) for ref in app.services.profile.indexes]


def tradable_choices(app: App) -> Sequence[tuple[str, str]]:
    """Every index on every loaded chain, with its chain's name (MAG7.ssi on Base, MAG7.nex on Ethereum)."""
    services = app.services
    return [(f"{ref.symbol} · {services.chain_of(ref).chain_label}", ref.symbol) for ref in services.all_indexes]


def chain_choices(app: App) -> Sequence[tuple[str, str]]:
    """Every loaded chain by its label (Base, Ethereum)."""
    services = app.services
    return [(label, label.lower()) for label in dict.fromkeys(p.chain_label for p in (services.profile, *services.companions))]


def unit_choices(app: App) -> Sequence[tuple[str, str]]:
    return [("usdc", "usdc"), ("tokens", "tokens")]


def wallet_actions(app: App) -> Sequence[tuple[str, str]]:
    return [(a, a) for a in ("new", "import", "export", "remove")]


def staked_choices(app: App) -> Sequence[tuple[str, str]]:
    """Indexes with a staking token."""
    return [(ref.symbol, ref.symbol) for ref in app.services.profile.indexes if ref.staking is not None]


def claim_choices(app: App) -> Sequence[tuple[str, str]]:
    """What can be claimed after a cooldown: staked indexes, and SOSO (boost)."""
    soso = app.services.profile.soso
    return [*staked_choices(app), *([(soso.symbol, soso.symbol)] if soso is not None else [])]


def limit_sides(app: App) -> Sequence[tuple[str, str]]:
    return [("buy", "buy"), ("sell", "sell")]


def limits_actions(app: App) -> Sequence[tuple[str, str]]:
    return [("cancel", "cancel")]


def boost_actions(app: App) -> Sequence[tuple[str, str]]:
    return [(a, a) for a in ("add", "remove")]


def dca_cadences(app: App) -> Sequence[tuple[str, str]]:
    return [("daily", "daily"), ("weekly", "weekly")]


def alert_settings(app: App) -> Sequence[tuple[str, str]]:
    """Every kind /alerts switches, then quiet hours and the digest time; "digest" is both a kind and the time
    setting, so it is offered once (Discord refuses a command whose choices repeat)."""
    return [(name, name) for name in dict.fromkeys((*KIND_SWITCHES, "quiet", "digest"))]


def points_views(app: App) -> Sequence[tuple[str, str]]:
    return [("chart", "chart")]


def indexes_views(app: App) -> Sequence[tuple[str, str]]:
    return [("sources", "sources")]


def chart_periods(app: App) -> Sequence[tuple[str, str]]:
    return [(v, v) for v in ("7d", "30d", "90d", "weights")]


def alert_conditions(app: App) -> Sequence[tuple[str, str]]:
    return [(c, c) for c in ("above", "below", "premium")]


def language_choices(app: App) -> Sequence[tuple[str, str]]:
    catalogs = app.services.catalogs
    return [*((catalogs.language_name(code), code) for code in catalogs.locales), ("auto", "auto")]


@dataclass(frozen=True)
class Option:
    """One slash-command option; its value becomes the next word of `Request.args`."""

    name: str
    required: bool = False
    choices: ChoiceSource | None = None
    words: bool = False  # the rest of the line as typed (`100 at 98 1w PIN`): its words become the next args


@dataclass(frozen=True)
class Slash:
    """How one router command is typed on Discord; `defer` when its handler may wait on the chain."""

    options: tuple[Option, ...] = ()
    defer: bool = False


SLASH: Mapping[str, Slash] = {
    "start": Slash((Option("code"),)),
    "indexes": Slash((Option("index", choices=index_choices), Option("view", choices=indexes_views)), defer=True),
    "reserves": Slash((Option("index", True, index_choices),), defer=True),
    "chart": Slash((Option("index", True, index_choices), Option("period", choices=chart_periods)), defer=True),
    "quote": Slash((Option("index", True, tradable_choices), Option("amount"), Option("unit", choices=unit_choices)), defer=True),
    "lang": Slash((Option("code", choices=language_choices),)),
    "help": Slash(),
    "buy": Slash((Option("index", True, tradable_choices), Option("amount", True)), defer=True),
    "sell": Slash((Option("index", True, tradable_choices), Option("amount", True)), defer=True),
    "orders": Slash(defer=True),
    "slippage": Slash((Option("percent"),)),
    "presets": Slash((Option("amounts"),)),  # "25 50 100 250" as typed; the handler splits it
    "wallet": Slash((Option("action", choices=wallet_actions), Option("value")), defer=True),
    "pin": Slash((Option("pin"), Option("new_pin"))),  # none: asked step by step, the PINs in a modal
    "withdraw": Slash((Option("asset"), Option("amount"), Option("address"), Option("pin"),  # none: asked step by step
                       Option("chain", choices=chain_choices)), defer=True),
    "faucet": Slash(defer=True),
    "connect": Slash(),
    "disconnect": Slash(),
    "positions": Slash(defer=True),
    "pnl": Slash((Option("index", choices=index_choices),), defer=True),
    "limit": Slash((Option("side", True, limit_sides), Option("index", True, index_choices), Option("order", True, words=True)),
                   defer=True),
    "stop": Slash((Option("index", True, index_choices), Option("order", True, words=True)), defer=True),
    "takeprofit": Slash((Option("index", True, index_choices), Option("order", True, words=True)), defer=True),
    "limits": Slash((Option("action", choices=limits_actions), Option("id")), defer=True),
    "history": Slash((Option("page"),), defer=True),  # a page number or "csv"
    "boost": Slash((Option("action", choices=boost_actions), Option("amount")), defer=True),
    "timezone": Slash((Option("zone"),)),
    "alert": Slash((Option("index"), Option("condition", choices=alert_conditions), Option("value")), defer=True),
    "stake": Slash((Option("asset", True, staked_choices), Option("amount", True)), defer=True),
    "unstake": Slash((Option("asset", True, staked_choices), Option("amount", True)), defer=True),
    "claim": Slash((Option("asset", True, claim_choices), Option("amount")), defer=True),
    "alerts": Slash((Option("setting", choices=alert_settings), Option("value"))),
    "dca": Slash((Option("index"), Option("amount"), Option("cadence", choices=dca_cadences), Option("time"), Option("pin")), defer=True),
    "points": Slash((Option("view", choices=points_views),), defer=True),
    "leaderboard": Slash(),
    "name": Slash((Option("name"),)),
    "invite": Slash(),
    "referrals": Slash(),
    "announce": Slash((Option("text"),)),  # the rest of `/announce ...` as typed; the handler splits it
}
FREE_TEXT = Slash((Option("args"),), defer=True)  # a router command this table does not know yet


def slash_for(name: str) -> Slash:
    return SLASH.get(name, FREE_TEXT)


def ordered_args(name: str, values: Mapping[str, str | None]) -> tuple[str, ...]:
    """Option values in declared order; a skipped option before a given one becomes "" for the core to refuse."""
    slash = slash_for(name)
    if slash is FREE_TEXT:
        return tuple((values.get("args") or "").split())
    words = [values.get(option.name) for option in slash.options]
    while words and words[-1] is None:
        words.pop()
    split = (option.words for option in slash.options)
    return tuple(word for w, many in zip(words, split) for word in ((w or "").split() if many else (w if w is not None else "",)))


def _described(catalogs: Catalogs, key: str) -> app_commands.locale_str:
    """A description whose default is the English catalog entry and whose `key` the translator looks up."""
    english = catalogs.entries.get(DEFAULT_LOCALE, {}).get(key, NO_DESCRIPTION)
    return app_commands.locale_str(english[:MAX_DESCRIPTION], key=key)


def _signature(options: Sequence[Option]) -> inspect.Signature:
    first = inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)
    rest = [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
        if o.required
        else inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=None)
        for o in options
    ]
    return inspect.Signature([first, *rest])


# Any user may install the app and use it wherever they are (their DMs, a server that never added it, group DMs);
# a server may add it too. Moderators' commands act on a server, so only a server's install offers them.
EVERYWHERE = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
ANY_INSTALL = app_commands.AppInstallationType(guild=True, user=True)
SERVER_INSTALL = app_commands.AppInstallationType(guild=True, user=False)
# Who sees a moderator's command in a server unless its admins choose otherwise (Server Settings → Integrations):
# members with Manage Server, the right the router's moderator checks accept (bot.delivery.announce.rights).
MODERATORS = discord.Permissions(manage_guild=True)


def build_command(app: App, name: str, run: SlashRun) -> app_commands.Command[Any, ..., None]:
    """One slash command for router command `name`; its callback hands `run` the ordered option values. An option
    the router has suggestions for (`Router.suggest`) is autocompleted from them; others offer their fixed choices.
    A moderator's command is shown to members with Manage Server only."""
    slash = slash_for(name)
    catalogs = app.services.catalogs
    router = app.router

    async def callback(interaction: discord.Interaction[Any], **values: str | None) -> None:
        await run(interaction, name, ordered_args(name, values))

    callback.__signature__ = _signature(slash.options)  # type: ignore[attr-defined]
    if slash.options:
        app_commands.describe(**{o.name: _described(catalogs, f"param.{name}.{o.name}") for o in slash.options})(callback)
    suggested = {o.name: position for position, o in enumerate(slash.options) if router.suggests(name, position)}
    choices = {
        o.name: [app_commands.Choice(name=shown[:MAX_DESCRIPTION], value=value) for shown, value in o.choices(app)][:25]
        for o in slash.options
        if o.choices is not None and o.name not in suggested
    }
    if choices:
        app_commands.choices(**choices)(callback)
    if suggested:
        app_commands.autocomplete(**{option: _suggest(app, name, position) for option, position in suggested.items()})(callback)
    command = router.commands.get(name)
    moderator = command is not None and command.moderator
    made: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=name, description=_described(catalogs, f"cmd.{name}"), callback=callback, allowed_contexts=EVERYWHERE,
        allowed_installs=SERVER_INSTALL if moderator else ANY_INSTALL)
    if moderator:
        made.default_permissions = MODERATORS
    return made


Autocomplete = Callable[[discord.Interaction[Any], str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


def _suggest(app: App, name: str, position: int) -> Autocomplete:
    """Discord's autocomplete for the option at `position` of `/name`: the router's suggestions for what is typed,
    with the values of the command's other options as typed so far."""
    async def complete(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        namespace = interaction.namespace
        values = {o.name: _typed(getattr(namespace, o.name, None)) for o in slash_for(name).options}
        request = Ask.of(interaction, name, ordered_args(name, values)).request()
        found = await app.router.suggest(request, position, current)
        return [app_commands.Choice(name=label[:MAX_CHOICE] or value[:MAX_CHOICE], value=value[:MAX_CHOICE])
                for label, value in found[:MAX_CHOICES]]

    return complete


def _typed(value: object) -> str | None:
    return None if value is None else str(value)


def _name_ok(name: str) -> bool:
    """Discord's `^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where a letter has a lowercase."""
    def allowed(char: str) -> bool:
        return (char in "-_'" or unicodedata.category(char)[0] in "LN"
                or unicodedata.name(char, "").startswith(("DEVANAGARI", "THAI")))

    return 1 <= len(name) <= MAX_NAME and name == name.lower() and all(allowed(c) for c in name)


def _unique(where: str, what: str, values: Sequence[object]) -> list[str]:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    return [f"{where}: {what} {v!r} appears more than once" for v in repeated]


def _texts(where: str, what: str, default: object, localized: object, limit: int, *, name: bool) -> list[str]:
    """Problems of one name or description, in its default language and in every localization."""
    found: list[str] = []
    versions = {"default": default, **(localized if isinstance(localized, dict) else {})}
    for locale, text in versions.items():
        label = f"{where}: {what} ({locale}) {text!r}"
        if not isinstance(text, str) or not 1 <= len(text) <= limit:
            found.append(f"{label} must be 1 to {limit} characters")
        elif name and not _name_ok(text):
            found.append(f"{label} is not a valid Discord name (lowercase letters, digits, - _ ')")
    return found


def _size(command: Mapping[str, Any], locale: str) -> int:
    """Characters Discord counts against `MAX_COMMAND_CHARS` for one locale (names, descriptions, values)."""
    def text(item: Mapping[str, Any], key: str) -> str:
        return str((item.get(f"{key}_localizations") or {}).get(locale) or item.get(key) or "")

    total = len(text(command, "name")) + len(text(command, "description"))
    for option in command.get("options") or []:
        total += len(text(option, "name")) + len(text(option, "description"))
        total += sum(len(text(c, "name")) + len(str(c.get("value", ""))) for c in option.get("choices") or [])
    return total


def command_problems(commands: Sequence[Mapping[str, Any]]) -> list[str]:
    """Everything in a slash-command sync payload that Discord would refuse (it then refuses the whole sync):
    repeated command, option or choice names and values, more than 25 options or choices, names that break
    Discord's pattern or are not lowercase, and lengths out of bounds, in the default text and in every
    language's localization. An empty list: Discord takes it."""
    found = _unique("commands", "name", [c.get("name") for c in commands])
    for command in commands:
        where = f"/{command.get('name')}"
        found += _texts(where, "name", command.get("name"), command.get("name_localizations"), MAX_NAME, name=True)
        found += _texts(where, "description", command.get("description"), command.get("description_localizations"),
                        MAX_DESCRIPTION, name=False)
        options = list(command.get("options") or [])
        if len(options) > MAX_CHOICES:
            found.append(f"{where}: {len(options)} options, at most {MAX_CHOICES}")
        found += _unique(where, "option", [o.get("name") for o in options])
        required = [bool(o.get("required")) for o in options]
        if required != sorted(required, reverse=True):
            found.append(f"{where}: a required option follows an optional one")
        for option in options:
            at = f"{where} {option.get('name')}"
            found += _texts(at, "name", option.get("name"), option.get("name_localizations"), MAX_NAME, name=True)
            found += _texts(at, "description", option.get("description"), option.get("description_localizations"),
                            MAX_DESCRIPTION, name=False)
            choices = list(option.get("choices") or [])
            if len(choices) > MAX_CHOICES:
                found.append(f"{at}: {len(choices)} choices, at most {MAX_CHOICES}")
            found += _unique(at, "choice name", [c.get("name") for c in choices])
            found += _unique(at, "choice value", [c.get("value") for c in choices])
            for choice in choices:
                found += _texts(at, "choice", choice.get("name"), choice.get("name_localizations"), MAX_CHOICE, name=False)
                value = choice.get("value")
                if isinstance(value, str) and not 1 <= len(value) <= MAX_CHOICE:
                    found.append(f"{at}: choice value {value!r} must be 1 to {MAX_CHOICE} characters")
        locales = {"default", *(command.get("name_localizations") or {}), *(command.get("description_localizations") or {})}
        for locale in sorted(locales):
            size = _size(command, locale)
            if size > MAX_COMMAND_CHARS:
                found.append(f"{where} ({locale}): {size} characters in all, at most {MAX_COMMAND_CHARS}")
    return found


def _chat(user: discord.abc.User, guild_id: int | None, channel_id: int | None, locale: str) -> dict[str, Any]:
    return dict(
        platform="discord",
        user_id=str(user.id),
        chat_id=str(channel_id),
        chat_type="private" if guild_id is None else "group",
        locale=locale,
        display_name=user.display_name,
        community=str(guild_id) if guild_id is not None else None,
        answer_button=True,  # a question asked here is answered through a form (bot.frontends.adapters.discord_prompts)
    )


def _reach(user: discord.abc.User, guild_id: int | None) -> dict[str, Any]:
    """A bot may DM any member of a server it shares, so a server user's DMs are reachable before they write
    there: `user:<id>`, a DM channel the adapter opens when a message first needs it."""
    return {} if guild_id is None else {"dm_chat": f"user:{user.id}", "opens_dm": True}


def _standing(user: discord.abc.User, permissions: discord.Permissions | None) -> StandingCheck:
    """The member's rights in their server as this very update reports them (Manage Server, role ids)."""
    roles = frozenset(str(r) for r in getattr(user, "_roles", ()))  # ids as delivered: the guild may not be cached
    standing = Standing(admin=permissions is not None and permissions.manage_guild, roles=roles)

    async def check() -> Standing:
        return standing

    return check


@dataclass(frozen=True)
class Ask:
    """What a request needs of an interaction, in plain fields: read where the interaction arrived and, in a
    fleet, carried as JSON to the worker that answers it (bot.frontends.adapters.discord_handover), which builds
    the very same `Request` from it. No token: that is the handover's, and it is never part of a request."""

    user_id: str
    display_name: str
    channel_id: str
    guild_id: str | None
    guild_name: str | None
    locale: str
    admin: bool  # Manage Server, as the interaction reports it
    roles: tuple[str, ...]  # the member's role ids, as delivered
    message_id: str | None  # the message a button was pressed on
    command: str | None = None
    args: tuple[str, ...] = ()
    button_token: str | None = None
    in_dm: bool = False  # the bot's DM with the user (not a group DM): what only they see may stay there

    @classmethod
    def of(cls, interaction: discord.Interaction[Any], command: str | None = None, args: tuple[str, ...] = (),
           button_token: str | None = None) -> Ask:
        user = interaction.user
        return cls(
            user_id=str(user.id), display_name=user.display_name, channel_id=str(interaction.channel_id),
            guild_id=str(interaction.guild_id) if interaction.guild_id is not None else None,
            guild_name=interaction.guild.name or None if interaction.guild is not None else None,  # '': not cached
            locale=str(interaction.locale), admin=interaction.permissions.manage_guild,
            roles=tuple(str(r) for r in getattr(user, "_roles", ())),  # ids as delivered: the guild may not be cached
            message_id=str(interaction.message.id) if interaction.message is not None else None,
            command=command, args=args, button_token=button_token, in_dm=bool(interaction.context.dm_channel),
        )

    def request(self) -> Request:
        length = len(" ".join((f"/{self.command}", *self.args))) if self.command else 0
        standing = Standing(admin=self.admin, roles=frozenset(self.roles))

        async def check() -> Standing:
            return standing

        # Any interaction can be answered ephemerally, so private-only commands work in servers too. A bot may DM
        # any member of a server it shares: `user:<id>`, a DM channel the adapter opens when a message needs it.
        reach: dict[str, Any] = {} if self.guild_id is None else {"dm_chat": f"user:{self.user_id}", "opens_dm": True}
        return Request(
            platform="discord", user_id=self.user_id, chat_id=self.channel_id,
            chat_type="private" if self.guild_id is None else "group", locale=self.locale,
            display_name=self.display_name, community=self.guild_id, command=self.command, args=self.args,
            button_token=self.button_token, text_length=length, message_ref=self.message_id, private_reply=True,
            standing=check if self.guild_id is not None else None, community_name=self.guild_name, answer_button=True,
            **reach,
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "args": list(self.args), "roles": list(self.roles)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ask:
        return cls(**{**data, "args": tuple(data["args"]), "roles": tuple(data["roles"])})


def interaction_request(interaction: discord.Interaction[Any], command: str | None = None, args: tuple[str, ...] = (), button_token: str | None = None) -> Request:
    return Ask.of(interaction, command, args, button_token).request()


def message_request(message: discord.Message, prefix: str, me: str | None = None) -> Request | None:
    """`!quote MAG7 100` -> the same request as `/quote MAG7 100`; anything else (`!quote@otherbot`, a command
    for another bot when this one is `me`) -> None."""
    content = message.content
    if not content.startswith(prefix) or content[len(prefix) : len(prefix) + 1].isspace():
        return None
    if for_another_bot("/" + content[len(prefix) :], me):
        return None
    command, args = split_command("/" + content[len(prefix) :])
    if command is None:
        return None
    locale = str(message.guild.preferred_locale) if message.guild is not None else ""
    chat = _chat(message.author, message.guild.id if message.guild else None, message.channel.id, locale)
    standing = None
    if message.guild is not None and isinstance(message.author, discord.Member):
        try:
            permissions: discord.Permissions | None = message.author.guild_permissions
        except (AttributeError, TypeError):  # the server's roles are not cached: no rights known
            permissions = None
        standing = _standing(message.author, permissions)
    return Request(**chat, command=command, args=args, text_length=len(content), standing=standing,
                   community_name=message.guild.name if message.guild is not None else None,
                   **_reach(message.author, message.guild.id if message.guild else None))


class CatalogTranslator(app_commands.Translator):
    """Localizes command and option descriptions from the catalogs; Discord's `zh-CN` is our `zh_CN`."""

    def __init__(self, catalogs: Catalogs) -> None:
        self.catalogs = catalogs

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        key = string.extras.get("key")
        if not key or key not in self.catalogs.entries.get(DEFAULT_LOCALE, {}):
            return None  # names and choices are not sentences; Discord shows them as they are
        return self.catalogs.text(key, self.catalogs.negotiate(locale.value))[:MAX_DESCRIPTION]


class PressHandler(Protocol):
    async def press(self, interaction: discord.Interaction[Any], token: str) -> None: ...


def valid_token(token: str) -> bool:
    return _TOKEN.fullmatch(f"b:{token}") is not None


class PressButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TOKEN_TEMPLATE):
    """A button whose custom_id is `b:<opaque token>`; presses reach the client even after a restart.

    discord.py matches the whole custom_id against the template (prefix, alphabet, at most 66 characters)
    before this class sees it, so nothing else a client sends is ever taken for a token.
    """

    def __init__(self, token: str, label: str = "\u200b", row: int | None = None) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label[:MAX_LABEL] or "\u200b", custom_id=f"b:{token}", row=row, style=discord.ButtonStyle.secondary
        )
        super().__init__(button)
        self.token = token

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PressButton:
        return cls(match["token"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: PressHandler = interaction.client
        await handler.press(interaction, self.token)


MENU_TEMPLATE = r"m:(?P<number>[0-9])"
MAX_OPTION_LABEL = 100  # Discord's limit for a select option's label


class PressMenu(discord.ui.DynamicItem[discord.ui.Select[Any]], template=MENU_TEMPLATE):
    """A select menu holding buttons that did not fit Discord's five rows (bot.frontends.adapters.discord_render): each
    choice's value is the opaque token its button would have carried, and choosing one is that button's press. Its
    custom_id only numbers it in its message; the token comes from the choice, checked for shape as a button's."""

    def __init__(self, number: int, choices: Sequence[tuple[str, str]] = (), row: int | None = None) -> None:
        options = [discord.SelectOption(label=label[:MAX_OPTION_LABEL] or "\u200b", value=token) for token, label in choices]
        menu: discord.ui.Select[Any] = discord.ui.Select(custom_id=f"m:{number}", options=options or [discord.SelectOption(label="\u200b")],
                                                         row=row)
        super().__init__(menu)
        self.number = number

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PressMenu:
        return cls(int(match["number"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        data: Mapping[str, Any] = interaction.data or {}
        values = data.get("values") or []
        token = str(values[0]) if values else ""
        handler: PressHandler = interaction.client
        await handler.press(interaction, token if valid_token(token) else "")
