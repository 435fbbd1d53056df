"""Orders that act by themselves: set, listed, cancelled, and checked once per block.

An order is set by the owner of a custodial wallet with its PIN (checked by the handler), or of a connected wallet
with a Confirm on the order's summary (there is no key of theirs to unlock: they sign when it triggers); it trades
only from the wallet it was set for (`address`: a trigger that finds the user trading from another wallet fails it).
It is refused, changing nothing, when its line is not positive, is more than `max_distance` times away from the price
now (a premium to NAV: beyond ±`max_premium` %), or is already met (it would fire at once: the user is offered to trade
now instead), when a sell, stop or take-profit names an index the wallet does not hold, and when the user has
`max_open` open orders.

`check()` runs once per new head (`watch`, on the head tracker): ONE market snapshot serves every open order, held in
memory and kept current from the rows changed since the last check (bot.limits.held: no full re-read; a block visits
only the orders whose line it crossed, and bot.limits.triggers decides on those), expired ones end, and each
triggered one is claimed (open → firing, compare-and-set) and executed through the intent pipeline once: a fresh
quote at that block stored as an `order` intent and linked to the order before anything is signed, then confirmed
with the user's slippage. The rule for a run that fails (balance short, price moved beyond the slippage, chain down,
reverted): the order ENDS, failed, and the user is told why and may set it again. The user is told of every trigger
(outbox key `limits:<id>`, once).

A connected wallet's order is confirmed the same way, which makes its signing link (bot.trading.executor: the swap
checked against the user's slippage, its minimum out in the transaction, the link living `signing_link_seconds`);
the link goes to the user's private chat once (outbox key `limits:<id>:sign`) and the order stays `firing` while the
follower waits for the wallet. Signed and mined: the order ends filled. The rule when it is NOT signed: once the link
has expired (with the follower's grace for a late hash) the intent expires and the order ENDS, `expired` with outcome
`unsigned`; nothing was traded, the user is told and may set it again (the market moved on since the trigger: a
stale trigger is never signed later). A link that cannot reach the user (no private chat) cancels the intent and
ends the order failed at once.

A restart between trigger and outcome repeats nothing: an order left `firing` without an intent is executed (nothing
was signed); one whose intent is still `quoted` is confirmed (a fresh quote protects the price again, an expired
quote ends it); one whose intent was confirmed waits for the pipeline's own recovery and ends with its outcome (a
connected wallet's: its link still works after the restart, start-up reconciliation follows it, and it ends as
above). A crash in the instant between a link's making and its queueing leaves a link nobody saw: it expires
unsigned and the user is told so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from web3.exceptions import Web3RPCError

from bot.chain.client import ChainUnavailable, HeadTracker
from bot.chain.profile import IndexRef
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Count, Msg, Param, Pct, Reply, Usd, When
from bot.delivery.outbox import Outbox
from bot.limits.held import HeldOrders
from bot.limits.kind import OrderSwapParams
from bot.limits.triggers import HUNDRED, due, met, watched
from bot.market.quotes import IndexState, refuse_unless_sequencer_up
from bot.storage.limit_orders import LimitOrder, LimitOrderRows, NewOrder, OrderKind, OrderState, Watch
from bot.trading.executor import Executor
from bot.trading.intents import Intent, State
from bot.trading.params import Side, to_json
from bot.trading.present import status_reply
from bot.trading.status import FaultHook, Sender, TradeStatus

log = logging.getLogger(__name__)
EXPIRIES = {"1d": 86_400, "1w": 7 * 86_400, "gtc": None}
DEFAULT_EXPIRY = "1w"
UNSIGNED = "unsigned"  # the outcome of a connected wallet's order whose signing link expired unsigned


async def _no_fault(point: str) -> None:
    return None


@dataclass(frozen=True)
class OrderSettings:
    max_open: int = 20  # open orders per user
    max_distance: Decimal = Decimal(10)  # a line more than this many times away from the price now is refused
    max_premium: Decimal = Decimal(50)  # a premium line beyond ± this percent is refused


@dataclass(frozen=True)
class CheckResult:
    block: int | None
    triggered: int
    expired: int


class LimitOrders:
    def __init__(self, rows: LimitOrderRows, desk: Executor, outbox: Outbox, settings: OrderSettings = OrderSettings(),
                 clock: Callable[[], float] = time.time) -> None:
        self.rows = rows
        self.desk = desk
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.fault: FaultHook = _no_fault  # tests stop a run between its steps
        self._task: asyncio.Task[None] | None = None
        self.held = HeldOrders(rows)  # the open orders as the last check read them; every move is a compare-and-set anyway

    # -- setting up -------------------------------------------------------------------------------------

    async def vet(self, user_id: int, ref: IndexRef, kind: OrderKind, line: Decimal, watch: Watch = "price") -> IndexState:
        """Refuse what cannot be an order (UserError), before the PIN (or the connected wallet's Confirm) is asked;
        the index now. `watch` "premium": `line` is the pool price's premium to NAV in percent (a limit buy or sell)."""
        who = await self.desk.sender(user_id)
        await self.desk.ready(user_id, who)
        if watch == "premium":
            if kind not in ("buy", "sell"):
                raise UserError("limits.error.premium_kind")
            if abs(line) > self.settings.max_premium:
                raise UserError("limits.error.premium_range", value=Pct(line / HUNDRED, 2, signed=True),
                                max=Pct(self.settings.max_premium / HUNDRED, 0))
        elif line <= 0:
            raise UserError("limits.error.line")
        if kind != "buy" and await self.desk.balance(who.address, ref.token) == 0:
            raise UserError("limits.error.not_held", index=ref.symbol)
        state = (await self.desk.market.snapshot()).indexes[ref.symbol]
        now = watched(kind, state, watch)
        if now is None:
            raise UserError("limits.error.no_premium" if watch == "premium" else "alert.error.no_pool", index=ref.symbol)
        if watch == "premium":
            if met(kind, line, now):
                raise UserError("limits.error.premium_met", line=Pct(line / HUNDRED, 2, signed=True),
                                now=Pct(now / HUNDRED, 2, signed=True))
            return await self._room(user_id, state)
        far = self.settings.max_distance
        if line > now * far or line * far < now:
            raise UserError("limits.error.absurd", line=Usd(line), now=Usd(now), times=int(far))
        if met(kind, line, now):
            raise UserError("limits.error.met", line=Usd(line), now=Usd(now))
        return await self._room(user_id, state)

    async def _room(self, user_id: int, state: IndexState) -> IndexState:
        if len(await self.rows.of_user(user_id)) >= self.settings.max_open:
            raise UserError("limits.error.too_many", count=Count(self.settings.max_open))
        return state

    async def wallet(self, user_id: int) -> Sender:
        """The wallet an order set now trades from: custodial (allowed by the PIN) or connected (signed when it fires)."""
        return await self.desk.sender(user_id)

    async def trailing_start(self, ref: IndexRef, trail: Decimal) -> Decimal:
        """A trailing stop's first line: `trail` % below NAV per token now."""
        return await self.nav_now(ref) * (HUNDRED - trail) / HUNDRED

    async def nav_now(self, ref: IndexRef) -> Decimal:
        """NAV per token now (the lines a stop or take-profit is offered from); refused while it is partial."""
        state = (await self.desk.market.snapshot()).indexes[ref.symbol]
        if state.partial:
            raise UserError("alert.error.no_pool", index=ref.symbol)
        return state.nav

    async def pool_now(self, ref: IndexRef) -> tuple[Decimal, bool]:
        """The pool price now (the lines a limit buy or sell is offered from) and whether its premium to NAV can be
        read now (a full NAV); refused while the index has no pool price."""
        state = (await self.desk.market.snapshot()).indexes[ref.symbol]
        if state.dex_price is None:
            raise UserError("alert.error.no_pool", index=ref.symbol)
        return state.dex_price, state.premium is not None

    async def add(self, user_id: int, platform: str, chat_id: str, ref: IndexRef, kind: OrderKind, amount: Decimal,
                  line: Decimal, trail: Decimal | None, seconds: int | None, request_key: str | None = None,
                  watch: Watch = "price") -> LimitOrder:
        """Store a vetted order (the PIN was checked, or the connected wallet's owner confirmed) for the wallet the user
        trades from now; refused again when the user reached `max_open` meanwhile. `request_key` (a connected wallet's
        Confirm): the order set with that key before, if any, and nothing new."""
        expires_at = int(self.clock()) + seconds if seconds is not None else None
        who = await self.desk.sender(user_id)
        new = NewOrder(user_id, ref.symbol, kind, amount, line, trail, platform, chat_id, expires_at, who.address,
                       request_key, watch)
        made = await self.rows.add(new, int(self.clock()), self.settings.max_open)
        if made is None:
            raise UserError("limits.error.too_many", count=Count(self.settings.max_open))
        if trail is not None:  # the peak it trails starts at NAV now
            await self.rows.peaks({made: line * HUNDRED / (HUNDRED - trail)})
        order = await self.rows.get(made)
        assert order is not None
        return order

    async def of_user(self, user_id: int) -> list[LimitOrder]:
        return await self.rows.of_user(user_id)

    async def cancel(self, user_id: int, order_id: int) -> None:
        """Cancel one of the user's open orders; another user's, or one that ended, is refused alike."""
        if not await self.rows.cancel(user_id, order_id):
            raise UserError("limits.error.unknown", id=order_id)
        self.held.drop(order_id)

    # -- checking, once per block -----------------------------------------------------------------------

    def watch(self, head: HeadTracker) -> None:
        """Check every open order at each new head, until `stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(head), name="limits:blocks")

    async def _watch(self, head: HeadTracker) -> None:
        seen: int | None = None
        try:
            await self.held.refresh()  # every open row, read once before the first block's check
        except Exception:  # noqa: BLE001 - the first check reads them then
            log.exception("limit orders: the first read failed")
        while True:
            block = await head.next_block(seen, urgent=False)  # at the tracker's own pace: no extra polls
            seen = block
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - one bad block must not stop the watch
                log.exception("limit orders: the check at block %s failed", block)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def check(self) -> CheckResult:
        """One market read for every open order; expire, trigger and execute; finish what a restart left."""
        await self.resume()
        await self.held.refresh()
        if not self.held.orders:
            return CheckResult(None, 0, 0)
        snap = await self.desk.market.snapshot()
        now = int(self.clock())
        found = due(self.held.candidates(snap.indexes, now), snap.indexes, now)
        expired = await self.rows.expire(found.expired, now)
        await self.rows.peaks(found.peaks)
        for order_id in found.expired:
            self.held.drop(order_id)
        for order_id, peak in found.peaks.items():
            self.held.raise_peak(order_id, peak)
        fired = 0
        for order, value in found.triggered:
            self.held.drop(order.id)
            if await self.rows.claim(order.id, snap.block, value):
                fired += 1
                claimed = await self.rows.get(order.id)
                assert claimed is not None
                await self._run(claimed)
        await self._tell_ended()
        return CheckResult(snap.block, fired, expired)

    async def resume(self) -> None:
        """Orders a restart left firing: executed, confirmed, or ended by their intent's outcome (never twice)."""
        for order in await self.rows.firing():
            intent = await self.desk.intents.get(order.intent_id) if order.intent_id is not None else None
            if intent is None or intent.state is State.QUOTED:
                await self._run(order)
            elif intent.state.terminal:
                await self._settled(order, intent)
        await self._tell_ended()

    async def _settled(self, order: LimitOrder, intent: Intent) -> None:
        """End an order whose intent ended (`ended_as`), told with the trade's own outcome (what was sold or bought, or
        why not) unless its link was left unsigned."""
        state, outcome = ended_as(intent)
        status = await self.desk.follower.check(intent.id) if outcome != UNSIGNED else None  # terminal: no chain read
        lines = list(status_reply(status, self.desk.profile, self.desk.kinds).lines) if status is not None else []
        await self._ended(order, state, outcome, lines)

    async def _run(self, order: LimitOrder) -> None:
        try:
            intent_id = order.intent_id if order.intent_id is not None else await self._store(order)
            await self.fault("limits:stored")
            status = await self.desk.confirm(intent_id, order.user_id, None, order.chat_id)
        except UserError as exc:
            await self._ended(order, "failed", exc.key, [exc.msg])
            return
        except (ChainUnavailable, Web3RPCError):
            await self._ended(order, "failed", "error.chain.unavailable", [Msg("error.chain.unavailable")])
            return
        except Exception:
            log.exception("limit order %s: its run failed", order.id)
            await self._ended(order, "failed", "error.internal", [Msg("error.internal")])
            return
        if status.stage == "signing":  # a connected wallet's: the order waits for its signature (or the link's end)
            await self._ask_to_sign(order, status)
        elif status.final:
            lines = list(status_reply(status, self.desk.profile, self.desk.kinds).lines)
            ok = status.stage == "mined"
            await self._ended(order, "filled" if ok else "failed", "mined" if ok else f"trade.{status.stage}", lines)

    async def _store(self, order: LimitOrder) -> int:
        """The trigger's execution, quoted at the newest block and stored (and linked) before anything is signed."""
        desk = self.desk
        ref = desk.profile.index(order.token)
        who = await desk.sender(order.user_id)
        if order.address is not None and who.address.lower() != order.address.lower():
            raise UserError("limits.error.wallet_changed")  # never from a wallet the order was not set for
        usdc = desk.profile.usdc
        side: Side = "buy" if order.kind == "buy" else "sell"
        token_in, token_out = (usdc, ref.token) if side == "buy" else (ref.token, usdc)
        if side == "buy":
            units = int(order.amount.scaleb(usdc.decimals))
        else:
            units = await desk.balance(who.address, ref.token) * int(order.amount * 100) // 10_000
        if units <= 0:
            raise UserError("limits.error.not_held", index=ref.symbol)
        quote = await desk.market.quote(ref, side, Decimal(units).scaleb(-token_in.decimals))
        refuse_unless_sequencer_up(quote.sequencer)
        params = OrderSwapParams(
            index=ref.symbol, side=side, token_in=token_in.address, token_out=token_out.address,
            symbol_in=token_in.symbol, symbol_out=token_out.symbol, decimals_in=token_in.decimals,
            decimals_out=token_out.decimals, amount_in=units, quoted_out=int(quote.amount_out.scaleb(token_out.decimals)),
            quote_block=quote.block, order_id=order.id, trigger_block=order.trigger_block or quote.block,
        )
        assert to_json(params)["order_id"] == order.id
        intent_id = await desk.store_quote(order.user_id, order.platform, order.chat_id, who, "order", params)
        if not await self.rows.link(order.id, intent_id):
            raise UserError("error.trade.already")  # another run linked its own first: this quote is never confirmed
        return intent_id

    async def _ask_to_sign(self, order: LimitOrder, status: TradeStatus) -> None:
        """A connected wallet's trigger: its signing link to the user's private chat, once; a link that cannot reach
        them is abandoned (nothing can be signed from it) and the order ends."""
        link, expires = str(status.result["link"]), int(status.result["expires_at"])
        params = status.intent.params
        least = Amount(Decimal(int(params["min_out"])).scaleb(-int(params["decimals_out"])), 8)
        title = Msg(f"limits.sign.{params['side']}", {
            "id": order.id, "order": describe(order), "value": Usd(order.trigger_value or Decimal(0)),
            "block": order.trigger_block or 0, "least": least, "symbol": str(params["symbol_out"]),
            "slippage": Pct(Decimal(int(params["slippage_bps"])).scaleb(-4), 2), "expires": When(expires)})
        reply = Reply.of(title, Msg("limits.sign.link", {"url": link}), buttons=((Button.link(Msg("button.open.sign"), link),),))
        if await self.outbox.put(order.user_id, reply, "trade", key=f"limits:{order.id}:sign", urgent=True) is None:
            await self.desk.abandon(status.intent.id, order.user_id)
            await self._ended(order, "failed", "trade.sign.undelivered", [Msg("trade.sign.undelivered")])

    # -- telling ----------------------------------------------------------------------------------------

    async def _ended(self, order: LimitOrder, state: OrderState, outcome: str, lines: list[Msg]) -> None:
        if await self.rows.end(order.id, state, outcome):
            await self._tell(replace(order, outcome=outcome), state, lines)

    async def _tell(self, order: LimitOrder, state: str, lines: list[Msg]) -> None:
        head = describe(order)
        if state == "expired" and order.outcome == UNSIGNED:
            value = watched_value(order.watch, order.trigger_value or Decimal(0))
            title = [Msg("limits.unsigned", {"id": order.id, "order": head, "value": value, "block": order.trigger_block or 0})]
        elif state == "expired":
            title = [Msg("limits.expired", {"id": order.id, "order": head})]
        else:
            value = watched_value(order.watch, order.trigger_value or Decimal(0))
            title = [Msg("limits.triggered", {"id": order.id, "order": head, "value": value, "block": order.trigger_block or 0})]
            if state == "failed":
                title.append(Msg("limits.failed"))
        await self.outbox.put(order.user_id, Reply.of(*title, *lines), "trade", key=f"limits:{order.id}", urgent=True)
        await self.rows.mark_told(order.id)

    async def _tell_ended(self) -> None:
        """Tell every ended order not told yet (an expiry, or an end a crash kept from being told)."""
        for order in await self.rows.untold():
            lines = [Msg(order.outcome)] if order.state == "failed" and order.outcome and order.outcome != "mined" else []
            await self._tell(order, order.state, lines)


def ended_as(intent: Intent) -> tuple[OrderState, str]:
    """How an order ends with its intent: filled when mined; a connected wallet's link left unsigned ends it expired
    (`unsigned`); anything else fails it, naming the trade's end."""
    if intent.state is State.MINED:
        return "filled", "mined"
    if intent.connected and intent.state is State.EXPIRED:
        return "expired", UNSIGNED
    return "failed", f"trade.{intent.state.value}"


def describe(order: LimitOrder) -> Msg:
    """`Stop-loss: sell 50% of MAG7.ssi when NAV falls to $90.00` and the like."""
    return summary(order.token, order.kind, order.amount, order.line, order.trail, order.watch)


def summary(token: str, kind: OrderKind, amount: Decimal, line: Decimal, trail: Decimal | None,
            watch: Watch = "price") -> Msg:
    """An order described from its parts (`describe`), also before it is set."""
    shown = Amount(amount, 2) if kind == "buy" else Pct(amount / HUNDRED, 2)
    params: dict[str, Param] = {"index": token, "line": watched_value(watch, line), "amount": shown}
    if trail is not None:
        params["trail"] = Pct(trail / HUNDRED, 2)
        return Msg("limits.describe.trail", params)
    if watch == "premium":
        return Msg(f"limits.describe.premium_{kind}", params)
    return Msg(f"limits.describe.{kind}", params)


def watched_value(watch: Watch, value: Decimal) -> Param:
    """A line or a trigger's value as said: dollars, or a signed percent for a premium."""
    return Pct(value / HUNDRED, 2, signed=True) if watch == "premium" else Usd(value)
