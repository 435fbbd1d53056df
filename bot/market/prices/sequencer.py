"""An L2 sequencer uptime feed (Chainlink's on Base): answer 0 = up, 1 = down; `startedAt` = when that status
began. While the sequencer is down, and for a grace period after it comes back (default 1 h), prices are not
trusted for trading: quotes say so and trades are refused. An unreadable feed counts as down ("unknown").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.chain import protocol as p
from bot.chain.client import Call, Result

DEFAULT_GRACE = 3600
SequencerState = Literal["up", "down", "grace", "unknown"]


@dataclass(frozen=True)
class SequencerStatus:
    state: SequencerState
    since: int  # when the current status began (0 when unknown)
    grace_until: int  # when trading resumes after a restart (0 unless in grace)

    @property
    def trading(self) -> bool:
        return self.state == "up"


@dataclass(frozen=True)
class SequencerFeed:
    feed: str
    grace_seconds: int = DEFAULT_GRACE

    def calls(self) -> list[Call]:
        return [Call(self.feed, p.LATEST_ROUND)]

    def read(self, result: Result, now: int) -> SequencerStatus:
        if not result.ok or int(result.values[2]) == 0:  # startedAt 0: a round not yet initialised
            return SequencerStatus("unknown", 0, 0)
        answer, started = int(result.values[1]), int(result.values[2])
        if answer != 0:
            return SequencerStatus("down", started, 0)
        if now - started < self.grace_seconds:
            return SequencerStatus("grace", started, started + self.grace_seconds)
        return SequencerStatus("up", started, 0)
