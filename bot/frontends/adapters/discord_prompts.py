"""Questions on Discord: a question's Answer button opens a modal (one text field), and a plain message in a DM
answers it too; the router decides whether a question is open and who may answer it.

The Answer button is one of the router's buttons (`prompt.answer`); its press comes back as a reply that asks for
a form (`Rendered.modal`), which this module shows: a modal can only be the first response to a press, so a
gateway of a fleet answers that press itself instead of handing it over (`is_answer`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import discord

from bot.core.messages import Rendered
from bot.core.request import Request
from bot.core.router import PROMPT_ANSWER
from bot.storage.repositories import ButtonRows

TITLE_MAX, LABEL_MAX, VALUE_MAX = 45, 45, 200  # Discord's limits on a modal's title, a field's label; ours on an answer
Submitted = Callable[[discord.Interaction[Any], str], Awaitable[None]]  # the client's handling of a sent form


class AnswerForm(discord.ui.Modal):
    """The question's field as a modal; what is sent goes to `submitted` (the client, then the router)."""

    def __init__(self, field: str, submitted: Submitted) -> None:
        super().__init__(title=field[:TITLE_MAX] or "\u200b", timeout=None)
        self.answer: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=field[:LABEL_MAX] or "\u200b", style=discord.TextStyle.short, max_length=VALUE_MAX, required=True)
        self.add_item(self.answer)
        self._submitted = submitted

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self._submitted(interaction, self.answer.value or "")


async def open_form(interaction: discord.Interaction[Any], rendered: Rendered, submitted: Submitted) -> bool:
    """Show the question a press asked for as a modal; False when there is none to show, or it is too late."""
    if not rendered.modal or rendered.ask is None or interaction.response.is_done():
        return False
    await interaction.response.send_modal(AnswerForm(rendered.ask.field, submitted))
    return True


def answer_request(request: Request, value: str) -> Request:
    """The request of a sent form: its text is the answer, as if typed (never a command, never a press)."""
    text = value.strip()
    return replace(request, command=None, args=tuple(text.split()), text=text, text_length=len(text),
                   button_token=None)


def plain_request(request: Request, content: str) -> Request:
    """A plain DM message (no prefix command) as the router's request: a question's answer, if one is open."""
    return replace(request, command=None, args=tuple(content.split()), text=content.strip(),
                   text_length=len(content))


async def is_answer(buttons: ButtonRows, token: str) -> bool:
    """Whether a pressed token is a question's Answer button (a gateway of a fleet opens its form itself)."""
    row = await buttons.get(token[:64])
    return row is not None and row.action == PROMPT_ANSWER
