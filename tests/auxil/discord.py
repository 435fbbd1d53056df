"""Discord users talking to the bot's real discord.py front end, whose REST calls the conftest's `rest` stand-in
answers: slash commands and button presses dispatched as the gateway would, and what the bot sent.

`Interactions` is a test file's users: who acts when a call names nobody, and where their DM with the bot is.
The copies of `slash` the Discord test files had differed in just those (and in spelling a DM as `guild=False`
or `guild_id=None`); each file takes the methods of its own `Interactions` under the names it used.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.app import App

from bot.frontends.adapters.discord import DiscordFrontend
from discord_fake import (
    APP_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    Call,
    FakeDiscord,
    autocomplete_payload,
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


# -- a user's journey: slash commands, presses, autocomplete and modals, in a DM or in the server --------------------

EPHEMERAL = 64  # the message flag of an answer only its user sees
MODAL = 9  # the interaction callback type that opens a modal
AUTOCOMPLETE_RESULT = 8  # the interaction callback type that answers an autocomplete
UPDATE_MESSAGE = 7  # the interaction callback type that edits the pressed message


@dataclass
class DiscordJourney:
    """`user` talking to the bot's front end `front` (its REST stand-in `rest`) in the server's channel, or in the
    DM when `guild` is False, in the Discord client language `locale`. `said` is every answer the user was shown."""

    front: DiscordFrontend
    rest: FakeDiscord
    user: dict[str, Any]
    guild: bool
    locale: str = "en-US"
    hidden: set[int] = field(default_factory=set)  # id() of the answers only the user sees (an edit keeps the flag)

    def is_hidden(self, call: Call) -> bool:
        return bool(call.flags & EPHEMERAL) or id(call) in self.hidden

    @property
    def guild_id(self) -> int | None:
        return GUILD_ID if self.guild else None

    @property
    def channel(self) -> int:
        return CHANNEL_ID if self.guild else DM_CHANNEL_ID

    def answers(self, since: int) -> list[Call]:
        """What the bot said through interactions from `since` on (callbacks, follow-ups, edits) with content."""
        return [c for c in self.rest.calls[since:] if c.method in ("POST", "PATCH") and c.content
                and c.path.startswith(("/interactions/", "/webhooks/"))]

    def message(self, call: Call) -> dict[str, Any]:
        """The message an answer became, as a later press quotes it (ephemeral when it was)."""
        body = call.body.get("data", call.body)
        return message_dict(body["content"], user_dict(APP_ID, "indexbot", bot=True), self.channel, guild_id=self.guild_id,
                            components=body.get("components"), flags=EPHEMERAL if self.is_hidden(call) else 0)

    async def _feed(self, payload: dict[str, Any]) -> list[Call]:
        since = len(self.rest.calls)
        await dispatched(lambda: self.front.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
        return self.rest.calls[since:]

    async def slash(self, name: str, **options: str) -> Call:
        """`/name` with `options`; the bot's last answer."""
        calls = await self._feed(slash_payload(name, options, self.user, locale=self.locale, guild_id=self.guild_id,
                                               channel_id=self.channel))
        said = [c for c in calls if c.method in ("POST", "PATCH") and c.content]
        assert said, f"/{name} got no answer"
        if said[-1].flags & EPHEMERAL or any(c.path.endswith("/callback") and c.flags & EPHEMERAL for c in calls):
            self.hidden.add(id(said[-1]))  # hidden, or the edit of a hidden deferral
        return said[-1]

    async def complete(self, name: str, focused: str, **options: str) -> list[tuple[str, str]]:
        """The user typing the option `focused` of `/name`: the (name, value) choices the autocomplete answered."""
        payload = autocomplete_payload(name, options, focused, self.user, locale=self.locale, guild_id=self.guild_id,
                                       channel_id=self.channel)
        [answer] = [c for c in await self._feed(payload) if c.path.endswith("/callback")]
        assert answer.body["type"] == AUTOCOMPLETE_RESULT
        return [(c["name"], c["value"]) for c in answer.body["data"]["choices"]]

    def labels(self, call: Call) -> dict[str, str]:
        """Each button's label -> its custom_id."""
        body = call.body.get("data", call.body)
        return {b["label"]: b["custom_id"] for row in body.get("components") or [] for b in row["components"]
                if b.get("type") == 2}

    async def press(self, call: Call, label: str, *, edits: bool = True) -> Call:
        """Press the button labelled `label` on the answer `call`; the bot's answer, which edits that message unless
        `edits` is False (or, for a question's Answer button, opens a modal)."""
        assert label in self.labels(call), f"no button {label!r} in {list(self.labels(call))}"
        payload = press_payload(self.labels(call)[label], self.message(call), self.user, locale=self.locale,
                                guild_id=self.guild_id)
        calls = await self._feed(payload)
        said = [c for c in calls if c.method in ("POST", "PATCH") and (c.content or c.body and c.body.get("type") == MODAL)]
        assert said, f"{label} got no answer"
        last = said[-1]
        edited = last.body.get("type") in (UPDATE_MESSAGE, MODAL) or last.method == "PATCH"
        if edits and not self.guild:
            assert edited, f"{label} posted a new message instead of editing: {last.body}"
        if last.flags & EPHEMERAL or (edited and self.is_hidden(call)):
            self.hidden.add(id(last))
        if self.guild:  # in the server, only the user sees what the press answers: a hidden message, or one edited
            assert self.is_hidden(last), f"{label} answered for all to read: {last.body}"
        return said[-1]

    async def submit(self, modal: Call, value: str, question: Call) -> Call:
        """Send the `modal` (opened from the answer `question`) with `value` in its one field; the bot's answer."""
        assert modal.body["type"] == MODAL, modal.body
        data = modal.body["data"]
        field = data["components"][0]["components"][0]
        payload = slash_payload("x", {}, self.user, locale=self.locale, guild_id=self.guild_id, channel_id=self.channel)
        payload.update(type=5, message=self.message(question), data={"custom_id": data["custom_id"], "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": value}]}]})
        calls = await self._feed(payload)
        said = [c for c in calls if c.method in ("POST", "PATCH") and c.content]
        assert said, f"the form with {value!r} got no answer"
        last = said[-1]
        deferred_hidden = any(c.path.endswith("/callback") and c.flags & EPHEMERAL for c in calls)
        edited = last.body.get("type") == UPDATE_MESSAGE or last.method == "PATCH"
        if last.flags & EPHEMERAL or deferred_hidden or (edited and self.is_hidden(question)):
            self.hidden.add(id(last))
        if self.guild:
            assert self.is_hidden(last), f"the form's answer for all to read: {last.body}"
        return last

    async def answer(self, question: Call, answer_label: str, value: str) -> Call:
        """Press the question's Answer button and send its modal with `value`; the bot's answer."""
        return await self.submit(await self.press(question, answer_label), value, question)


