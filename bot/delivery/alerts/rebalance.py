"""Rebalance alerts: follow every index token's StartRebalance / SetTokenset / EndRebalance events and tell
each subscriber of that index what changed.

`RebalanceWatcher.check()` (the `alerts:rebalance` job) reads the head and then, in one `eth_getLogs` for all
index tokens, the blocks from a few behind the stored cursor (`reorg_depth`) to the head; that is all it costs
when nothing happened (never before the block where watching began). Events are stored once by (tx hash, log index) with the cursor, then handled in order:

- EndRebalance: the rebalance is over. "Before" is the state at the block before its StartRebalance,
  "after" the state at the EndRebalance block (`Market.snapshot_at`): each constituent's weight before and
  after (tokenset amounts × feed prices, `bot.market.engine.basket.weights`), constituents added and removed, and
  NAV per token before and after.
- SetTokenset outside a rebalance (no open StartRebalance, `rebalancing()` false at its block): the same
  message, before = the block before it.
- StartRebalance, or a SetTokenset inside a rebalance: nothing to say yet.
- A fee collection is not a rebalance: the protocol's fee manager calls `collectFeeTokenset()` about once a day,
  which emits SetBasket, SetFeeTokenset and SetTokenset in one transaction and shrinks every amount by the daily
  fee. A SetTokenset whose transaction also emitted its token's SetFeeTokenset tells nobody anything (the fee is
  shown in /indexes).
- Deployments from before July 2026 emit no StartRebalance / EndRebalance: their rebalance only flips
  `rebalancing()`. A SetTokenset seen with `rebalancing()` true and no StartRebalance stored stays open until an
  EndRebalance arrives (it tells then) or `rebalancing()` reads false at the token's cursor; the block where it
  turned false (bisected, one `eth_call` each) is "after", the block before the SetTokenset "before", and the
  window's other events are closed with it: one alert per rebalance.

Subscribers: users whose live wallets (custodial or connected) hold or stake the index at the "after" block
(read in batches of `wallet_batch` wallets, one Multicall3 call each), plus users with a price alert on it. Each
gets `outbox.put(user, reply, "rebalance", key="rebalance:<token>:<tx>:<user>")`, so a crash in the middle of a
fan-out, or a re-run, tells nobody twice; the event is marked done after the fan-out. On a fresh database the
cursor starts at the head (`start()`, run at start-up): past rebalances are not announced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from bot.chain import protocol as p
from bot.delivery.alerts.config import AlertsConfig
from bot.chain.client import Call, Chain
from bot.core.messages import Msg, Pct, Reply, Usd
from bot.market.engine.basket import weights
from bot.market.quotes import IndexState, Market
from bot.delivery.outbox import Outbox
from bot.chain.profile import IndexRef, Profile
from bot.storage.market_alerts import EventKind, PriceAlertRows, RebalanceEvent, RebalanceRows

log = logging.getLogger(__name__)


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TOPICS: dict[str, EventKind] = {
    _topic("StartRebalance()"): "start",
    _topic(f"SetTokenset({p.TOKEN_STRUCT}[])"): "tokenset",
    _topic("EndRebalance()"): "end",
    _topic(f"SetFeeTokenset({p.TOKEN_STRUCT}[])"): "fee",
}


@dataclass(frozen=True)
class Change:
    """What a rebalance did to one index (the data of the alert)."""

    index: str
    before_block: int
    after_block: int
    weights_before: dict[str, Decimal]
    weights_after: dict[str, Decimal]
    nav_before: Decimal
    nav_after: Decimal

    @property
    def added(self) -> list[str]:
        return sorted(set(self.weights_after) - set(self.weights_before))

    @property
    def removed(self) -> list[str]:
        return sorted(set(self.weights_before) - set(self.weights_after))


def change_of(index: str, before: IndexState, before_prices: dict[str, Decimal], before_block: int,
              after: IndexState, after_prices: dict[str, Decimal], after_block: int) -> Change:
    return Change(index, before_block, after_block, weights(before.tokenset, before_prices), weights(after.tokenset, after_prices),
                  before.nav, after.nav)


def rebalance_reply(c: Change) -> Reply:
    """The alert: weights before → after (biggest after first, removed ones last), additions, removals, NAV."""
    lines = [Msg("rebalance.title", {"index": c.index}, style="title")]
    for symbol in sorted(c.weights_after, key=lambda s: c.weights_after[s], reverse=True):
        after = Pct(c.weights_after[symbol], 2)
        if symbol in c.weights_before:
            lines.append(Msg("rebalance.weight", {"symbol": symbol, "before": Pct(c.weights_before[symbol], 2), "after": after}))
        else:
            lines.append(Msg("rebalance.weight_added", {"symbol": symbol, "after": after}))
    for symbol in sorted(c.removed, key=lambda s: c.weights_before[s], reverse=True):
        lines.append(Msg("rebalance.weight_removed", {"symbol": symbol, "before": Pct(c.weights_before[symbol], 2)}))
    if c.added:
        lines.append(Msg("rebalance.added", {"symbols": ", ".join(c.added)}))
    if c.removed:
        lines.append(Msg("rebalance.removed", {"symbols": ", ".join(c.removed)}))
    if not c.added and not c.removed:
        lines.append(Msg("rebalance.same_constituents"))
    effect = c.nav_after / c.nav_before - 1 if c.nav_before else Decimal(0)
    lines.append(Msg("rebalance.nav", {"before": Usd(c.nav_before, 4), "after": Usd(c.nav_after, 4), "change": Pct(effect, 4, signed=True)}))
    lines.append(Msg("rebalance.blocks", {"before": c.before_block, "after": c.after_block}))
    lines.append(Msg("rebalance.why", {"index": c.index}))
    return Reply.of(*lines)


class RebalanceWatcher:
    def __init__(self, rows: RebalanceRows, alerts: PriceAlertRows, chain: Chain, market: Market, profile: Profile,
                 outbox: Outbox, config: AlertsConfig) -> None:
        self._rows = rows
        self._alerts = alerts
        self._chain = chain
        self._market = market
        self._profile = profile
        self._outbox = outbox
        self._config = config
        self._by_token = {ref.token.address: ref for ref in profile.indexes}

    async def start(self) -> None:
        """Give every index token without a cursor one at the head (start-up: past rebalances are not news)."""
        cursors = await self._rows.cursors()
        missing = [t for t in self._by_token if t not in cursors]
        if missing:
            await self._rows.store([], missing, await self._chain.block_number())

    async def check(self) -> int:
        """Read new events and tell subscribers of finished rebalances; how many messages were queued."""
        await self.scan()
        queued = 0
        for event in await self._rows.open_events():
            try:
                queued += await self._handle(event)
            except Exception:  # one unreadable event must not hold up the others; it is tried again next time
                log.exception("rebalance event %s:%s of %s could not be handled", event.tx_hash, event.log_index, event.token)
        return queued

    async def scan(self) -> int:
        """Store the events from `reorg_depth` blocks behind the cursor up to the head; how many were new."""
        head = await self._chain.block_number()
        cursors = await self._rows.cursors()
        tokens = list(self._by_token)
        if any(t not in cursors for t in tokens):
            await self.start()
            cursors = await self._rows.cursors()
        start = max(min(cursors[t][1] for t in tokens), min(cursors[t][0] for t in tokens) + 1 - self._config.reorg_depth)
        new = 0  # window by window through the chain's chunked log reader, each stored with the cursor
        async for window in self._chain.log_reader.windows([to_checksum_address(t) for t in tokens], [list(TOPICS)], start, head):
            new += await self._rows.store([_event(log) for log in window.logs], tokens, window.last)
        return new

    async def _handle(self, event: RebalanceEvent) -> int:
        ref = self._by_token.get(event.token)
        if ref is None or event.kind in ("start", "fee"):
            await self._rows.done(event)
            return 0
        started = await self._rows.started_at(event)
        if event.kind == "tokenset":
            if await self._rows.fee_collection(event):  # the daily fee, not a rebalance: nothing to tell
                log.info("fee collection of %s at block %s: no alert", ref.symbol, event.block)
                await self._rows.done(event)
                return 0
            if started is not None:  # inside a rebalance: its end tells
                await self._rows.done(event)
                return 0
            snap, _ = await self._market.snapshot_at(event.block)
            if snap.indexes[ref.symbol].rebalancing:  # a start we did not see: before our cursor, or no such event
                return await self._unannounced(ref, event)
            before_block = event.block - 1
        else:
            first = started if started is not None else await self._rows.first_tokenset_since(event, 0)
            before_block = (first if first is not None else event.block) - 1
        queued = await self._tell(ref, event, max(0, before_block))
        await self._rows.done(event)
        return queued

    async def _unannounced(self, ref: IndexRef, event: RebalanceEvent) -> int:
        """A SetTokenset inside a rebalance whose StartRebalance was not seen: told at its EndRebalance if one
        comes, else (a deployment without those events) once `rebalancing()` reads false; open until then."""
        if await self._rows.end_after(event):
            await self._rows.done(event)
            return 0
        end = await self._rebalance_end(ref, event.block)
        if end is None:  # still rebalancing: asked again at the next check
            return 0
        queued = await self._tell(ref, event, max(0, event.block - 1), after_block=end)
        await self._rows.done_through(ref.token.address, end)
        return queued

    async def _rebalance_end(self, ref: IndexRef, since: int) -> int | None:
        """The first block after `since` where `rebalancing()` is false, up to the last block whose events are
        stored (its cursor: an EndRebalance up to there would have been seen); None while true."""
        head = (await self._rows.cursors())[ref.token.address][0]

        async def rebalancing(block: int) -> bool:
            (value,) = await self._chain.call(ref.token.address, p.REBALANCING, block=block)
            return bool(value)

        if await rebalancing(head):
            return None
        lo, hi = since, head  # rebalancing at lo, not at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if await rebalancing(mid) else (lo, mid)
        return hi

    async def _tell(self, ref: IndexRef, event: RebalanceEvent, before_block: int, after_block: int | None = None) -> int:
        after_block = event.block if after_block is None else after_block
        before, _ = await self._market.snapshot_at(before_block)
        after, _ = await self._market.snapshot_at(after_block)
        change = change_of(ref.symbol, before.indexes[ref.symbol], before.prices, before_block,
                           after.indexes[ref.symbol], after.prices, after_block)
        reply = rebalance_reply(change)
        users = await self.holders(ref, after_block) | await self._alerts.users_watching(ref.symbol)
        queued = 0
        for user in sorted(users):
            if await self._outbox.put(user, reply, "rebalance", key=f"rebalance:{ref.token.address}:{event.tx_hash}:{user}") is not None:
                queued += 1
        log.info("rebalance of %s at block %s: %d subscribers, %d messages queued", ref.symbol, after_block, len(users), queued)
        return queued

    async def holders(self, ref: IndexRef, block: int) -> set[int]:
        """Users whose live wallets hold or stake `ref` at `block`."""
        tokens = [ref.token.address] + ([ref.staking.address] if ref.staking is not None else [])
        users: set[int] = set()
        after = 0
        while True:
            batch = await self._rows.wallets(after, self._config.wallet_batch)
            if not batch:
                return users
            calls = [Call(t, p.BALANCE_OF, (address,)) for _, _, address in batch for t in tokens]
            results = iter(await self._chain.multicall(calls, block=block))
            for _, user, _ in batch:
                if any([r.ok and int(r.one()) > 0 for r in (next(results) for _ in tokens)]):
                    users.add(user)
            after = batch[-1][0]


def _event(log: Any) -> RebalanceEvent:
    topic = log["topics"][0]
    topic_hex = topic.to_0x_hex() if hasattr(topic, "to_0x_hex") else str(topic)
    tx = log["transactionHash"]
    tx_hex = tx.to_0x_hex() if hasattr(tx, "to_0x_hex") else str(tx)
    return RebalanceEvent(to_checksum_address(log["address"]), int(log["blockNumber"]), tx_hex, int(log["logIndex"]), TOPICS[topic_hex])
