"""The Discord front end: slash commands, `!` prefix commands and buttons, all through the one router.

Runs inside the app's event loop: `start()` logs in (which syncs the slash commands, to one guild when
`guild_id` is given, globally otherwise) and connects to the gateway in a task; `stop()` closes the client.
The gateway is one connection, or the shards `shards` names (DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS: discord.py's
`Client(shard_id=…)` for one, `AutoShardedClient` for several); a process without the gateway role
(`gateway=False`) only logs in, for sends and interaction answers. A gateway of a fleet (`hand_over`, PostgreSQL)
acknowledges each interaction and leaves its handling to a worker: discord_handover.py.

Prefix commands (`!quote MAG7 100`, in channels and DMs) are for servers where the slash commands are not
synced yet. Reading them needs the privileged **Message Content** intent: enable it for the bot in the
Developer Portal (Bot → Privileged Gateway Intents), or pass `intents` without `message_content`, in which
case Discord delivers empty message text and only slash commands work.

Interactions must be acknowledged within 3 s: commands that may read the chain are deferred at once
(`defer(thinking=True)`, then a follow-up); any other interaction is deferred too if the router has not
answered after `ANSWER_WITHIN` seconds. Every send uses `AllowedMentions.none()`. Personal answers (the router's
`personal` and `private_only` commands) are ephemeral in servers, and so is every answer to a press on an
ephemeral message.

Unprompted messages (the outbox's `post`): a user known only from a server is addressed as `user:<id>`; their
DM channel is opened the first time a message needs it and its id stored, and every send goes through a partial
messageable (one request, no channel fetch). Only Discord's 50007 on a DM means the user closed their DMs; any
other 403/404 is the channel's (but 10008 Unknown Message, a message's: deleted, or an ephemeral one, which only
its interaction's webhook may edit): a server channel rests for `LOST_CHANNEL_SECONDS` and the moderators and the
server's owner are told (the server asked of Discord when no gateway cached it); a DM is known as one from what
this process saw or, failing that, from the users' stored private chats. A 429 discord.py raises instead of
waiting out (Cloudflare's, or after its retries) is honoured: Retry-After, a global one holding every send,
doubling while it lasts (`Backoff`, discord_limits.py, shared with a fleet's acknowledgements and answers through
an interaction's token); every 401/403/429 Discord counts against the IP is counted in
`bot.metrics.INVALID_REQUESTS`. A slash-command sync Discord refuses is logged; the bot runs on with the commands
Discord had.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

import aiohttp
import discord
from discord import app_commands
from discord.backoff import ExponentialBackoff
from discord import PartialMessageable

from bot.frontends.adapters.discord_commands import (
    Ask,
    CatalogTranslator,
    PressButton,
    PressMenu,
    build_command,
    interaction_request,
    message_request,
    slash_for,
)
from bot.frontends.adapters.discord_handover import Finisher, Handover
from bot.frontends.adapters.discord_kept import show_kept
from bot.frontends.adapters.discord_prompts import answer_request, is_answer, open_form, plain_request, sent_form
from bot.frontends.adapters.discord_limits import Backoff, invalid_request_trace, limit_of
from bot.frontends.adapters.discord_render import (
    EDIT_FAILED,
    MARKUP,
    MAX_CONTENT,
    NO_MENTIONS,
    ORIGINAL,
    Instead,
    chunks,
    extras,
    hook_ref,
    outcome_chat,
    parse_hook_ref,
    told_instead,
    view_of,
)
from bot.app import App
from bot.config import DiscordShards
from bot.core.delivery import Delivery, Leaving
from bot.core.expiry import Expiries
from bot.core.messages import Count, Msg, Param, Rendered, Reply
from bot.core.request import PrivateLinks, Request, Standing
from bot.core.router import Outcome
from bot.jobs.engine import Jobs
from bot.storage.interactions import InteractionRows

log = logging.getLogger(__name__)

ANSWER_WITHIN = 2.0  # seconds to wait for the router before deferring; Discord allows 3
# Outbox requests in flight. discord.py waits out each route's bucket and the global limit (50/s) from Discord's
# headers; a DM costs two requests the first time (open the channel, send), and mass DMs get bots flagged, so
# the outbox keeps this low rather than racing the limit.
SENDS_AT_ONCE = 2
DM_ADDRESS = "user:"  # an outbox chat "user:<Discord user id>": that user's DM channel, opened when first needed
CANNOT_DM = 50007  # Discord's "Cannot send messages to this user": their DMs are closed to the bot
UNKNOWN_MESSAGE = 10008  # Discord's "Unknown Message": that message (deleted, or ephemeral), not its channel
LOST_CHANNEL_SECONDS = 3600  # a server channel that refused the bot (403/404) is not tried again for this long


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True  # privileged: needed for prefix commands only
    return intents


class IndexClient(discord.Client):
    """The discord.py client: owns the command tree and routes every update to the app's router."""

    def __init__(self, app: App, guild_id: int | None, prefix: str, intents: discord.Intents, **shards: Any) -> None:
        super().__init__(intents=intents, allowed_mentions=NO_MENTIONS, http_trace=invalid_request_trace(), **shards)
        self.app = app
        self.sync_commands = True  # a process that holds no gateway leaves the slash commands to the one that does
        # a gateway of a fleet (DiscordFrontend's `hand_over`): interactions acknowledged here, answered by any worker
        self.handover: Handover | None = None
        self.guild_id = guild_id
        self.prefix = prefix
        self.tree = app_commands.CommandTree(self)
        self.add_dynamic_items(PressButton, PressMenu)
        self.expiry = Expiries(app.services.deletions, "discord", self._delete_due)  # an exported key, even after a crash
        self.dms: dict[str, str] = {}  # Discord user id -> their DM channel id, opened or seen this run
        self.dm_channels: set[str] = set()  # channel ids known to be DMs (never a server's channel)

    def saw(self, user_id: int, guild_id: int | None, channel_id: int | None) -> None:
        """Remember a DM channel an update came from: a send there is a DM (see `DiscordFrontend._refused`)."""
        if guild_id is None and channel_id is not None:
            self.dms[str(user_id)] = str(channel_id)
            self.dm_channels.add(str(channel_id))

    async def setup_hook(self) -> None:
        """Register one slash command per router command, localize them and sync."""
        for name in self.app.router.commands:
            self.tree.add_command(build_command(self.app, name, self.command))
        await self.tree.set_translator(CatalogTranslator(self.app.services.catalogs))
        guild = discord.Object(self.guild_id) if self.guild_id is not None else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        if not self.sync_commands:
            return
        try:
            await self.tree.sync(guild=guild)
        except (discord.HTTPException, app_commands.AppCommandError) as err:  # CommandSyncFailure is both
            # Discord keeps the commands of the last sync that worked; the bot, Telegram included, runs on.
            log.error("discord: slash commands not synced, Discord keeps the ones it had: %s", err)

    async def command(self, interaction: discord.Interaction[Any], name: str, args: tuple[str, ...]) -> None:
        """A slash command: deferred at once when it may read the chain. A deferral decides whether the answer
        is ephemeral (Discord ignores the flag on the first follow-up), so a private-only command's deferral is, and a
        personal or moderator's one's in a server (an announcement's preview)."""
        command = self.app.router.commands.get(name)
        private = command is not None and (command.private_only or command.hidden and interaction.guild_id is not None)
        if self.handover is not None:
            self.saw(interaction.user.id, interaction.guild_id, interaction.channel_id)
            ask = await self._server_named(Ask.of(interaction, name, args))
            await self.handover.hand_over(interaction, ask, thinking=True, ephemeral=private)
            return
        if slash_for(name).defer:
            await interaction.response.defer(thinking=True, ephemeral=private)
        request = (await self._server_named(Ask.of(interaction, name, args))).request()
        await self._answer(interaction, request, thinking=True, ephemeral=private)

    async def _server_named(self, ask: Ask) -> Ask:
        """An announcement drafted in a server names the server to its readers: when the server is not cached (an
        interaction carries its id, not its name), its name is asked of Discord; for /announce only."""
        if ask.command != "announce" or ask.guild_id is None or ask.guild_name:
            return ask
        try:
            guild = await self.fetch_guild(int(ask.guild_id), with_counts=False)
        except discord.HTTPException as err:
            log.warning("discord: the name of server %s could not be read: %s", ask.guild_id, err)
            return ask
        return replace(ask, guild_name=guild.name or None)

    async def press(self, interaction: discord.Interaction[Any], token: str) -> None:
        """A button press; refusals (not yours, expired) go to the presser only, and so does every answer to a press
        on a message only the presser sees (an ephemeral quote's Refresh must not post the quote for all)."""
        hidden = interaction.message is not None and interaction.message.flags.ephemeral
        if self.handover is not None and not await is_answer(self.app.router.buttons, token):  # a form opens here
            self.saw(interaction.user.id, interaction.guild_id, interaction.channel_id)
            await self.handover.hand_over(interaction, Ask.of(interaction, button_token=token), thinking=False,
                                          ephemeral=hidden, hidden=hidden)
            return
        await self._answer(interaction, interaction_request(interaction, button_token=token), thinking=False, ephemeral=hidden,
                           hidden=hidden)

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
        """Prefix commands, in guild channels and DMs alike; in a DM also a private key, recovery phrase or PIN
        pasted alone (which a bot may not delete there: the answer says so)."""
        if message.author.bot:
            return
        me = self.user.name if self.user is not None else None
        request = message_request(message, self.prefix, me)
        if request is None and message.guild is None and message.content.strip() and not message.content.startswith(self.prefix):
            # plain text in our DM: a question's answer, or a key or PIN pasted (answered, so its writer deletes it)
            typed = message_request(message, "", me)  # who and where; what was typed is no command
            request = plain_request(typed, message.content) if typed is not None else None
        if request is None:
            return
        self.saw(message.author.id, message.guild.id if message.guild else None, message.channel.id)
        request = replace(request, delete_message=partial(_delete_quietly, message))  # for a message carrying a secret
        dm = None
        if message.guild is not None and self.user is not None and self._personal(request):
            request, dm = await self._via_dm(request, message.author, self.user.id)
        outcome = await self.app.router.handle(request, MARKUP)  # it says whether the deletion was allowed
        if outcome.unasked and not outcome.rendered.delete_request:  # chatter in our DM that answered no question
            await self._kept_in_dm(message)
            return
        if outcome.aside is not None and dm is not None:
            await send_rendered(message.channel, await self._privately(dm, outcome), self.expiry)
            return
        sent = await send_rendered(message.channel, outcome.rendered, self.expiry)
        await self.app.services.quotes.shown("discord", str(message.channel.id), str(sent.id), outcome.reply, False)
        await self._kept_in_dm(message)

    async def _kept_in_dm(self, message: discord.Message) -> None:
        """What the user's closed DMs refused, now that they wrote in the DM: a DM for certain (a server's message whose
        server is not cached has no `guild`, but its channel is no DMChannel), never a server's channel."""
        if message.guild is not None or not isinstance(message.channel, discord.DMChannel):
            return

        async def say(text: str, kw: dict[str, Any]) -> int:
            return (await message.channel.send(text, **kw)).id

        await show_kept(self.app, message.author.id, say)

    def _personal(self, request: Request) -> bool:
        command = self.app.router.commands.get((request.command or "").lower())
        return command is not None and (command.personal or command.private_only)

    async def _via_dm(self, request: Request, user: discord.User | discord.Member,
                      me: int) -> tuple[Request, discord.DMChannel | None]:
        """A personal `!` command in a server is answered in the asker's DM (the router's aside): its channel is opened
        now, so a question asked there (a guided withdrawal) is answered from that DM by its id."""
        try:
            dm = user.dm_channel or await user.create_dm()
        except discord.HTTPException as err:  # no DM to go to: answered as before (the router's own rules)
            log.warning("discord: no DM channel for %s: %s", user.id, err)
            return request, None
        self.saw(user.id, None, dm.id)
        link = f"https://discord.com/users/{me}"
        # opens_dm off: the user's stored reach stays `user:<id>` (a send there marks closed DMs as the user's, where a
        # bare channel id refused would rest it as a server's channel)
        return replace(request, dm_chat=str(dm.id), opens_dm=False,
                       private_links=PrivateLinks(link, link, refused="private.closed")), dm

    async def _privately(self, dm: discord.DMChannel, outcome: Outcome) -> Rendered:
        """A personal answer asked for by a `!` command in a server, sent to the asker's DM; what the channel then
        reads: that it went, or (Discord refused: the member closed DMs from the server) how to open them."""
        assert outcome.aside is not None
        try:
            sent = await send_rendered(dm, outcome.rendered, self.expiry)
        except discord.HTTPException as err:
            log.info("discord: cannot write to %s privately: %s", outcome.aside.chat, err)
            return outcome.aside.start
        await self.app.services.quotes.shown("discord", outcome.aside.chat, str(sent.id), outcome.reply, False)
        return outcome.aside.sent

    async def _delete_due(self, channel_id: str, message_id: str) -> bool | None:
        """Delete a message that fell due: whether it went, None when Discord could not be asked."""
        try:
            await self.http.delete_message(int(channel_id), int(message_id))
            return True
        except (discord.NotFound, discord.Forbidden) as err:  # gone already, or no right to
            log.info("discord: could not delete message %s: %s", message_id, err)
            return False
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as err:
            log.warning("discord: deleting message %s failed: %s", message_id, err)
            return None

    async def _answer(self, interaction: discord.Interaction[Any], request: Request, *, thinking: bool, ephemeral: bool,
                      hidden: bool = False) -> None:
        self.saw(interaction.user.id, interaction.guild_id, interaction.channel_id)
        task = asyncio.ensure_future(self.app.router.handle(request, MARKUP))
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN)
        if not done and not interaction.response.is_done():
            try:
                await interaction.response.defer(thinking=thinking, ephemeral=ephemeral)
            except EDIT_FAILED as err:  # too late for Discord (10062): the answer fails too; a press's outcome goes by the outbox
                log.info("discord: interaction %s could not be deferred (%s %s)", interaction.id, type(err).__name__,
                         getattr(err, "status", ""))
        outcome = await task
        if await open_form(interaction, outcome.rendered):  # the Answer button: the question's form
            return
        instead = partial(self.app.outbox.tell_instead, "discord", outcome_chat(request, hidden))
        shown = await reply(interaction, outcome, hidden=hidden, instead=instead)
        if shown is not None:  # a quote is edited at its expiry (bot.delivery.quotes)
            await self.app.services.quotes.shown("discord", str(interaction.channel_id), shown, outcome.reply,
                                                 rendered_edit(outcome, interaction))
        await show_kept(self.app, interaction.user.id, partial(_follow_up, interaction))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """A question's form sent, whichever process opened it: its value is the answer, as if typed, to the question
        its custom_id names (discord_prompts.sent_form); the reply only the user sees in a server."""
        sent = sent_form(interaction)
        if sent is None:
            return
        request = answer_request(interaction_request(interaction), *sent)
        await self._answer(interaction, request, thinking=True, ephemeral=interaction.guild_id is not None)


