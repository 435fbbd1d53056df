"""The Discord front end: slash commands, `!` prefix commands and buttons, all through the one router.

Runs inside the app's event loop: `start()` logs in (which syncs the slash commands, to one guild when
`guild_id` is given, globally otherwise) and connects to the gateway in a task; `stop()` closes the client.

Prefix commands (`!quote MAG7 100`, in channels and DMs) are for servers where the slash commands are not
synced yet. Reading them needs the privileged **Message Content** intent: enable it for the bot in the
Developer Portal (Bot → Privileged Gateway Intents), or pass `intents` without `message_content`, in which
case Discord delivers empty message text and only slash commands work.

Interactions must be acknowledged within 3 s: commands that may read the chain are deferred at once
(`defer(thinking=True)`, then a follow-up); any other interaction is deferred too if the router has not
answered after `ANSWER_WITHIN` seconds. Every send uses `AllowedMentions.none()`.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any, Literal

import aiohttp
import discord
from discord import app_commands
from discord.backoff import ExponentialBackoff
from discord.utils import escape_markdown, escape_mentions

from bot.adapters.discord_commands import (
    CatalogTranslator,
    PressButton,
    build_command,
    interaction_request,
    message_request,
    slash_for,
    valid_token,
)
from bot.app import App
from bot.core.delivery import Delivery, Leaving
from bot.core.messages import Rendered
from bot.core.request import Request, Standing
from bot.core.router import Outcome

log = logging.getLogger(__name__)

ANSWER_WITHIN = 2.0  # seconds to wait for the router before deferring; Discord allows 3
MAX_CONTENT = 2000  # Discord's message length limit
MAX_ROWS = 5  # Discord's limit of component rows per message
NO_MENTIONS = discord.AllowedMentions.none()
RETRY_SECONDS = 10.0  # Discord failing on its side: the outbox tries a message again after this
# Outbox requests in flight. discord.py waits out each route's bucket and the global limit (50/s) from Discord's
# headers; a DM costs two requests the first time (open the channel, send), and mass DMs get bots flagged, so
# the outbox keeps this low rather than racing the limit.
SENDS_AT_ONCE = 2


class DiscordMarkup:
    """Discord markdown: user text escaped (markdown and mentions), titles bold, code inline."""

    @staticmethod
    def escape(text: str) -> str:
        return escape_mentions(escape_markdown(text))

    @staticmethod
    def style(kind: str, text: str) -> str:
        if kind == "title":
            return f"**{text}**"
        if kind == "code":
            return f"`{text}`"
        return text


MARKUP = DiscordMarkup()


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True  # privileged: needed for prefix commands only
    return intents


def chunks(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Split on line breaks into messages of at most `limit` characters; a longer line is cut."""
    lines = [line[i : i + limit] for line in text.split("\n") for i in range(0, max(len(line), 1), limit)]
    parts = [""]
    for line in lines:
        if parts[-1] and len(parts[-1]) + 1 + len(line) > limit:
            parts.append(line)
        else:
            parts[-1] = f"{parts[-1]}\n{line}" if parts[-1] else line
    return parts


def view_of(rendered: Rendered) -> discord.ui.View | None:
    """One `PressButton` per rendered button, row by row; buttons without a valid token are left out."""
    view = discord.ui.View(timeout=None)
    for row, buttons in enumerate(rendered.buttons[:MAX_ROWS]):
        for button in buttons[:5]:
            if valid_token(button.token):
                view.add_item(PressButton(button.token, button.label, row=row))
    return view if view.children else None


def extras(rendered: Rendered) -> dict[str, Any]:
    """The keyword arguments that carry a reply's buttons and image, present only when there are some."""
    kw: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    view = view_of(rendered)
    if view is not None:
        kw["view"] = view
    if rendered.image is not None:
        kw["file"] = discord.File(io.BytesIO(rendered.image), filename="chart.png")
    return kw


