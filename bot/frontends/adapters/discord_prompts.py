"""Questions on Discord: a question's Answer button opens a modal (one text field), and a plain message in a DM
answers it too; the router decides whether a question is open and who may answer it.

The Answer button is one of the router's buttons (`prompt.answer`); its press comes back as a reply that asks for
a form (`Rendered.modal`), which this module shows: a modal can only be the first response to a press, so a
gateway of a fleet answers that press itself instead of handing it over (`is_answer`).

Nothing of a form is kept in memory (discord.py would keep a `Modal` until it is sent, in the process that opened
it): its custom_id names the question (`f:<prompt>`), and the submit, wherever the gateway delivers it (another
process, after a restart), is read by that id (`sent_form`) and answered by the router from the question stored
for that user and channel, only if that question is still the open one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import discord

from bot.core.messages import Rendered
from bot.core.request import Request
from bot.core.router import PROMPT_ANSWER
from bot.storage.repositories import ButtonRows

TITLE_MAX, LABEL_MAX, VALUE_MAX = 45, 45, 200  # Discord's limits on a modal's title, a field's label; ours on an answer
FORM_ID = re.compile(r"f:(?P<prompt>[A-Za-z0-9_.-]{1,64})")  # a form's custom_id: the question it answers
FIELD_ID = "answer"  # the custom_id of a form's one field


class AnswerForm(discord.ui.Modal):
    """The question's field as a modal whose custom_id names the question (`f:<prompt>`). Stopped at once, so
    discord.py keeps nothing of it: its submit is handled by its custom_id (`sent_form`), in any process."""

    def __init__(self, field: str, prompt: str) -> None:
        super().__init__(title=field[:TITLE_MAX] or "\u200b", timeout=None, custom_id=f"f:{prompt}")
        self.add_item(discord.ui.TextInput(label=field[:LABEL_MAX] or "\u200b", style=discord.TextStyle.short,
                                           max_length=VALUE_MAX, required=True, custom_id=FIELD_ID))
        self.stop()


async def open_form(interaction: discord.Interaction[Any], rendered: Rendered) -> bool:
    """Show the question a press asked for as a modal; False when there is none to show, or it is too late."""
    ask = rendered.ask
    if not rendered.modal or ask is None or interaction.response.is_done() or FORM_ID.fullmatch(f"f:{ask.prompt}") is None:
        return False
    await interaction.response.send_modal(AnswerForm(ask.field, ask.prompt))
    return True


def sent_form(interaction: discord.Interaction[Any]) -> tuple[str, str] | None:
    """A submitted form of ours: the question it answers and the value typed; None for any other interaction."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    data: Mapping[str, Any] = interaction.data or {}
    found = FORM_ID.fullmatch(str(data.get("custom_id") or ""))
    if found is None:
        return None
    return found["prompt"], _field_value(data.get("components") or [])


def _field_value(components: Sequence[Mapping[str, Any]]) -> str:
    """The value of the field `FIELD_ID`, in an action row (or a label) as Discord sends it back."""
    for component in components:
        if component.get("custom_id") == FIELD_ID and isinstance(component.get("value"), str):
            return str(component["value"])
        inner = [*(component.get("components") or []), *([component["component"]] if component.get("component") else [])]
        value = _field_value(inner)
        if value:
            return value
    return ""


def answer_request(request: Request, prompt: str, value: str) -> Request:
    """The request of a sent form: its text is the answer to the question `prompt`, as if typed (never a command,
    never a press)."""
    text = value.strip()
    return replace(request, command=None, args=tuple(text.split()), text=text, text_length=len(text),
                   button_token=None, form=prompt)


def plain_request(request: Request, content: str) -> Request:
    """A plain DM message (no prefix command) as the router's request: a question's answer, if one is open."""
    return replace(request, command=None, args=tuple(content.split()), text=content.strip(),
                   text_length=len(content))


async def is_answer(buttons: ButtonRows, token: str) -> bool:
    """Whether a pressed token is a question's Answer button (a gateway of a fleet opens its form itself)."""
    row = await buttons.get(token[:64])
    return row is not None and row.action == PROMPT_ANSWER