async def send_rendered(channel: discord.abc.Messageable, rendered: Rendered, expiry: Expiries) -> discord.Message:
    """Send a rendered reply as one or more messages; buttons and image ride on the last, which is returned. A
    reply to be deleted after a while (an exported key) is promised to `expiry`, which survives a crash."""
    *head, last = chunks(rendered.text)
    sent = [await channel.send(text, allowed_mentions=NO_MENTIONS) for text in head]
    sent.append(await channel.send(last, **extras(rendered)))
    if rendered.delete_after is not None:
        for message in sent:
            await expiry.after(str(message.channel.id), str(message.id), rendered.delete_after)
    return sent[-1]


async def _follow_up(interaction: discord.Interaction[Any], text: str, kw: dict[str, Any]) -> int:
    """A follow-up only the user sees (discord_kept's `say`), one that stays in the bot's DM with them (never in a
    server or a group DM, where others would read it)."""
    ephemeral = not interaction.context.dm_channel
    return (await interaction.followup.send(text, ephemeral=ephemeral, wait=True, **kw)).id


async def _delete_quietly(message: discord.Message) -> bool:
    """Delete a user's message: whether it is gone (never in a DM, where a bot cannot delete what others wrote)."""
    try:
        await message.delete()
        return True
    except discord.HTTPException as err:  # no Manage Messages permission, a DM, or already gone
        log.info("discord: could not delete message %s: %s", message.id, err)
        return False


