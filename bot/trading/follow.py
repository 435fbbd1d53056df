"""Broadcast stored transactions and follow them to an outcome by following new blocks.

One pass (`check`) reads, in this order, the sender's mined nonce and then every candidate receipt of the
intent in one JSON-RPC batch (a replaced transaction stays a candidate: the original may still be mined).
A step with a receipt is settled; a step whose nonce the chain has used without any of its transactions is
dropped, once the node no longer knows them (a nonce read can run ahead of the receipts); a stored transaction the node does not know is broadcast again; one unmined for
`replace_after_seconds` is replaced with the same nonce and fees raised by `fee_bump_pct`. Between passes
the follower awaits the head tracker's next-block signal, never a sleep of its own.

A connected wallet's intent (`_check_wallet`) has nothing to re-broadcast or replace: its steps are the
hashes the wallet reported. Each mined step must be the transaction asked for (sender, target, calldata,
value) or the intent is dropped as a mismatch, never confirmed; a step with no hash when the signing link
has expired (plus `wallet_grace_seconds`) ends the intent (`expired` when nothing was sent); a hash whose
nonce the chain used for another transaction is reported as replaced, unless the one mined with that nonce is
the step asked for (a wallet's "speed up", which the signing page never hears of: adopted as the step); one
our node never saw is provisional (the page may still report the real one in its place): dropped only once it
has been unseen for `wallet_unseen_seconds` and the signing link has expired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError, Web3RPCError

from bot.core.reverts import revert_of
from bot.chain.client import ChainUnavailable
from bot.storage.intents import NewTx, TxRow, WalletTx
from bot.trading import connected as wallet
from bot.trading.intents import Intent, State
from bot.trading.kinds import Desk, KindRegistry
from bot.trading.ports import Notifier, Signers
from bot.trading.present import status_reply
from bot.trading.status import FaultHook, MinedHook, Stage, TradeStatus
from bot.trading.txs import Fees, UnsignedTx, unsigned_of

log = logging.getLogger(__name__)


class Pipeline(Desk, Protocol):
    """What the follower uses of its chain's executor: the kinds' desk, and signing, telling and the hooks."""

    signers: Signers
    notifier: Notifier
    kinds: KindRegistry
    fault: FaultHook
    mined_hooks: list[MinedHook]

    def sign(self, account: LocalAccount, tx: UnsignedTx, nonce: int, fees: Fees) -> tuple[bytes, str]: ...


def _error_text(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc).lower()


def node_has_it(exc: Exception) -> bool:
    """The node refused a broadcast because it holds that very transaction already (geth, anvil wordings)."""
    text = _error_text(exc)
    return "already known" in text or "already imported" in text


class Follower:
    def __init__(self, desk: Pipeline) -> None:
        self.desk = desk
        self._tasks: dict[int, asyncio.Task[TradeStatus]] = {}
        self._announced: set[int] = set()  # intents whose "submitted" reply went out: tell their outcome later
        self.on_end: Callable[[int], Awaitable[None]] | None = None  # a fleet's owner lets go (bot.trading.jobs)

    # -- broadcasting --------------------------------------------------------------------------------

    async def _send(self, row: TxRow) -> str:
        """Broadcast one stored transaction: "sent", "retrying" (no RPC answered) or "refused"."""
        assert row.raw_tx is not None
        try:
            await self.desk.chain.send_raw(row.raw_tx)
        except ChainUnavailable:
            return "retrying"
        except Web3RPCError as exc:
            text = _error_text(exc)
            if node_has_it(exc) or "nonce too low" in text:
                return "sent"  # known already, or mined: the receipts will tell
            log.warning("node refused tx %s of intent %s: %s", row.tx_hash, row.intent_id, text)
            return "refused"
        return "sent"

    async def broadcast(self, intent_id: int) -> Stage:
        """Send every stored, unsent transaction of the intent in nonce order; move it to `sent`."""
        rows = [r for r in await self.desk.intents.txs(intent_id) if r.state == "signed"]
        sent: list[int] = []
        outcome: Stage = "submitted"
        for row in rows:
            result = await self._send(row)
            if result != "sent":
                outcome = "retrying" if result == "retrying" else "dropped"
                break
            sent.append(row.id)
        await self.desk.fault("after_broadcast")  # a crash here: on the node, not yet recorded as sent
        await self.desk.intents.mark_sent(sent)
        if sent:
            await self.desk.intents.move(intent_id, State.SIGNED, State.SENT)
        if outcome == "dropped" and not sent:
            for row in rows:
                await self.desk.intents.settle_tx(row, "dropped", None)
            await self.desk.intents.move(intent_id, State.SIGNED, State.SENT)
            await self.desk.intents.move(intent_id, State.SENT, State.DROPPED, result={"reason": "refused"})
        return outcome

    # -- following -----------------------------------------------------------------------------------

    async def follow_inline(self, status: TradeStatus) -> TradeStatus:
        """Wait up to `inline_wait_seconds` for the outcome; otherwise keep following in the background and
        return the status as it is (the caller shows "submitted"; the outcome is told later)."""
        if status.final:
            return status
        task = self.watch(status.intent.id)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.desk.settings.inline_wait_seconds)
        except asyncio.TimeoutError:
            self._announced.add(status.intent.id)
            return status

    def watch(self, intent_id: int, announced: bool = False) -> asyncio.Task[TradeStatus]:
        """The one background task following this intent (started if needed); `announced`: tell the user
        the outcome when it comes."""
        if announced:
            self._announced.add(intent_id)
        task = self._tasks.get(intent_id)
        if task is None or task.done():
            task = asyncio.create_task(self._follow(intent_id), name=f"follow:intent:{intent_id}")
            self._tasks[intent_id] = task
        return task

    def following(self, intent_id: int) -> bool:
        """Whether a background task of this process follows the intent now."""
        task = self._tasks.get(intent_id)
        return task is not None and not task.done()

    async def _follow(self, intent_id: int) -> TradeStatus:
        started = time.monotonic()
        told_pending = False
        try:
            while True:
                seen = self.desk.head.head
                try:
                    status = await self.check(intent_id)
                except ChainUnavailable:
                    status = None
                if status is not None and status.final:
                    if intent_id in self._announced and status.intent.state is not State.CANCELLED:  # answered already
                        await self._tell(status)
                    return status
                if (not told_pending and intent_id in self._announced
                        and time.monotonic() - started > self.desk.settings.pending_notice_seconds):
                    told_pending = True
                    intent = await self.desk.intents.get(intent_id)
                    if intent is not None and not await self._waiting_for_wallet(intent):
                        await self._tell(TradeStatus(intent, "pending"))
                await self.desk.head.next_block(seen, timeout=self.desk.settings.retry_seconds)
        finally:
            self._tasks.pop(intent_id, None)
            self._announced.discard(intent_id)
            if self.on_end is not None:
                await self.on_end(intent_id)

    async def _waiting_for_wallet(self, intent: Intent) -> bool:
        """A connected wallet has steps still to send: the message shows the signing link; leave it."""
        if not intent.connected:
            return False
        sent = {r.step for r in await self.desk.intents.txs(intent.id)}
        return len(sent) < len(intent.params.get("requests") or [])

    async def _tell(self, status: TradeStatus) -> None:
        intent = status.intent
        if self.desk.kinds.of(intent.kind).owner_tells:  # told by the feature that made it (an order's outcome)
            return
        try:
            await self.desk.notifier.tell(
                intent.user_id, intent.platform, intent.chat_id, status_reply(status, self.desk.profile, self.desk.kinds), intent.message_ref
            )
        except Exception:  # noqa: BLE001 - a notice that cannot be delivered must not stop the follower
            log.exception("could not tell user %s about intent %s", intent.user_id, intent.id)

    async def check(self, intent_id: int) -> TradeStatus | None:
        """One pass over the intent's transactions; the final status, or None while it is still pending."""
        intent = await self.desk.intents.get(intent_id)
        if intent is None:
            return None
        if intent.state.terminal or intent.state is State.HELD:
            return TradeStatus(intent, _stage(intent.state), (intent.result or {}).get("tx_hash"), intent.result or {})
        rows = await self.desk.intents.txs(intent_id)
        if intent.connected:
            return await self._check_wallet(intent, rows)
        if not rows:
            return None
        mined_nonce = await self.desk.chain.nonce(intent.address, "latest")  # before the receipts: see the docstring
        candidates = [r for r in rows if r.state != "dropped"]
        receipts = await self.desk.chain.receipts([r.tx_hash for r in candidates])
        steps = sorted({r.step for r in rows})
        pending_steps: list[list[TxRow]] = []
        for step in steps:
            mine = [r for r in candidates if r.step == step]
            got = next((r for r in mine if r.tx_hash in receipts), None)
            if got is not None:
                receipt = receipts[got.tx_hash]
                if await self._settle(got, receipt) == "reverted":
                    return await self._finish(intent, State.REVERTED, await self._revert_result(got, receipt))
                continue
            live = [r for r in mine if r.live]
            if live and live[0].nonce is not None and mined_nonce > live[0].nonce and await self._known(live):
                pending_steps.append(live)  # the nonce read ran ahead of the receipts: the receipt is coming
                continue
            if not live or (live[0].nonce is not None and mined_nonce > live[0].nonce):
                for r in live:
                    await self.desk.intents.settle_tx(r, "dropped", None)
                self.desk.nonces.forget(intent.address)
                return await self._finish(intent, State.DROPPED, {"reason": "nonce used elsewhere"})
            pending_steps.append(live)
        if not pending_steps:
            return await self._finish(intent, State.MINED, await self._mined_result(intent, rows, receipts))
        await self._keep_moving(intent, pending_steps)
        held = await self.desk.intents.get(intent_id)
        if held is not None and held.state is State.HELD:
            return TradeStatus(held, "held", (held.result or {}).get("tx_hash"), held.result or {})
        return None

    async def _adopt_speed_up(self, intent: Intent, row: TxRow, asked: dict[str, Any]) -> bool:
        """A wallet's "speed up" (or cancel) sends another transaction with the step's nonce and never tells
        the signing page. If the one mined with that nonce is the step asked for, it is the step: recorded
        as replacing the reported hash. A cancel or anything else is not, and the step stays replaced."""
        assert row.nonce is not None
        found = await self.desk.chain.mined_with_nonce(intent.address, row.nonce)
        if found is None or not wallet.matches(found, intent.address, asked):
            return False
        tx_hash = "0x" + bytes(found["hash"]).hex()
        nonce, max_fee, tip = wallet.fees_of(found)
        sent = WalletTx(row.step, row.purpose, intent.address, tx_hash, nonce, max_fee, tip)
        outcome = await self.desk.intents.record_wallet_tx(intent.id, sent, row)
        log.info("intent %s step %s: the wallet sped it up as %s (%s)", intent.id, row.step, tx_hash, outcome)
        return outcome in ("recorded", "same")

    async def _known(self, live: list[TxRow]) -> bool:
        """Whether the node still has one of these transactions. One whose nonce the chain has used but whose
        receipt is not served yet (anvil while it mines, a load-balanced RPC whose nodes lag each other) is
        mined, not dropped: a transaction replaced by another with its nonce is gone from the node."""
        for r in live:
            if await self.desk.chain.transaction_known(r.tx_hash):
                return True
        return False

    async def _settle(self, row: TxRow, receipt: Any) -> str:
        """Record a mined step's outcome once; "mined" or "reverted"."""
        state = "mined" if int(receipt["status"]) == 1 else "reverted"
        self.desk.head.observe(int(receipt["blockNumber"]))  # later reads (the user's /positions next) see it too
        if row.state not in ("mined", "reverted"):
            await self.desk.intents.settle_tx(row, state, int(receipt["blockNumber"]))
        return state

    async def _check_wallet(self, intent: Intent, rows: list[TxRow]) -> TradeStatus | None:
        """One pass over a connected wallet's intent (see the module docstring)."""
        want: list[dict[str, Any]] = intent.params.get("requests") or []
        expiry = float(intent.params.get("link_expires_at", 0)) + self.desk.settings.wallet_grace_seconds
        late = self.desk.clock() > expiry
        if not rows:
            if late and intent.state is State.CONFIRMED:
                return await self._finish(intent, State.EXPIRED, {"reason": "link expired"})
            return None
        mined_nonce = await self.desk.chain.nonce(intent.address, "latest")  # before the receipts, as in `check`
        candidates = [r for r in rows if r.state != "dropped"]
        receipts = await self.desk.chain.receipts([r.tx_hash for r in candidates])
        for step, asked in enumerate(want):
            mine = [r for r in candidates if r.step == step]
            got = next((r for r in mine if r.tx_hash in receipts), None)
            if got is not None:
                receipt = receipts[got.tx_hash]
                state = await self._settle(got, receipt)
                found = await self.desk.chain.transaction(got.tx_hash)
                if found is None or not wallet.matches(found, intent.address, asked):
                    log.warning("intent %s step %s: the wallet's mined transaction is not the one asked for", intent.id, step)
                    return await self._finish(intent, State.DROPPED, {"reason": "mismatch", "tx_hash": got.tx_hash})
                if state == "reverted":
                    return await self._finish(intent, State.REVERTED, await self._revert_result(got, receipt))
                continue
            live = [r for r in mine if r.live]
            if not live:
                if late:
                    return await self._finish(intent, State.DROPPED, {"reason": "incomplete"})
                return None  # the wallet has not sent this step yet
            row = live[-1]
            if row.nonce is not None and mined_nonce > row.nonce and not await self._known(live):
                if await self._adopt_speed_up(intent, row, asked):
                    return await self._check_wallet(intent, await self.desk.intents.txs(intent.id))
                for r in live:
                    await self.desk.intents.settle_tx(r, "dropped", None)
                return await self._finish(intent, State.DROPPED, {"reason": "replaced", "tx_hash": row.tx_hash})
            unseen = row.sent_at is not None and self.desk.clock() - row.sent_at > self.desk.settings.wallet_unseen_seconds
            # a hash the node never saw is provisional while its link lives: the real one may still replace it
            if unseen and late and not await self.desk.chain.transaction_known(row.tx_hash):
                for r in live:
                    await self.desk.intents.settle_tx(r, "dropped", None)
                return await self._finish(intent, State.DROPPED, {"reason": "never seen", "tx_hash": row.tx_hash})
            return None
        return await self._finish(intent, State.MINED, await self._mined_result(intent, rows, receipts))

    async def _keep_moving(self, intent: Intent, pending: list[list[TxRow]]) -> None:
        """Re-broadcast what the node does not know; replace what is stuck."""
        unsent = [live[-1] for live in pending if live[-1].state == "signed"]
        if unsent:
            async with self.desk.nonces.lock(intent.address):
                await self.broadcast(intent.id)
            return
        now = self.desk.clock()
        for live in pending:
            row = live[-1]
            if not await self.desk.chain.transaction_known(row.tx_hash):
                if await self._send(row) == "sent":
                    log.info("re-broadcast %s of intent %s", row.tx_hash, intent.id)
                continue
            stuck = row.sent_at is not None and now - row.sent_at > self.desk.settings.replace_after_seconds
            replaced = sum(1 for r in await self.desk.intents.txs(intent.id) if r.step == row.step) - 1
            if stuck and replaced < self.desk.settings.max_replacements:
                await self._replace(intent, row)
                return  # one replacement per pass, in nonce order

    async def _replace(self, intent: Intent, row: TxRow) -> None:
        """Replace a stuck transaction with the same one at higher fees, rebuilt from our own signed bytes: what
        the node says the transaction is only ever compared with them, never signed. A node that answers
        something else for our hash (a hostile or broken RPC) raises the alarm and holds the intent."""
        node = await self.desk.chain.transaction(row.tx_hash)
        if node is None:
            return  # gone from the node since the last look: the next pass broadcasts it again
        assert row.nonce is not None and row.max_fee is not None and row.priority_fee is not None  # signed by us
        unsigned = unsigned_of(row)
        differs = _differs(node, row, unsigned)
        fees = Fees(row.max_fee, row.priority_fee).bumped(self.desk.settings.fee_bump_pct)
        account = await self.desk.signers.account(intent.user_id)
        raw, tx_hash = self.desk.sign(account, unsigned, row.nonce, fees)
        new = NewTx(row.step, row.purpose, row.address, row.nonce, raw, tx_hash, fees.max_fee, fees.priority_fee)
        async with self.desk.nonces.lock(intent.address):
            if not await self.desk.intents.store_replacement(row, new):
                return  # another pass (or process) settled the stuck one meanwhile: nothing to replace
            rows = [r for r in await self.desk.intents.txs(intent.id) if r.tx_hash == tx_hash]
            if await self._send(rows[0]) == "sent":
                await self.desk.intents.mark_sent([rows[0].id])
        log.info("replaced stuck %s of intent %s with %s (+%s%% fees)", row.tx_hash, intent.id, tx_hash,
                 self.desk.settings.fee_bump_pct)
        if differs:
            log.error("ALARM intent %s: the node's answer for %s differs from the transaction we signed (%s); the "
                      "replacement was built from the signed one; the intent is held for the operator "
                      "(indexbot intents --held). Check the RPC endpoint.", intent.id, row.tx_hash, ", ".join(differs))
            await self.desk.intents.move(intent.id, intent.state, State.HELD,
                                      result={"reason": "rpc mismatch", "fields": differs, "tx_hash": row.tx_hash})

    async def _finish(self, intent: Intent, state: State, result: dict[str, Any]) -> TradeStatus:
        # From the state the intent has now, not the one this pass read: a connected wallet's page may have reported
        # its hashes in between (confirmed -> sent), and confirmed cannot move to mined.
        intent = await self.desk.intents.get(intent.id) or intent
        if intent.state.terminal or intent.state is State.HELD:  # another pass finished it meanwhile
            return TradeStatus(intent, _stage(intent.state), (intent.result or {}).get("tx_hash"), intent.result or {})
        if intent.state is State.SIGNED:
            await self.desk.intents.move(intent.id, State.SIGNED, State.SENT)
        if intent.state is State.CONFIRMED:  # a connected wallet's intent that never got a hash
            await self.desk.intents.move(intent.id, State.CONFIRMED, state, result=result)
        else:
            await self.desk.intents.move(intent.id, State.SENT, state, result=result)
        current = await self.desk.intents.get(intent.id)
        assert current is not None
        if current.state is State.MINED:
            for hook in self.desk.mined_hooks:
                try:
                    await hook(current)
                except Exception:  # noqa: BLE001 - a follower of mined intents must not change the trade's outcome
                    log.exception("mined hook %s failed for intent %s", getattr(hook, "__qualname__", hook), intent.id)
        return TradeStatus(current, _stage(current.state), result.get("tx_hash"), current.result or result)

    async def _mined_result(self, intent: Intent, rows: list[TxRow], receipts: dict[str, Any]) -> dict[str, Any]:
        """The outcome: the last step's hash and block and what the gas cost, then what the intent's kind reads."""
        handler = self.desk.kinds.of(intent.kind)
        mined = [receipts[r.tx_hash] for r in rows if r.tx_hash in receipts]
        gas_wei = sum(int(rc["gasUsed"]) * int(rc["effectiveGasPrice"]) for rc in mined)
        last = mined[-1]
        result: dict[str, Any] = {
            "tx_hash": "0x" + bytes(last["transactionHash"]).hex(), "block": int(last["blockNumber"]),
            "gas_wei": gas_wei,
        }
        native = Decimal(str(intent.params.get("native_usd", "0")))
        if not native:
            snap = await self.desk.market.snapshot()
            native = snap.prices.get(self.desk.profile.native_feed_symbol, Decimal(0))
        result["gas_usd"] = str(Decimal(gas_wei).scaleb(-18) * native)
        result.update(await handler.mined(self.desk, intent, last))
        return result

    async def _revert_result(self, row: TxRow, receipt: Any) -> dict[str, Any]:
        """Why a mined transaction reverted: replayed with eth_call on the block before, its revert data kept
        (`revert`, decoded for the reader by `bot.core.reverts`) with the node's message (`reason`, for logs)."""
        reason, data = "unknown", ""
        tx = await self.desk.chain.transaction(row.tx_hash)
        if tx is not None:
            call = {"from": tx["from"], "to": tx["to"], "data": "0x" + bytes(tx["input"]).hex(), "value": int(tx["value"]),
                    "gas": int(tx["gas"])}
            try:
                await self.desk.chain.call_tx(call, max(int(receipt["blockNumber"]) - 1, 0))
            except (ContractLogicError, Web3RPCError) as exc:
                reason = _reason(exc)
                revert = revert_of(exc)
                data = revert.data if revert is not None else ""
        return {"tx_hash": row.tx_hash, "block": int(receipt["blockNumber"]), "reason": reason, "revert": data}

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:  # noqa: BLE001 - stopping: outcomes are recovered on the next start
                pass


def _stage(state: State) -> Stage:
    stages = {State.MINED: "mined", State.REVERTED: "reverted", State.EXPIRED: "expired", State.HELD: "held"}
    return stages.get(state, "dropped")  # type: ignore[return-value]


def _differs(node: Any, row: TxRow, signed: UnsignedTx) -> list[str]:
    """The fields in which the node's answer for our transaction's hash differs from what we signed (none for an
    honest node: the hash commits to every signed byte)."""
    def addr(value: Any) -> str:
        return str(value or "").lower()

    checks = {
        "hash": "0x" + bytes(node.get("hash") or b"").hex().removeprefix("0x") == row.tx_hash.lower(),
        "from": addr(node.get("from")) == row.address.lower(),
        "to": addr(node.get("to")) == signed.to.lower(),
        "input": bytes(node.get("input") or b"") == signed.data,
        "value": int(node.get("value") or 0) == signed.value,
        "nonce": int(node.get("nonce", -1)) == row.nonce,
    }
    return [name for name, same in checks.items() if not same]


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "message", None) or exc)
    marker = "execution reverted:"
    if marker in text:
        text = text.split(marker, 1)[1]
    return text.strip()[:120] or "unknown"
