"""Cooldown-end alerts: a message with a Claim button when an unstake's cooldown is over.

When an unstake (or `/boost remove`) is mined, the executor's mined hook calls `on_mined`: the cooldown end read
from `cooldownInfos` at that block becomes the user's watch for that staking token (a second unstake moves the
end for the whole pending amount, so it replaces the watch) and job `cooldown:<user>:<token>` is put at the
wall-clock estimate of the end. The end is chain time, and chain time can run ahead of the wall clock (on a
devnet `indexbot devnet advance 7d` moves it a week at once), so the estimate subtracts the chain clock's lead
(the latest block's timestamp minus now), and job `cooldowns:due` checks every `CHECK_SECONDS` whether the chain
has passed any open watch's end (one query and one `eth_call` for the block time).

Firing reads `cooldownInfos` again: an end that moved is re-scheduled; nothing cooling (claimed already) closes
the watch; otherwise the alert goes through the outbox with the key `cooldown:<user>:<token>:<end>`, so a job
that fires twice, or fires again after a restart, sends it once. Jobs are re-created from the watches at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.triggers.interval import IntervalTrigger

from bot.chain import protocol as p
from bot.chain.client import Call, Chain
from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Button, Msg, Reply, When
from bot.delivery.outbox import Outbox
from bot.chain.profile import Profile
from bot.delivery.schedule import Schedule
from bot.storage.cooldowns import CooldownWatch, CooldownWatchRows
from bot.trading.intents import Intent
from bot.trading.stake import target_of

log = logging.getLogger(__name__)

CHECK_JOB = "cooldowns:due"
CHECK_SECONDS = 20
CLAIM_ACTION = "cooldown.claim"  # handlers/cooldown.py: the Claim button, as `/claim <symbol> all`


def job_name(user_id: int, token: str) -> str:
    return f"cooldown:{user_id}:{token}"


class CooldownAlerts:
    def __init__(self, watches: CooldownWatchRows, chain: Chain, profile: Profile, outbox: Outbox, schedule: Schedule,
                 clock: Callable[[], float] = time.time) -> None:
        self.watches = watches
        self.chain = chain
        self.profile = profile
        self.outbox = outbox
        self.schedule = schedule
        self.clock = clock

    # -- producers -----------------------------------------------------------------------------------------

    async def on_mined(self, intent: Intent) -> None:
        """The executor's mined hook: a mined unstake starts (or moves) the watch of its staking token."""
        result = intent.result or {}
        if intent.kind != "unstake" or not result.get("cooling") or "cooling_end" not in result:
            return
        token, end = str(intent.params["staking"]), int(result["cooling_end"])
        await self.watches.watch(intent.user_id, token, intent.address, end)
        self._put_job(intent.user_id, token, end, await self.chain_lead())

    async def rebuild(self) -> None:
        """Start-up: the periodic check, and a job for every watch whose end was not told yet."""
        self.schedule.put(CHECK_JOB, IntervalTrigger(seconds=CHECK_SECONDS, timezone=UTC), self.check_due)
        lead = await self.chain_lead()
        for w in await self.watches.open():
            self._put_job(w.user_id, w.token, w.ends_at, lead)

    # -- timing --------------------------------------------------------------------------------------------

    async def chain_now(self) -> int:
        """The latest block's timestamp (chain time)."""
        (now,) = await self.chain.multicall([Call(self.profile.multicall3, p.BLOCK_TIMESTAMP)])
        return int(now.one())

    async def chain_lead(self) -> int:
        """How far chain time runs ahead of the wall clock (negative: behind, by up to a block on a live chain)."""
        return await self.chain_now() - int(self.clock())

    def _put_job(self, user_id: int, token: str, end: int, lead: int) -> None:
        at = datetime.fromtimestamp(max(end - lead, int(self.clock())) + 1, UTC)
        self.schedule.put(job_name(user_id, token), at, self.fire, user_id, token)

    # -- firing --------------------------------------------------------------------------------------------

    async def check_due(self) -> int:
        """The `cooldowns:due` job: fire every open watch whose end the chain has passed; how many alerts went out."""
        due = await self.watches.due(await self.chain_now())
        sent = 0
        for w in due:
            try:
                sent += await self.fire(w.user_id, w.token)
            except Exception:  # noqa: BLE001 - one watch failing must not hold up the others
                log.exception("cooldown alert for user %s token %s failed", w.user_id, w.token)
        return sent

    async def fire(self, user_id: int, token: str) -> int:
        """The `cooldown:<user>:<token>` job: tell the user their cooldown is over, if it is (1 when queued now)."""
        watch = await self.watches.get(user_id, token)
        if watch is None or not watch.open:
            return 0
        info, now = await self.chain.multicall(
            [Call(token, p.COOLDOWN_INFOS, (watch.address,)), Call(self.profile.multicall3, p.BLOCK_TIMESTAMP)])
        if not info.ok or not now.ok:
            return 0  # the next check tries again
        amount, end, chain_now = int(info.values[0]), int(info.values[1]), int(now.one())
        if amount == 0:
            await self.watches.forget(user_id, token, watch.ends_at)
            self.schedule.remove(job_name(user_id, token))
            return 0
        if end > chain_now:  # moved by a later unstake, or the estimate was early
            if end != watch.ends_at:
                await self.watches.watch(user_id, token, watch.address, end)
            self._put_job(user_id, token, end, chain_now - int(self.clock()))
            return 0
        queued = await self.outbox.put(user_id, self.alert(watch, amount, end), "cooldown",
                                       key=f"cooldown:{user_id}:{token}:{end}")
        await self.watches.notified(user_id, token, end)
        self.schedule.remove(job_name(user_id, token))
        return 1 if queued is not None else 0

    def alert(self, watch: CooldownWatch, amount: int, end: int) -> Reply:
        t = target_of(self.profile, watch.token)
        d = t.token.decimals
        line = Msg("cooldown.alert.ready", {"amount": Amount(from_base_units(amount, d), d), "symbol": t.symbol,
                                            "staked_symbol": t.staking.symbol, "end": When(end)})
        hint = Msg("cooldown.alert.hint", {"symbol": t.symbol})
        return Reply.of(line, hint, buttons=((Button(Msg("cooldown.alert.claim"), CLAIM_ACTION, (t.symbol,)),),))