def rendered_edit(outcome: Outcome, interaction: discord.Interaction[Any]) -> bool:
    """Whether `reply` answered by editing the pressed message."""
    return outcome.rendered.edit and not outcome.ephemeral and interaction.message is not None


async def reply(interaction: discord.Interaction[Any], outcome: Outcome, *, hidden: bool = False,
                instead: Instead | None = None) -> str | None:
    """Answer an interaction: edit the pressed message when asked, else respond or follow up; only the user sees
    the answer when the router says so or `hidden` (it was asked where only they see it). An outcome the edit
    cannot show (a 5xx, the message deleted) goes to `instead` (a new message through the outbox). What the message
    shown can be edited by later (`hook_ref` for one only the user sees), None when the edit failed."""
    rendered = outcome.rendered
    *head, last = chunks(rendered.text)
    if rendered_edit(outcome, interaction) and not head:
        assert interaction.message is not None
        try:
            await _edit(interaction, last, rendered)
        except EDIT_FAILED as err:
            await told_instead(outcome, instead, err)
            return None
        ephemeral = interaction.message.flags.ephemeral
        return hook_ref(interaction.token, ORIGINAL) if ephemeral else str(interaction.message.id)
    ephemeral = (outcome.ephemeral or hidden) and not rendered.public  # a Share press posts for all
    for text in head:
        await _say(interaction, text, ephemeral, {"allowed_mentions": NO_MENTIONS}, rendered.delete_after)
    sent = await _say(interaction, last, ephemeral, extras(rendered), rendered.delete_after)
    if sent is None:  # the interaction's response itself: its id is not known, its token edits it for 15 minutes
        return hook_ref(interaction.token, ORIGINAL)
    return hook_ref(interaction.token, str(sent)) if ephemeral else str(sent)