class IndexClient(discord.Client):
    """The discord.py client: owns the command tree and routes every update to the app's router."""

    def __init__(self, app: App, guild_id: int | None, prefix: str, intents: discord.Intents) -> None:
        super().__init__(intents=intents, allowed_mentions=NO_MENTIONS)
        self.app = app
        self.guild_id = guild_id
        self.prefix = prefix
        self.tree = app_commands.CommandTree(self)
        self.add_dynamic_items(PressButton)

    async def setup_hook(self) -> None:
        """Register one slash command per router command, localize them and sync."""
        for name in self.app.router.commands:
            self.tree.add_command(build_command(self.app, name, self.command))
        await self.tree.set_translator(CatalogTranslator(self.app.services.catalogs))
        guild = discord.Object(self.guild_id) if self.guild_id is not None else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def command(self, interaction: discord.Interaction[Any], name: str, args: tuple[str, ...]) -> None:
        """A slash command: deferred at once when it may read the chain. A deferral decides whether the answer
        is ephemeral (Discord ignores the flag on the first follow-up), so a private-only command's deferral is."""
        command = self.app.router.commands.get(name)
        private = command is not None and command.private_only
        if slash_for(name).defer:
            await interaction.response.defer(thinking=True, ephemeral=private)
        request = interaction_request(interaction, command=name, args=args)
        await self._answer(interaction, request, thinking=True, ephemeral=private)

    async def press(self, interaction: discord.Interaction[Any], token: str) -> None:
        """A button press; refusals (not yours, expired) go to the presser only."""
        await self._answer(interaction, interaction_request(interaction, button_token=token), thinking=False, ephemeral=False)

    async def standing_of(self, community: str, user_id: str) -> Standing | None:
        """A member's standing in a server asked of Discord now, outside any interaction: Manage Server and role
        ids; no standing once they left; None when Discord did not answer."""
        guild = self.get_guild(int(community))
        try:
            if guild is None:
                guild = await self.fetch_guild(int(community))
            member = guild.get_member(int(user_id)) or await guild.fetch_member(int(user_id))
        except discord.NotFound:
            return Standing()
        except discord.HTTPException:
            return None
        return Standing(admin=member.guild_permissions.manage_guild, roles=frozenset(str(r.id) for r in member.roles))

    async def on_message(self, message: discord.Message) -> None:
        """Prefix commands, in guild channels and DMs alike."""
        if message.author.bot:
            return
        request = message_request(message, self.prefix, self.user.name if self.user is not None else None)
        if request is None:
            return
        outcome = await self.app.router.handle(request, MARKUP)
        if outcome.rendered.delete_request:  # e.g. a private key pasted in a channel: remove it where we may
            await _delete_quietly(message)
        await send_rendered(message.channel, outcome.rendered)

    async def _answer(self, interaction: discord.Interaction[Any], request: Request, *, thinking: bool, ephemeral: bool) -> None:
        task = asyncio.ensure_future(self.app.router.handle(request, MARKUP))
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN)
        if not done and not interaction.response.is_done():
            await interaction.response.defer(thinking=thinking, ephemeral=ephemeral)
        await reply(interaction, await task)


async def send_rendered(channel: discord.abc.Messageable, rendered: Rendered) -> discord.Message:
    """Send a rendered reply as one or more messages; buttons and image ride on the last, which is returned."""
    *head, last = chunks(rendered.text)
    expiry: dict[str, Any] = {} if rendered.delete_after is None else {"delete_after": rendered.delete_after}
    for text in head:
        await channel.send(text, allowed_mentions=NO_MENTIONS, **expiry)
    return await channel.send(last, **expiry, **extras(rendered))


async def _delete_quietly(message: discord.Message) -> None:
    try:
        await message.delete()
    except discord.HTTPException as err:  # no Manage Messages permission, or already gone
        log.info("discord: could not delete message %s: %s", message.id, err)


async def reply(interaction: discord.Interaction[Any], outcome: Outcome) -> None:
    """Answer an interaction: edit the pressed message when asked, else respond or follow up."""
    rendered = outcome.rendered
    *head, last = chunks(rendered.text)
    if rendered.edit and not outcome.ephemeral and interaction.message is not None and not head:
        await _edit(interaction, last, rendered)
        return
    for text in head:
        await _say(interaction, text, outcome.ephemeral, {"allowed_mentions": NO_MENTIONS}, rendered.delete_after)
    await _say(interaction, last, outcome.ephemeral, extras(rendered), rendered.delete_after)


async def _say(interaction: discord.Interaction[Any], text: str, ephemeral: bool, kw: dict[str, Any], delete_after: int | None = None) -> None:
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=ephemeral, delete_after=delete_after, **kw)
    else:
        sent = await interaction.followup.send(text, ephemeral=ephemeral, wait=True, **kw)
        if delete_after is not None:
            await sent.delete(delay=delete_after)


