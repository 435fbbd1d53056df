"""Discord users talking to the bot's real discord.py front end, whose REST calls the conftest's `rest` stand-in
answers: slash commands and button presses dispatched as the gateway would, and what the bot sent.

`Interactions` is a test file's users: who acts when a call names nobody, and where their DM with the bot is.
The copies of `slash` the Discord test files had differed in just those (and in spelling a DM as `guild=False`
or `guild_id=None`); each file takes the methods of its own `Interactions` under the names it used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.frontends.adapters.discord import DiscordFrontend
from discord_fake import (
    APP_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    Call,
    FakeDiscord,
    dispatched,
    message_dict,
    press_payload,
    slash_payload,
    user_dict,
)

ALICE = user_dict(940000000000000001, "alice")
BOB = user_dict(940000000000000002, "bob")

_UNSET: Any = object()


@dataclass(frozen=True)
class Interactions:
    """Slash commands and presses from `user` (unless a call names another), whose DM with the bot is
    `dm_channel`."""

    user: dict[str, Any]
    dm_channel: int = DM_CHANNEL_ID

    async def slash(self, front: DiscordFrontend, name: str, user: dict[str, Any] | None = None, *,
                    locale: str = "en-US", guild: bool = True, guild_id: int | None = _UNSET,
                    channel_id: int | None = None, permissions: str | None = None, **options: Any) -> None:
        """`/name` with `options`, in the server's channel, or in the DM when `guild_id` is None or `guild` False
        (`channel_id` overrides where); `permissions`: the member's permissions in the server, as Discord sends
        them."""
        if guild_id is _UNSET:
            guild_id = GUILD_ID if guild else None
        if channel_id is None:
            channel_id = CHANNEL_ID if guild_id else self.dm_channel
        payload = slash_payload(name, options, self.user if user is None else user, locale=locale, guild_id=guild_id,
                                channel_id=channel_id)
        if permissions is not None:
            payload["member"]["permissions"] = permissions
        await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]

    async def press(self, front: DiscordFrontend, custom_id: str, message: dict[str, Any],
                    user: dict[str, Any] | None = None) -> None:
        """A press of the button `custom_id` on `message`."""
        payload = press_payload(custom_id, message, self.user if user is None else user)
        await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]


ALICE_ACTS = Interactions(ALICE)
slash, press = ALICE_ACTS.slash, ALICE_ACTS.press


def last_sent(rest: FakeDiscord) -> Call:
    """The last message the bot sent (or edited)."""
    sent = rest.sent()
    assert sent, "nothing was sent"
    return sent[-1]


def synced(rest: FakeDiscord) -> list[dict[str, Any]]:
    """The slash commands the bot synced to the test server (its one sync)."""
    [sync] = rest.where("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    return list(sync.body)


def shown(text: str) -> str:
    """What a Discord user sees: markdown escapes (`\\-`, `\\*`) render as the bare character."""
    return re.sub(r"\\(.)", r"\1", text)


async def dm_slash(front: DiscordFrontend, rest: FakeDiscord, name: str, **options: Any) -> Call:
    """ALICE's `/name` in her DM with the bot; what the bot sent last."""
    await slash(front, name, guild_id=None, **options)
    return last_sent(rest)


async def dm_press(front: DiscordFrontend, rest: FakeDiscord, sent: Call, label: str, *, message_id: int | None = None) -> Call:
    """Press the button labelled `label` on the message `sent` became (its id `message_id`, else a fresh one);
    the bot's answer to the press."""
    body = sent.body.get("data", sent.body)
    components = body.get("components") or []
    custom_id = next(b["custom_id"] for row in components for b in row["components"] if b["label"] == label)
    message = message_dict(body["content"], user_dict(APP_ID, "indexbot", bot=True), DM_CHANNEL_ID, components=components)
    if message_id is not None:
        message["id"] = str(message_id)
    before = len(rest.calls)
    payload = press_payload(custom_id, message, ALICE, guild_id=None)
    await dispatched(lambda: front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    answers = [c for c in rest.calls[before:] if c.method in ("POST", "PATCH") and c.content]
    assert answers, "the press got no answer"
    return answers[-1]