async def _say(interaction: discord.Interaction[Any], text: str, ephemeral: bool, kw: dict[str, Any],
               delete_after: int | None = None) -> int | None:
    """Respond, or follow up; the follow-up's id (None: the response itself, `@original`)."""
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=ephemeral, delete_after=delete_after, **kw)
        return None
    sent = await interaction.followup.send(text, ephemeral=ephemeral, wait=True, **kw)
    if delete_after is not None:
        await sent.delete(delay=delete_after)
    return sent.id


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


class ShardedIndexClient(IndexClient, discord.AutoShardedClient):
    """The same client over several gateway shards in one process (discord.py's AutoShardedClient)."""


def make_client(app: App, guild_id: int | None, prefix: str, intents: discord.Intents,
                shards: DiscordShards | None) -> IndexClient:
    """One gateway connection as ever when `shards` is None; one shard of several by `shard_id`; else the shards
    `shards.ids` (all of them when None) in this process."""
    if shards is None:
        return IndexClient(app, guild_id, prefix, intents)
    if shards.ids is not None and len(shards.ids) == 1:
        return IndexClient(app, guild_id, prefix, intents, shard_id=shards.ids[0], shard_count=shards.count)
    ids = list(shards.ids) if shards.ids is not None else None
    return ShardedIndexClient(app, guild_id, prefix, intents, shard_ids=ids, shard_count=shards.count)