async def _edit(interaction: discord.Interaction[Any], text: str, rendered: Rendered) -> None:
    view = view_of(rendered)
    files = [discord.File(io.BytesIO(rendered.image), filename="chart.png")] if rendered.image is not None else []
    if not interaction.response.is_done():
        await interaction.response.edit_message(content=text, view=view, attachments=files, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.edit_original_response(content=text, view=view, attachments=files, allowed_mentions=NO_MENTIONS)


def _gateway_ended(task: asyncio.Task[None]) -> None:
    """Log why the gateway stopped for good, e.g. the Message Content intent is not enabled in the portal."""
    if not task.cancelled() and task.exception() is not None:
        log.error("discord gateway stopped", exc_info=task.exception())


class DiscordFrontend:
    """The Frontend for Discord: `DiscordFrontend(app, token, guild_id)`, then `start()` / `stop()`."""

    name = "discord"
    markup = MARKUP
    sends_at_once = SENDS_AT_ONCE

    def __init__(self, app: App, token: str, guild_id: int | None = None, *, prefix: str = "!", intents: discord.Intents | None = None) -> None:
        self.app = app
        self.token = token
        self.bot = IndexClient(app, guild_id, prefix, intents or default_intents())
        self._gateway: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in (syncing slash commands in `setup_hook`) and connect to the gateway in the background."""
        await self.bot.login(self.token)
        if self.app.services.announcements is not None:  # a scheduled server announcement re-checks its author
            self.app.services.announcements.standings["discord"] = self.bot.standing_of
        if self.app.services.points is not None and self.bot.user is not None:  # known since login: no /name like it
            self.app.services.points.bot_names.add(self.bot.user.name)
        self._gateway = asyncio.create_task(self._connect(), name="discord-gateway")
        self._gateway.add_done_callback(_gateway_ended)

    async def _connect(self) -> None:
        """`Client.connect`, started again when it fails before its first session (discord.py 2.7.1 then
        ends with an AttributeError on `self.ws.sequence` instead of retrying); fatal errors end it."""
        backoff: ExponentialBackoff[Literal[False]] = ExponentialBackoff()
        while True:
            try:
                await self.bot.connect()
                return
            except discord.PrivilegedIntentsRequired:
                raise
            except Exception:
                if self.bot.is_closed():
                    raise
                delay = backoff.delay()
                log.warning("discord gateway connection failed; retrying in %.1fs", delay, exc_info=True)
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Close the client (gateway and HTTP session) and end the gateway task, even mid-backoff."""
        await self.bot.close()
        if self._gateway is not None:
            self._gateway.cancel()
            await asyncio.gather(self._gateway, return_exceptions=True)
            self._gateway = None

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        """Send to a channel (or DM channel) by id, or edit the bot's message `edit_ref` there; the id of the
        message shown, None when refused (a vanished channel, missing permissions)."""
        return (await self.post(chat_id, rendered, edit_ref)).ref

    async def post(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None, *, bulk: bool = False,
                   leaving: Leaving | None = None) -> Delivery:
        """What the outbox calls: send or edit and say how it went. discord.py waits out rate limits itself
        (per route and global, from the response headers); bulk sends are paced by the outbox's `sends_at_once`."""
        try:
            channel = self.bot.get_channel(int(chat_id)) or await self.bot.fetch_channel(int(chat_id))
            if not isinstance(channel, discord.abc.Messageable):
                return Delivery("failed", error=f"channel {chat_id} cannot receive messages")
            if leaving is not None and not await leaving():  # the outbox marks it 'sending' now
                return Delivery("withdrawn")
            if edit_ref is not None and rendered.image is None and len(rendered.text) <= MAX_CONTENT:
                message = channel.get_partial_message(int(edit_ref))
                await message.edit(content=rendered.text, view=view_of(rendered), allowed_mentions=NO_MENTIONS)
                return Delivery.sent(edit_ref)
            return Delivery.sent(str((await send_rendered(channel, rendered)).id))
        except (discord.Forbidden, discord.NotFound) as err:  # DMs closed, bot blocked, channel gone
            return Delivery("blocked", error=str(err))
        except discord.DiscordServerError as err:
            return Delivery("retry", retry_after=RETRY_SECONDS, error=str(err))
        except discord.HTTPException as err:
            if err.status == 429:
                return Delivery("retry", retry_after=RETRY_SECONDS, error=str(err))
            log.warning("discord: delivery to %s failed: %s", chat_id, err)
            return Delivery("failed", error=str(err))
        except (TimeoutError, aiohttp.ClientError) as err:  # the request may have arrived: never sent again
            return Delivery("unknown", error=str(err))
