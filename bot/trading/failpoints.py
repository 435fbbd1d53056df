"""Failpoints: stop the process dead at a named point of the pipeline, to prove recovery for real.

`INDEXBOT_FAILPOINT=after_broadcast` makes the bot SIGKILL itself right after a transaction reaches the node
and before that is recorded; `after_store` right after the signed transactions are stored;
`snapshot_after_batch` in the daily points snapshot, right after a batch of wallets was read and stored (before
the rest and before the day is credited). Nothing else changes. Off unless the variable is set; meant for fault tests and drills, never for a production bot.
"""

from __future__ import annotations

import logging
import os
import signal

from bot.trading.status import FaultHook

POINTS = ("after_store", "after_broadcast", "snapshot_after_batch")
log = logging.getLogger(__name__)


def kill_at(point: str) -> FaultHook:
    if point not in POINTS:
        raise ValueError(f"unknown failpoint {point!r}; known: {', '.join(POINTS)}")

    async def hook(at: str) -> None:
        if at == point:
            log.critical("failpoint %s reached: killing the process", point)
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