class DiscordFrontend:
    """The Frontend for Discord: `DiscordFrontend(app, token, guild_id)`, then `start()` / `stop()`."""

    name = "discord"
    markup = MARKUP
    sends_at_once = SENDS_AT_ONCE

    def __init__(self, app: App, token: str, guild_id: int | None = None, *, prefix: str = "!", intents: discord.Intents | None = None,
                 shards: DiscordShards | None = None, gateway: bool = True, hand_over: bool = False) -> None:
        self.app = app
        self.token = token
        # shards are gateway connections: a process without the gateway needs none (and discord.py's sharded client
        # cannot even be closed unless it connected)
        self.bot = make_client(app, guild_id, prefix, intents or default_intents(), shards if gateway else None)
        self.gateway = gateway  # False: log in for sends and answers, leave the gateway (and command sync) to others
        self.bot.sync_commands = gateway
        self.backoff = Backoff()  # Discord's limits discord.py leaves to us, for every request of this process
        if hand_over and app.jobs is not None:  # interactions go to the fleet's workers (discord_handover)
            self.bot.handover = Handover(app.jobs, InteractionRows(app.db), app.services.catalogs, backoff=self.backoff)
        self._gateway: asyncio.Task[None] | None = None
        self._lost: dict[str, float] = {}  # server channel -> monotonic time before which it is not tried again

    async def start(self) -> None:
        """Log in (syncing slash commands in `setup_hook`) and connect to the gateway in the background."""
        await self.bot.login(self.token)
        await self.bot.expiry.resume()  # what fell due while the bot was down goes now
        # known since login: no /name may look like the bot's; a scheduled server announcement re-checks its author
        self.app.front_ends.attach("discord", bot_name=self.bot.user.name if self.bot.user is not None else None,
                                   standing_of=self.bot.standing_of)
        if self.gateway:
            self._gateway = asyncio.create_task(self._connect(), name="discord-gateway")
            self._gateway.add_done_callback(_gateway_ended)

    def answer_interactions(self, jobs: Jobs) -> None:
        """Register the job that answers interactions a gateway handed over (a worker of a fleet): before the
        engine's worker starts. Answers use this client's HTTP session, so after `start()` logs in."""
        Finisher(self.app, self.bot, InteractionRows(self.app.db), MARKUP, backoff=self.backoff).register(jobs)

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
        await self.bot.expiry.stop()  # early rather than never: a key must not outlive us
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
        """What the outbox calls: send or edit and say how it went. `chat_id` is a channel id, or `user:<id>` for
        a user's DMs (the channel opened on first use). discord.py waits out the rate limits it is told of (per
        route and global, from the response headers); what it leaves to us is `_refused`'s. Bulk sends are paced
        by the outbox's `sends_at_once`."""
        lost = self._lost.get(chat_id)
        if lost is not None and lost > time.monotonic():
            return Delivery("failed", error=f"channel {chat_id} refused the bot; not tried again yet")
        await self.backoff.wait()  # a global limit holds every send, not just the one it answered
        try:
            channel = await self._messageable(chat_id)
            if leaving is not None and not await leaving():  # the outbox marks it 'sending' now
                return Delivery("withdrawn")
            if edit_ref is not None and rendered.edit_only:  # a message that may be gone: edited, or nothing
                return await self._edit_only(channel, edit_ref, rendered)
            if edit_ref is not None and rendered.image is None and len(rendered.text) <= MAX_CONTENT:
                delivery = await self._edit_or_say(chat_id, channel, edit_ref, rendered)
            else:
                delivery = Delivery.sent(str((await send_rendered(channel, rendered, self.bot.expiry)).id))
            self.backoff.passed()
            return delivery
        except discord.HTTPException as err:
            return await self._refused(chat_id, err)
        except discord.RateLimited as err:  # only with max_ratelimit_timeout set: a wait longer than that
            return Delivery("retry", retry_after=self.backoff.refused(err.retry_after, False), error=str(err))
        except ValueError as err:  # not a channel id
            return Delivery("failed", error=str(err))
        except (TimeoutError, aiohttp.ClientError) as err:  # the request may have arrived: never sent again
            return Delivery("unknown", error=str(err))

    async def _edit_or_say(self, chat_id: str, channel: PartialMessageable | discord.TextChannel | discord.DMChannel | discord.Thread,
                           edit_ref: str, rendered: Rendered) -> Delivery:
        """Edit the bot's message `edit_ref`. Discord's 404 Unknown Message is the message's (deleted, or an
        ephemeral one, which only its interaction's webhook reaches), never the channel's: in a DM the news goes
        as a new message; in a server channel it is not posted for all to read (a user's news is theirs) and the
        channel goes on being used."""
        try:
            await channel.get_partial_message(int(edit_ref)).edit(content=rendered.text, view=view_of(rendered),
                                                                  allowed_mentions=NO_MENTIONS)
            return Delivery.sent(edit_ref)
        except discord.NotFound as err:
            if err.code != UNKNOWN_MESSAGE:
                raise
            if not await self._is_dm(chat_id):
                log.warning("discord: message %s in server channel %s is unknown (an ephemeral one?); its news is not "
                            "posted there", edit_ref, chat_id)
                return Delivery("failed", error=str(err))
        return Delivery.sent(str((await send_rendered(channel, rendered, self.bot.expiry)).id))

    async def _is_dm(self, chat_id: str) -> bool:
        """Whether `chat_id` is a DM: `user:<id>`, one this process saw, or one stored as a user's private chat."""
        if chat_id.startswith(DM_ADDRESS) or chat_id in self.bot.dm_channels:
            return True
        if await self.app.services.users.is_private_chat("discord", chat_id):
            self.bot.dm_channels.add(chat_id)
            return True
        return False

    async def _edit_only(self, channel: PartialMessageable | discord.abc.Messageable, edit_ref: str,
                         rendered: Rendered) -> Delivery:
        """Edit a message that may be gone (an expired quote): one only its user sees through its interaction's
        webhook while the interaction's token is valid (15 minutes), any other by its id. A refusal (the message
        deleted, the token expired) drops the edit: nothing is sent instead, and the channel is not marked."""
        content, view = rendered.text[:MAX_CONTENT], view_of(rendered)
        hook = parse_hook_ref(edit_ref)
        try:
            if hook is not None:
                token, message_id = hook
                webhook = discord.Webhook.partial(self.bot.application_id or 0, token, client=self.bot)
                await webhook.edit_message(message_id, content=content, view=view, allowed_mentions=NO_MENTIONS)  # type: ignore[call-overload]
            else:
                await channel.get_partial_message(int(edit_ref)).edit(content=content, view=view,  # type: ignore[union-attr]
                                                                      allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as err:
            if err.status == 429 or err.status >= 500:
                return await self._refused("", err)
            log.info("discord: an edit of %s was dropped: %s", "an ephemeral message" if hook else edit_ref, err)
            return Delivery("failed", error=str(err))
        return Delivery.sent(edit_ref)

    async def _messageable(self, chat_id: str) -> PartialMessageable | discord.TextChannel | discord.DMChannel | discord.Thread:
        """Where to send, with no request of its own: a cached channel, else a partial one by id; `user:<id>`
        opens that user's DM channel the first time (POST /users/@me/channels) and stores its id for them."""
        if not chat_id.startswith(DM_ADDRESS):
            channel = self.bot.get_channel(int(chat_id))
            if isinstance(channel, (discord.TextChannel, discord.DMChannel, discord.Thread)):
                return channel
            kind = discord.ChannelType.private if chat_id in self.bot.dm_channels else None
            return self.bot.get_partial_messageable(int(chat_id), type=kind)
        user_id = chat_id.removeprefix(DM_ADDRESS)
        channel_id = self.bot.dms.get(user_id)
        if channel_id is None:
            channel_id = str((await self.bot.http.start_private_message(int(user_id)))["id"])
            self.bot.dms[user_id] = channel_id
            await self.app.services.users.opened_private_chat("discord", user_id, chat_id, channel_id)
        self.bot.dm_channels.add(channel_id)
        return self.bot.get_partial_messageable(int(channel_id), type=discord.ChannelType.private)

    async def _refused(self, chat_id: str, err: discord.HTTPException) -> Delivery:
        """What Discord's refusal means for the outbox. 50007 on a DM: the user closed their DMs (the outbox
        marks them). Any other 403/404 is about the channel, never the user: a server channel stops being
        used for a while and the server's moderators are told. A 429 or 5xx: later, after the backoff."""
        if err.status == 429:
            retry_after, everything = await limit_of(err)
            delay = self.backoff.refused(retry_after, everything)
            log.warning("discord: rate limited (%s); sends to %s wait %.1fs", "all" if everything else "one route", chat_id, delay)
            return Delivery("retry", retry_after=delay, error=str(err))
        if err.status >= 500:
            return Delivery("retry", retry_after=self.backoff.refused(None, False), error=str(err))
        if err.code == CANNOT_DM:
            return Delivery("blocked", error=str(err))
        if err.status in (403, 404):
            if chat_id.startswith(DM_ADDRESS) or chat_id in self.bot.dm_channels:
                self.bot.dms = {u: c for u, c in self.bot.dms.items() if c != chat_id}  # a stale DM: opened again next time
            elif await self.app.services.users.is_private_chat("discord", chat_id):  # a DM this process never saw
                self.bot.dm_channels.add(chat_id)
            elif err.code == UNKNOWN_MESSAGE:  # a message gone (or ephemeral), the channel fine
                log.warning("discord: a message in %s is unknown: %s", chat_id, err)
            else:
                await self._channel_lost(chat_id, err)
            return Delivery("failed", error=str(err))
        log.warning("discord: delivery to %s failed: %s", chat_id, err)
        return Delivery("failed", error=str(err))

    async def _channel_lost(self, chat_id: str, err: discord.HTTPException) -> None:
        """A server channel refused the bot (no access, no permission, deleted): stop posting there for a while and
        tell the configured Discord moderators and, when the server is known, its owner, in their DMs."""
        self._lost[chat_id] = time.monotonic() + LOST_CHANNEL_SECONDS
        log.warning("discord: channel %s refused the bot (%s); not used for %ds", chat_id, err, LOST_CHANNEL_SECONDS)
        channel, server, owner = await self._server_of(chat_id)
        moderators = set(self.moderators) | ({owner} if owner is not None else set())
        reason = f"{err.status} {err.text}".strip()[:200]
        names: dict[str, Param] = {"channel": channel or chat_id, "server": server or "?", "reason": reason,
                                   "count": Count(LOST_CHANNEL_SECONDS // 60)}
        outbox = self.app.notices.outbox
        day = datetime.now(UTC).date().isoformat()
        for moderator in sorted(moderators):
            await outbox.put_chat("discord", f"{DM_ADDRESS}{moderator}", Reply.of(Msg("discord.channel.lost", names)),
                                  "notice", key=f"channel-lost:discord:{chat_id}:{moderator}:{day}")

    async def _server_of(self, chat_id: str) -> tuple[str | None, str | None, str | None]:
        """A server channel's name, its server's name and its owner's id: from the cache where the gateway filled it,
        else asked of Discord (a process without the gateway, e.g. a fleet's sender; a channel the bot may still
        read, when it only may not post there); None for what Discord would not say."""
        channel = self.bot.get_channel(int(chat_id))
        guild = getattr(channel, "guild", None)
        if guild is not None:
            owner = str(guild.owner_id) if guild.owner_id is not None else None
            return getattr(channel, "name", None), guild.name, owner
        try:
            found: dict[str, Any] = dict(await self.bot.http.get_channel(int(chat_id)))
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError):  # no access to it either, or gone
            return None, None, None
        name, guild_id = found.get("name"), found.get("guild_id")
        try:
            server: dict[str, Any] | None = None if guild_id is None else dict(await self.bot.http.get_guild(int(guild_id)))
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError):
            server = None
        if server is None:
            return name, None, None
        return name, server.get("name"), str(server["owner_id"]) if server.get("owner_id") is not None else None

    @property
    def moderators(self) -> frozenset[str]:
        return self.app.services.announcements.config.discord_moderators