MODAL = 9  # the interaction callback type that opens a modal


@pytest.fixture(name="front")
async def attached_front(app: App, rest: FakeDiscord) -> AsyncIterator[DiscordFrontend]:
    """The logged-in front end, attached to the outbox as `indexbot run` attaches it (no gateway). A test module
    takes it by importing it."""
    frontend = DiscordFrontend(app, "test-token", guild_id=GUILD_ID)
    await frontend.bot.login("test-token")
    app.notices.attach(frontend)
    rest.calls.clear()
    try:
        yield frontend
    finally:
        await app.notices.detach(frontend)
        await frontend.bot.close()


def answered(rest: FakeDiscord, since: int) -> Call:
    """The bot's last answer through an interaction (callback, follow-up, edit of the deferral, a form opened) from
    `since` on."""
    said = [c for c in rest.calls[since:] if c.method in ("POST", "PATCH") and (c.content or c.body.get("type") == MODAL)
            and c.path.startswith(("/interactions/", "/webhooks/"))]
    assert said, "no answer"
    return said[-1]


async def in_server(acts: Interactions, front: DiscordFrontend, rest: FakeDiscord, name: str, **options: str) -> Call:
    """The slash command `name` of `acts`' user in the server's channel, and the bot's answer."""
    since = len(rest.calls)
    await acts.slash(front, name, **options)
    return answered(rest, since)
