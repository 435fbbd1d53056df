"""Pending issuance and redemption requests, followed until their factory fills or cancels them.

A request's intent mines (`on_mined`, a hook of each chain's executor): an order row is made from its receipt.
`check` (the job `orders:watch`) asks each factory for the status of every pending order in one Multicall3 round
trip per chain; a completed one gets its fill (amount and price) from the Issuanced / Redemption log, the user's
trade message is edited to say so (through the outbox, keyed by the order, so a restart never tells it twice nor
loses it), and the row is settled. A cancellation mined by the user (`cancel_issue`, `cancel_redeem`) settles
its order at once; one the factory reports otherwise is told the same way. `sweep` at start-up makes the rows a
crash kept from being made. Nothing here depends on the bot running while the market opens: state is the chain's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from contextlib import aclosing
from typing import Any

from bot.chain import protocol as p
from bot.chain.client import Call, ChainUnavailable
from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.chain.logreader import LogsRefused
from bot.issuance import present
from bot.issuance.requests import CANCEL_KINDS, REQUEST_KINDS, quote_cancel
from bot.delivery.outbox import Outbox
from bot.storage.orders import Order, OrderRows
from bot.trading.executor import Executor
from bot.trading.intents import Intent, State

log = logging.getLogger(__name__)
WATCH_JOB = "orders:watch"
_FAILED = frozenset({State.CANCELLED, State.EXPIRED, State.REVERTED, State.DROPPED})  # a cancellation that did not happen


FilledHook = Callable[[Order, int, int, str, Decimal, int], Awaitable[None]]  # (order, amount out, price (18 decimals), fill's tx, gas USD, fill's block)


class Orders:
    def __init__(self, rows: OrderRows, desks: Mapping[str, Executor], outbox: Outbox) -> None:
        self.rows = rows
        self.desks = desks  # chain (profile name) -> its executor
        self.outbox = outbox
        self.filled_hooks: list[FilledHook] = []  # the composition root adds what follows a filled order (the ledger)

    async def on_mined(self, intent: Intent) -> None:
        if intent.kind in REQUEST_KINDS:
            await self.rows.record(intent)
        elif intent.kind in CANCEL_KINDS:
            order = await self.rows.get(int(intent.params["order_id"]))
            if order is not None and order.state == "pending":
                await self._settle(order, "cancelled", tx_hash=(intent.result or {}).get("tx_hash"))

    async def sweep(self) -> None:
        """Rows for mined requests that have none (a crash between the receipt and the row), and the hooks told of
        filled orders the ledger has no fill for (a crash between the fill and its record)."""
        intents = next(iter(self.desks.values())).intents  # one table, shared by every chain's executor
        for intent_id in await self.rows.unrecorded():
            intent = await intents.get(intent_id)
            if intent is not None:
                await self.rows.record(intent)
        unrecorded = [(o, o.amount_out, o.price, o.fill_tx) for o in await self.rows.filled_without_fill()
                      if o.amount_out is not None and o.price is not None and o.fill_tx is not None]
        blocks = await self._fill_blocks([o for o, *_ in unrecorded])
        for order, amount_out, price, fill_tx in unrecorded:
            await self._filled(order, amount_out, price, fill_tx, blocks.get(order.id, 0))

    async def _fill_blocks(self, orders: list[Order]) -> dict[int, int]:
        """Per order, the block its fill's transaction is in (its receipt; one batch per chain): the row keeps the
        fill's hash, not its block. An order whose receipt cannot be read now is left out (its fill is recorded at
        block 0, as before blocks were kept: older than any read of transfer detection, logged)."""
        blocks: dict[int, int] = {}
        by_chain: dict[str, list[Order]] = {}
        for order in orders:
            by_chain.setdefault(order.chain, []).append(order)
        for chain, group in by_chain.items():
            desk = self.desks.get(chain)
            try:
                got = await desk.chain.receipts([o.fill_tx for o in group if o.fill_tx]) if desk is not None else {}
            except ChainUnavailable:
                got = {}
            for order in group:
                receipt = got.get(order.fill_tx or "")
                if receipt is None:
                    log.warning("order %s: its fill's receipt is unreadable; its fill is recorded without its block", order.id)
                else:
                    blocks[order.id] = int(receipt["blockNumber"])
        return blocks

    async def check(self) -> int:
        """One pass over every pending order; the number settled."""
        settled = 0
        by_chain: dict[str, list[Order]] = {}
        for order in await self.rows.pending():
            by_chain.setdefault(order.chain, []).append(order)
        for chain, orders in by_chain.items():
            desk = self.desks.get(chain)
            if desk is None:
                log.warning("orders on chain %s, which this bot does not load: left pending", chain)
                continue
            try:
                settled += await self._check_chain(desk, orders)
            except ChainUnavailable:
                log.warning("chain %s unreachable: pending orders checked again next time", chain)
            except LogsRefused as exc:  # the provider refuses even one block's logs: the fills wait, others go on
                log.warning("chain %s: %s; pending orders checked again next time", chain, exc)
        return settled

    async def _check_chain(self, desk: Executor, orders: list[Order]) -> int:
        calls = [Call(desk.chain.multicall3, p.BLOCK_NUMBER)]  # the block the statuses are read at
        calls += [Call(o.factory, p.ISSUANCE_REQUEST if o.side == "issue" else p.REDEMPTION_REQUEST, (o.nonce,)) for o in orders]
        settled = 0
        completed: list[Order] = []
        at, *statuses = await desk.chain.multicall(calls)
        for order, res in zip(orders, statuses, strict=True):
            if not res.ok:
                continue
            user, _, status, _ = res.values
            if str(user).lower() != order.address.lower():
                log.error("order %s: factory nonce %s belongs to %s, not %s", order.id, order.nonce, user, order.address)
                continue
            if status == p.REQUEST_COMPLETED:
                completed.append(order)
            elif status == p.REQUEST_CANCELLED:  # by the user's Cancel or otherwise: told once (the outbox key)
                settled += await self._settle(order, "cancelled")
        fills = await self._fills(desk, completed, int(at.one())) if completed and at.ok else {}
        for order in completed:
            if order.id in fills:  # else its log is not served yet: next pass
                settled += await self._settle(order, "filled", *fills[order.id])
        return settled

    async def _fills(self, desk: Executor, orders: list[Order], at: int) -> dict[int, tuple[int, int, str, int]]:
        """Per order: (amount out, price, tx hash, block) from its factory's Issuanced / Redemption log, found at or before
        `at` (the block that said the orders were completed). One search per factory and side whatever the number of
        orders (their nonces as one topic list), through the chain's chunked log reader newest block first, stopping
        once every order of the group is found: a fill is usually recent, so a request pending for days still costs
        one eth_getLogs, and a provider's range cap is never exceeded."""
        groups: dict[tuple[str, str], list[Order]] = {}
        for order in orders:
            groups.setdefault((order.factory, order.side), []).append(order)
        found: dict[int, tuple[int, int, str, int]] = {}
        for (factory, side), group in groups.items():
            event = p.ISSUANCED if side == "issue" else p.REDEMPTION_DONE
            by_nonce = {"0x" + o.nonce.to_bytes(32, "big").hex(): o for o in group}
            windows = desk.chain.log_reader.windows(factory, [event, list(by_nonce)], min(o.requested_block for o in group), at,
                                                    newest_first=True)
            async with aclosing(windows):
                async for window in windows:
                    for entry in window.logs:
                        match = by_nonce.get("0x" + bytes(entry["topics"][1]).hex())
                        if match is None or match.id in found:
                            continue
                        data = bytes(entry["data"])
                        words = [int.from_bytes(data[i: i + 32], "big") for i in range(0, len(data), 32)]
                        found[match.id] = (words[2], words[3], "0x" + bytes(entry["transactionHash"]).hex(),
                                           int(entry["blockNumber"]))
                    if all(o.id in found for o in group):
                        break
        return found

    async def _settle(self, order: Order, state: str, amount_out: int | None = None, price: int | None = None,
                      tx_hash: str | None = None, block: int = 0) -> int:
        """Tell the user (once: keyed by the order), then settle the row (compare-and-set from pending)."""
        desk = self.desks.get(order.chain)
        reply: Reply = present.settled(order, state, amount_out, price, tx_hash, desk.profile if desk else None)
        await self.outbox.put_chat(order.platform, order.chat_id, reply, "trade", user_id=order.user_id,
                                   key=f"order:{order.id}:{state}", edit_ref=order.message_ref)
        settled = 1 if await self.rows.settle(order.id, state, amount_out, price, tx_hash if state == "filled" else None) else 0
        if state == "filled" and amount_out is not None and price is not None and tx_hash is not None:
            await self._filled(order, amount_out, price, tx_hash, block)
        return settled

    async def _filled(self, order: Order, amount_out: int, price: int, tx_hash: str, block: int) -> None:
        """Tell the hooks a factory filled the order at `block` (each records it once, keyed by the request's
        intent)."""
        desk = self.desks.get(order.chain)
        intent = await desk.intents.get(order.intent_id) if desk is not None else None
        gas = Decimal(str(((intent.result if intent is not None else None) or {}).get("gas_usd", "0")))
        for hook in self.filled_hooks:
            try:
                await hook(order, amount_out, price, tx_hash, gas, block)
            except Exception:  # noqa: BLE001 - a follower of fills must not change the order's outcome
                log.exception("filled hook failed for order %s", order.id)

    async def cancel(self, order_id: int, user_id: int, platform: str, chat_id: str) -> tuple[Executor, int]:
        """A cancellation intent for the user's pending order, ready to confirm: (its chain's executor, intent id)."""
        order = await self.rows.get(order_id)
        if order is None or order.user_id != user_id:
            raise UserError("error.orders.unknown")
        if order.state != "pending":
            raise UserError(f"error.orders.{order.state}", nonce=order.nonce)
        desk = self.desks.get(order.chain)
        if desk is None:
            raise UserError("error.orders.unknown")
        if order.cancel_intent is not None:
            earlier = await desk.intents.get(order.cancel_intent)
            if earlier is not None and earlier.state not in _FAILED:
                raise UserError("error.orders.cancelling", nonce=order.nonce)
        intent_id = await quote_cancel(desk, user_id, platform, chat_id, order)
        if not await self.rows.cancelling(order.id, intent_id, order.cancel_intent):
            await desk.cancel(intent_id, user_id)  # another press won: this one sends nothing
            raise UserError("error.orders.cancelling", nonce=order.nonce)
        return desk, intent_id

    def schedule(self, put: Any, every_seconds: float) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        put(WATCH_JOB, IntervalTrigger(seconds=every_seconds), self.check)
