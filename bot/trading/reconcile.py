"""Start-up reconciliation: every intent a previous run left unfinished is checked against the chain.

`confirmed` without stored transactions never got as far as signing: it is cancelled (nothing was sent);
a connected wallet's `confirmed` intent waits for its wallet's hashes: it is followed again, and expires
(with a message) once its signing link has.
First, a nonce gap below a wallet's transactions in flight is repaired (bot.trading.gaps).
`signed` or `sent`: one follower pass settles what is mined or reverted and re-broadcasts what the node does
not know; what is still pending is followed in the background. Each user is told the outcome.
In a fleet (several processes on PostgreSQL) a process that starts leaves alone the intents another live process
carries (their owner lock is held, bot.trading.jobs) and owns those it reconciles until they are told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.chain.client import ChainUnavailable
from bot.trading.executor import Executor
from bot.trading.status import TradeStatus
from bot.trading.gaps import repair_gaps, replay_lost
from bot.trading.intents import Intent, State
from bot.trading.present import interrupted_reply, status_reply

log = logging.getLogger(__name__)


async def reconcile(desk: Executor, owns: Callable[[Intent], bool] | None = None) -> list[TradeStatus | None]:
    """Settle or resume every unfinished intent (those `owns` says are this executor's: its chain's); returns
    what each came to (None: still being followed)."""
    outcomes: list[TradeStatus | None] = []
    mine = [i for i in await desk.intents.unfinished() if owns is None or owns(i)]
    if desk.ownership is not None:  # a fleet: another live process carries some (bot.trading.jobs); not those
        mine = [i for i in mine if await desk.ownership.claim(i.id)]
    await replay_lost(desk)  # a devnet that lost its last blocks gets our transactions from them again
    await repair_gaps(desk, mine)  # a nonce gap is repaired before anything is followed, never waited on
    for intent in mine:
        try:
            outcomes.append(await _settle(desk, intent))
        finally:
            if desk.ownership is not None and not desk.follower.following(intent.id):
                await desk.ownership.let_go(intent.id)  # else its follower lets go once the outcome is told
    return outcomes


async def _settle(desk: Executor, intent: Intent) -> TradeStatus | None:
    """Cancel, settle or resume one unfinished intent and tell its user what is final."""
    cancelled = await cancel_unsigned(desk, intent)
    if cancelled is not None:
        if cancelled:
            await _tell(desk, intent.user_id, intent.platform, intent.chat_id, intent.message_ref, None)
        return None
    status = await check_once(desk, intent)
    log.info("reconciled intent %s (%s): %s", intent.id, intent.state.value, status.stage if status else "pending")
    if status is not None and status.final:
        await _tell(desk, intent.user_id, intent.platform, intent.chat_id, intent.message_ref, status)
    else:
        desk.follower.watch(intent.id, announced=True)
    return status


async def cancel_unsigned(desk: Executor, intent: Intent) -> bool | None:
    """A custodial intent confirmed and never signed (its process died before storing anything) is cancelled:
    nothing was sent. True when this call cancelled it (its user is to be told), False when it was moved
    meanwhile, None when it is no such intent (it is followed instead)."""
    if intent.state is not State.CONFIRMED or intent.connected or await desk.intents.txs(intent.id):
        return None
    return await desk.intents.move(intent.id, State.CONFIRMED, State.CANCELLED, result={"refused": "interrupted"})


async def check_once(desk: Executor, intent: Intent) -> TradeStatus | None:
    """One follower pass over a signed or sent intent: settles what is mined or reverted, broadcasts again what
    the node does not know (the stored raw bytes, never re-signed). None while it is pending or the RPC is down."""
    try:
        return await desk.follower.check(intent.id)
    except ChainUnavailable:
        return None


async def _tell(desk: Executor, user_id: int, platform: str, chat_id: str, ref: str | None, status: TradeStatus | None) -> None:
    reply = interrupted_reply() if status is None else status_reply(status, desk.profile, desk.kinds)
    try:
        await desk.notifier.tell(user_id, platform, chat_id, reply, ref)
    except Exception:  # noqa: BLE001 - the outcome is stored; a failed notice is logged, not fatal
        log.exception("could not tell user %s about intent outcome", user_id)
