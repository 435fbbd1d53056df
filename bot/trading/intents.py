"""The vocabulary of the intent pipeline: states, the order they move in, and what an intent holds.

An intent is stored before anything is signed. Its state only moves forward:

    quoted ─▶ confirmed ─▶ signed ─▶ sent ─▶ mined
       │           │          │        ├──▶ reverted
       ▼           ▼          ▼        ├──▶ dropped
    cancelled / expired   (a quote …)  └──▶ held ─▶ sent (the operator released it)

`quoted`: shown with Confirm / Cancel. `confirmed`: the user pressed Confirm (a second press, on any device,
finds it no longer `quoted` and sends nothing). `signed`: every transaction is signed and stored with its
hash, before broadcast. `sent`: broadcast at least once. Terminal: mined, reverted, dropped, cancelled,
expired. Connected wallets skip `signed`: the user's wallet signs and the page reports the hash (`sent`);
a connected intent whose signing link expired before any hash came moves `confirmed` → `expired`.
`held`: the node answered something other than what was signed for one of its transactions (a hostile or broken
RPC, bot.trading.follow): nothing is done for it automatically any more (not followed, not replaced, not
reconciled at start-up) until the operator looks (`indexbot intents --held`) and releases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class State(str, Enum):
    QUOTED = "quoted"
    CONFIRMED = "confirmed"
    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    REVERTED = "reverted"
    DROPPED = "dropped"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    HELD = "held"  # for the operator: the node's answer differed from what was signed

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({State.MINED, State.REVERTED, State.DROPPED, State.CANCELLED, State.EXPIRED})
UNFINISHED = frozenset({State.CONFIRMED, State.SIGNED, State.SENT})

# state -> the states it may move to; anything else is refused by the repository
FORWARD: dict[State, frozenset[State]] = {
    State.QUOTED: frozenset({State.CONFIRMED, State.CANCELLED, State.EXPIRED}),
    State.CONFIRMED: frozenset({State.SIGNED, State.SENT, State.CANCELLED, State.DROPPED, State.EXPIRED}),
    State.SIGNED: frozenset({State.SENT, State.DROPPED, State.HELD}),
    State.SENT: frozenset({State.MINED, State.REVERTED, State.DROPPED, State.HELD}),
    State.HELD: frozenset({State.SENT}),  # released by the operator: followed again at the next start
}


def may_move(old: State, new: State) -> bool:
    return new in FORWARD.get(old, frozenset())


@dataclass(frozen=True)
class Intent:
    id: int
    user_id: int
    address: str  # the sender, checksummed
    kind: str
    chain_id: int
    params: dict[str, Any]
    state: State
    quote_expires_at: int
    platform: str
    chat_id: str
    message_ref: str | None
    result: dict[str, Any] | None

    @property
    def connected(self) -> bool:
        """Signed and sent by the user's own wallet (through a signing link), not by the bot."""
        return self.params.get("wallet") == "connected"
