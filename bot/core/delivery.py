"""What a front end reports after trying to show one message: the outbox decides what happens next from it."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import Literal

Status = Literal["sent", "blocked", "retry", "failed", "unknown", "withdrawn"]
Leaving = Callable[[], Awaitable[bool]]  # called right before the request leaves; False: do not send it


class Withdrawn(Exception):
    """The outbox withdrew a message when its turn came (it was cancelled meanwhile): nothing was sent."""


@dataclass(frozen=True)
class Delivery:
    """`sent`: the platform took it (`ref` is its id). `blocked`: the user blocked the bot or the chat is gone.
    `retry`: refused for now (rate limit, platform down) and certainly not shown; try again after `retry_after`
    seconds. `failed`: refused for good (bad request). `unknown`: it may have been shown (a timeout after the
    request left): never sent again. `withdrawn`: the outbox took it back before it left (see `Leaving`)."""

    status: Status
    ref: str | None = None
    retry_after: float = 0.0
    error: str = ""

    @classmethod
    def sent(cls, ref: str) -> Delivery:
        return cls("sent", ref)

    @property
    def ok(self) -> bool:
        return self.status == "sent"
