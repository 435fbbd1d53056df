"""What the pipeline answers: where an intent stands (`TradeStatus`), and which wallet a user's trades come from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.trading.intents import Intent

Stage = Literal["signing", "submitted", "pending", "retrying", "mined", "reverted", "dropped", "expired", "held"]

FaultHook = Callable[[str], Awaitable[None]]
MinedHook = Callable[[Intent], Awaitable[None]]  # told of every intent that ended mined (bot.delivery.alerts.cooldowns)


@dataclass(frozen=True)
class TradeStatus:
    intent: Intent
    stage: Stage
    tx_hash: str | None = None  # the transaction that does the trade (swap or transfer)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.stage in ("mined", "reverted", "dropped", "expired", "held")  # held: no automatic follow-up


@dataclass(frozen=True)
class Sender:
    """The wallet a user's trades come from: their connected wallet when they have one, else the bot's."""

    kind: Literal["connected", "custodial"]
    address: str
