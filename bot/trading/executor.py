"""From a confirmed quote to signed, stored, broadcast transactions; never twice, never lost.

    quote_swap / quote_withdraw  -> an intent in `quoted` (shown with Confirm / Cancel)
    confirm                      -> compare-and-set quoted→confirmed (a second press is refused), re-quote,
                                    slippage and balance checks, nonces, sign, store (→ signed), broadcast
                                    (→ sent), then follow receipts by following new blocks (bot.trading.follow)

A user with a connected wallet trades from it (`sender`): Confirm runs the same checks against that address,
builds the same transactions and returns a signing link (stage "signing", the intent stays `confirmed`);
`on_hash` records each hash the wallet reports (→ sent) and the follower takes it from there, checking that
what was mined is what was asked for (bot.trading.connected).

Whatever happens after `signed`, the stored raw transactions are enough to finish: the follower re-broadcasts
what the node does not know, and reconciliation on start-up does the same for intents a crash left behind.
The executor returns data (`TradeStatus`); bot.trading.present turns it into catalog messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError, Web3RPCError

from bot import protocol as p
from bot.chain import Call, Chain, ChainUnavailable, HeadTracker
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.logs import public_hash
from bot.core.messages import Amount, Pct, Usd
from bot.market import Market, Quote, Side, refuse_unless_sequencer_up
from bot.profile import IndexRef, Profile, TokenRef
from bot.storage.intents import IntentRows, NewTx
from bot.storage.intents import WalletTx
from bot.trading import connected as wallet
from bot.issuance import requests as issuance
from bot.trading import stake, swap
from bot.trading.intents import Intent, State
from bot.trading.nonces import NonceManager
from bot.trading.ports import ConnectedSigners, Notifier, Signers, SlippageStore, TradeSettings
from bot.trading.destinations import refusal
from bot.trading.gas import AllowanceSlots
from bot.trading.gas import override as gas_override
from bot.core.reverts import Units, explain, revert_of
from wallets.connected import TxRequest

log = logging.getLogger(__name__)

Stage = Literal["signing", "submitted", "pending", "retrying", "mined", "reverted", "dropped", "expired", "held"]


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


class Crash(BaseException):
    """Raised by a test's fault hook to stop the pipeline dead at a named point, as a killed process would."""


FaultHook = Callable[[str], Awaitable[None]]
MinedHook = Callable[[Intent], Awaitable[None]]  # told of every intent that ended mined (bot.alerts.cooldowns)


async def _no_fault(point: str) -> None:
    """Tests replace this to crash or cut the network at a named point ("after_store", "after_broadcast")."""


class Executor:
    def __init__(
        self, profile: Profile, chain: Chain, head: HeadTracker, market: Market, intents: IntentRows,
        nonces: NonceManager, signers: Signers, notifier: Notifier, slippage: SlippageStore,
        settings: TradeSettings, clock: Callable[[], float] = time.time, connected: ConnectedSigners | None = None,
    ) -> None:
        self.profile = profile
        self.chain = chain
        self.head = head
        self.market = market
        self.intents = intents
        self.nonces = nonces
        self.signers = signers
        self.notifier = notifier
        self.slippage = slippage
        self.settings = settings
        self.clock = clock
        self.connected = connected
        self.fault: FaultHook = _no_fault
        self.mined_hooks: list[MinedHook] = []  # the composition root adds what follows mined intents
        self.allowance_slots = AllowanceSlots()  # each token's allowance storage, for estimates behind an approval
        from bot.trading.follow import Follower  # the follower needs the executor's collaborators

        self.follower = Follower(self)

    # -- quoting ---------------------------------------------------------------------------------------

    async def slippage_bps(self, user_id: int) -> int:
        bps = await self.slippage.get_slippage_bps(user_id)
        return min(max(bps, 0), self.settings.max_slippage_bps)

    async def sender(self, user_id: int) -> Sender:
        """The connected wallet when the user has one, else the custodial wallet; refused when neither."""
        own = await self.connected.address_of(user_id) if self.connected is not None else None
        if own is not None:
            return Sender("connected", own)
        address = await self.signers.address_of(user_id)
        if address is None:
            raise UserError("error.wallet.none")
        return Sender("custodial", address)

    async def ready(self, user_id: int, who: Sender) -> None:
        """Refuse to quote for a custodial wallet that cannot trade yet (no PIN set, or its key not loaded),
        so the user hears it now rather than at Confirm; a connected wallet signs for itself."""
        if who.kind == "custodial":
            await self.signers.ready(user_id)

    async def quote_swap(
        self, user_id: int, platform: str, chat_id: str, ref: IndexRef, side: Side, amount: Decimal,
        wallet: Sender | None = None,
    ) -> tuple[int, Quote]:
        """A fresh quote stored as an intent in `quoted` for `wallet` (default: `sender`); (intent id, quote)."""
        who = wallet or await self.sender(user_id)
        await self.ready(user_id, who)
        address = who.address
        usdc = self.profile.usdc
        token_in, token_out = (usdc, ref.token) if side == "buy" else (ref.token, usdc)
        have = await self.balance(address, token_in)
        if have < int(amount.scaleb(token_in.decimals)):
            self._short(token_in.symbol, int(amount.scaleb(token_in.decimals)), have, token_in.decimals)
        q = await self.market.quote(ref, side, amount)
        refuse_unless_sequencer_up(q.sequencer)  # prices cannot be trusted while the L2 sequencer is down
        params = {
            "index": ref.symbol, "side": side,
            "token_in": token_in.address, "token_out": token_out.address,
            "symbol_in": token_in.symbol, "symbol_out": token_out.symbol,
            "decimals_in": token_in.decimals, "decimals_out": token_out.decimals,
            "amount_in": int(amount.scaleb(token_in.decimals)),
            "quoted_out": int(q.amount_out.scaleb(token_out.decimals)),
            "quote_block": q.block,
        }
        if who.kind == "connected":
            params["wallet"] = "connected"
        intent_id = await self.intents.create(
            user_id=user_id, address=address, kind=side, chain_id=self.profile.chain_id, params=params,
            expires_at=int(self.clock()) + self.settings.quote_ttl_seconds, platform=platform, chat_id=chat_id,
        )
        return intent_id, q

    async def quote_withdraw(
        self, user_id: int, platform: str, chat_id: str, asset: TokenRef | None, amount: Decimal | None, to: str
    ) -> tuple[int, Decimal]:
        """A withdrawal stored as an intent in `quoted` (asset None = ETH, amount None = all); (id, amount).
        Refused for a connected wallet: the user's own wallet can send its funds itself."""
        who = await self.sender(user_id)
        if who.kind == "connected":
            raise UserError("error.withdraw.connected")
        await self.ready(user_id, who)
        address = who.address
        refused = refusal(to, address, self.profile, self.market.setup.pools)
        if refused is not None:  # the sender itself, or a contract it would be lost in
            raise refused
        decimals = 18 if asset is None else asset.decimals
        balance = await self.balance(address, asset)
        if amount is None:
            units = balance - (self._eth_transfer_reserve(await self._basefee()) if asset is None else 0)
            if units <= 0:
                raise UserError("error.withdraw.nothing", asset=asset.symbol if asset else "ETH")
        else:
            units = int(amount.scaleb(decimals))
            if units > balance:
                raise UserError(
                    "error.trade.short", symbol=asset.symbol if asset else "ETH", need=Amount(amount),
                    have=Amount(from_base_units(balance, decimals)), short=Amount(amount - from_base_units(balance, decimals)),
                )
        params = {
            "asset": asset.symbol if asset else "ETH", "token": asset.address if asset else None,
            "decimals": decimals, "amount": units, "all": amount is None, "to": to, "chain": self.profile.name,
        }
        intent_id = await self.intents.create(
            user_id=user_id, address=address, kind="withdraw", chain_id=self.profile.chain_id, params=params,
            expires_at=int(self.clock()) + self.settings.quote_ttl_seconds, platform=platform, chat_id=chat_id,
        )
        return intent_id, from_base_units(units, decimals)

    async def balance(self, address: str, asset: TokenRef | None) -> int:
        mc = self.profile.multicall3
        call = Call(mc, p.GET_ETH_BALANCE, (address,)) if asset is None else Call(asset.address, p.BALANCE_OF, (address,))
        (res,) = await self.chain.multicall([call], block="pending")
        return int(res.one()) if res.ok else 0

    async def _basefee(self) -> int:
        (res,) = await self.chain.multicall([Call(self.profile.multicall3, p.BASEFEE)])
        return int(res.one())

    def _eth_transfer_reserve(self, basefee: int) -> int:
        fees = swap.fees_from_base(basefee, self.market.settings.priority_fee_wei)
        return swap.TRANSFER_GAS * fees.max_fee

    # -- confirming ------------------------------------------------------------------------------------

    async def _owned(self, intent_id: int, user_id: int) -> Intent:
        intent = await self.intents.get(intent_id)
        if intent is None or intent.user_id != user_id:
            raise UserError("error.trade.unknown")
        return intent

    @staticmethod
    def _refuse_state(intent: Intent) -> UserError:
        if intent.state is State.CANCELLED:
            return UserError("error.trade.cancelled")
        if intent.state is State.EXPIRED:
            return UserError("error.trade.expired")
        return UserError("error.trade.already")

    async def cancel(self, intent_id: int, user_id: int) -> None:
        intent = await self._owned(intent_id, user_id)
        if not await self.intents.move(intent.id, State.QUOTED, State.CANCELLED):
            current = await self._owned(intent_id, user_id)
            if current.state is not State.CANCELLED:
                raise self._refuse_state(current)

    async def confirm(
        self, intent_id: int, user_id: int, message_ref: str | None, private_chat: str | None = None,
        acknowledged: bool = False,
    ) -> TradeStatus:
        """Run a confirmed intent to broadcast; waits up to `inline_wait_seconds` for its outcome. A connected
        wallet's intent gets a signing link instead (stage "signing"), which only goes to a private chat:
        without one (`private_chat` None) it is refused before anything changes. An unstake that restarts a
        running cooldown (`restart`) needs the explicit acknowledgement, else nothing changes."""
        intent = await self._owned(intent_id, user_id)
        if intent.state is not State.QUOTED:
            raise self._refuse_state(intent)
        if intent.params.get("restart") and not acknowledged:
            raise UserError("error.unstake.restart_unconfirmed")
        if intent.connected and private_chat is None:
            raise UserError("error.sign.private")
        if self.clock() > intent.quote_expires_at:
            await self.intents.move(intent.id, State.QUOTED, State.EXPIRED)
            raise UserError("error.trade.expired")
        if not await self.intents.move(intent.id, State.QUOTED, State.CONFIRMED, message_ref=message_ref):
            raise self._refuse_state(await self._owned(intent_id, user_id))
        intent = await self._owned(intent_id, user_id)
        try:
            if intent.connected:
                return await self._ask_wallet(intent)
            status = await self._execute(intent)
        except (UserError, ChainUnavailable, Web3RPCError) as exc:
            # Nothing was signed (or the node refused before anything was stored): the intent ends here.
            reason = exc.key if isinstance(exc, UserError) else type(exc).__name__
            await self.intents.move(intent.id, State.CONFIRMED, State.CANCELLED, result={"refused": reason})
            raise
        return await self.follower.follow_inline(status)

    async def _execute(self, intent: Intent) -> TradeStatus:
        if intent.kind in ("buy", "sell"):
            return await self._execute_swap(intent)
        if intent.kind in stake.STAKE_KINDS:
            status: TradeStatus = await stake.execute(self, intent)
            return status
        if intent.kind in issuance.ISSUANCE_KINDS:
            requested: TradeStatus = await issuance.execute(self, intent)
            return requested
        return await self._execute_withdraw(intent)

    async def _fresh_quote(self, intent: Intent) -> tuple[Quote, int, int, int]:
        """Quote again at the newest block; refuse when the price moved beyond the slippage tolerance.
        (quote, fresh amount out, minimum out, slippage bps)"""
        prm = intent.params
        ref = self.profile.index(prm["index"])
        side: Side = prm["side"]
        await self.head.poll_once()  # the newest block, so the per-block quote cache cannot serve an older one
        q = await self.market.quote(ref, side, from_base_units(int(prm["amount_in"]), int(prm["decimals_in"])))
        refuse_unless_sequencer_up(q.sequencer)
        fresh_out = int(q.amount_out.scaleb(int(prm["decimals_out"])))
        slip = await self.slippage_bps(intent.user_id)
        quoted_out = int(prm["quoted_out"])
        if fresh_out < swap.minimum_out(quoted_out, slip):
            raise UserError(
                "error.trade.price_moved", quoted=Usd(self._price(intent, quoted_out), 4),
                now=Usd(q.exec_price, 4), slippage=Pct(Decimal(slip).scaleb(-4)),
            )
        return q, fresh_out, swap.minimum_out(fresh_out, slip), slip

    async def _swap_txs(self, intent: Intent, q: Quote, min_out: int, deadline: int) -> list[swap.UnsignedTx]:
        """Balance, allowance and gas checks against the sender, then an exact approval (only when the
        allowance is short) and the swap, each with a gas limit."""
        prm = intent.params
        amount_in = int(prm["amount_in"])
        router = self.profile.swap_router02
        address = intent.address
        token_in = prm["token_in"]
        fees = swap.fees_from_base(q.basefee, self.market.settings.priority_fee_wei)
        mc = self.profile.multicall3
        bal, allowance, eth = await self.chain.multicall(
            [Call(token_in, p.BALANCE_OF, (address,)), Call(token_in, p.ALLOWANCE, (address, router)),
             Call(mc, p.GET_ETH_BALANCE, (address,))],
            block="pending",
        )
        have = int(bal.one()) if bal.ok else 0
        if have < amount_in:
            self._short(prm["symbol_in"], amount_in, have, int(prm["decimals_in"]))
        approval = await self.exact_approval(intent, token_in, router, amount_in, int(allowance.one()) if allowance.ok else 0)
        call = swap.swap_call(router, token_in, prm["token_out"], q.pool_fee, address, amount_in, min_out, deadline, 0)
        gas = swap.swap_gas_without_estimate(q.gas_units)  # a swap behind an unmined approval cannot be estimated
        txs = [approval, replace(call, gas=gas)] if approval else [
            replace(call, gas=await self._estimate(address, router, call.data, gas))
        ]
        self._check_gas(txs, fees, int(eth.one()) if eth.ok else 0)
        return txs

    async def _execute_swap(self, intent: Intent) -> TradeStatus:
        q, fresh_out, min_out, slip = await self._fresh_quote(intent)
        fees = swap.fees_from_base(q.basefee, self.market.settings.priority_fee_wei)
        deadline = q.timestamp + self.settings.deadline_seconds
        async with self.nonces.session(intent.address) as reserve:
            txs = await self._swap_txs(intent, q, min_out, deadline)
            params = {**intent.params, "fresh_out": fresh_out, "min_out": min_out, "deadline": deadline,
                      "slippage_bps": slip, "pool_fee": q.pool_fee, "native_usd": str(q.native_usd)}
            return await self._sign_store_send(intent, txs, fees, params, await reserve(len(txs)))

    # -- connected wallets ---------------------------------------------------------------------------

    async def _ask_wallet(self, intent: Intent) -> TradeStatus:
        """The connected wallet's transactions, checked and described, behind a signing link. The swap's
        deadline leaves the link's lifetime for the user to open it and sign, on top of the usual window."""
        if self.connected is None or await self.connected.address_of(intent.user_id) != intent.address:
            raise UserError("error.wallet.changed")
        link_seconds = self.connected.signing_link_seconds
        txs, extra, asks = await self._wallet_txs(intent, link_seconds)
        # stored before the link exists; the link expires a moment later, which the follower's grace covers
        expires_at = int(self.clock()) + link_seconds
        params = {**intent.params, **extra,
                  "gas_limits": [t.gas for t in txs], "requests": wallet.wanted(txs), "link_expires_at": expires_at}
        if not await self.intents.set_params(intent.id, State.CONFIRMED, params):
            raise UserError("error.trade.already")
        asks = [replace(a, chain_label=self.profile.chain_label) for a in asks]  # companions may share a chain id
        link = await self.connected.signing_link(intent.id, intent.user_id, asks)
        current = await self._owned(intent.id, intent.user_id)
        self.follower.watch(intent.id, announced=True)  # the outcome, or the link's expiry, is told later
        return TradeStatus(current, "signing", None, {"link": link, "expires_at": expires_at})

    async def _wallet_txs(
        self, intent: Intent, link_seconds: int
    ) -> tuple[list[swap.UnsignedTx], dict[str, Any], list[TxRequest]]:
        """What a connected wallet is asked to send for this intent: (transactions, params to add, requests)."""
        if intent.kind in stake.STAKE_KINDS:
            fees = swap.fees_from_base(await self._basefee(), self.market.settings.priority_fee_wei)
            txs = await stake.stake_txs(self, intent, fees)
            return txs, {}, stake.requests(intent.params, txs, self.profile.chain_id)
        if intent.kind in issuance.ISSUANCE_KINDS:
            fees = swap.fees_from_base(await self._basefee(), self.market.settings.priority_fee_wei)
            txs = await issuance.request_txs(self, intent, fees)
            return txs, {}, issuance.wallet_requests(intent.params, intent.kind, txs, self.profile.chain_id)
        q, fresh_out, min_out, slip = await self._fresh_quote(intent)
        deadline = q.timestamp + link_seconds + self.settings.deadline_seconds
        txs = await self._swap_txs(intent, q, min_out, deadline)
        extra = {"fresh_out": fresh_out, "min_out": min_out, "deadline": deadline, "slippage_bps": slip,
                 "pool_fee": q.pool_fee, "native_usd": str(q.native_usd)}
        return txs, extra, wallet.requests({**intent.params, **extra}, txs, min_out, self.profile.chain_id)

    async def abandon(self, intent_id: int, user_id: int) -> None:
        """A signing link that could not reach the user: the intent ends (nothing was sent), if still waiting."""
        intent = await self._owned(intent_id, user_id)
        if intent.connected and not await self.intents.txs(intent.id):
            await self.intents.move(intent.id, State.CONFIRMED, State.CANCELLED, result={"refused": "undelivered"})

    async def on_hash(self, intent_id: int, step: int, tx_hash: str) -> None:
        """A connected wallet sent step `step` of the intent as `tx_hash` (the signing page's `OnHash`).

        Idempotent for a repeated (step, hash). Refused: an intent that is not a connected wallet's, a step
        out of order, a transaction the node knows that is not the step asked for (another sender, target,
        calldata or value: e.g. a hash from someone else's wallet), another hash for a step already in
        unless the node shows it replaces that one (same sender and nonce, as a wallet's "speed up" does) or
        the node does not know that one (a provisional hash: the real one may still come and replace it), and
        an intent no longer waiting for its wallet. The first hash moves the intent to `sent`."""
        intent = await self.intents.get(intent_id)
        if intent is None or not intent.connected:
            raise UserError("error.trade.unknown")
        want: list[dict[str, Any]] = intent.params.get("requests") or []
        if not 0 <= step < len(want):
            raise UserError("error.sign.step")
        tx_hash = tx_hash.lower()
        rows = await self.intents.txs(intent.id)
        if any(r.step == step and r.tx_hash == tx_hash for r in rows):
            return
        found = await self.chain.transaction(tx_hash)
        if found is not None and not wallet.matches(found, intent.address, want[step]):
            log.warning("intent %s step %s: reported transaction is not the one asked for (refused)", intent.id, step)
            raise UserError("error.sign.mismatch")
        live = [r for r in rows if r.step == step and r.live]
        replaces = None
        if live:
            before = await self.chain.transaction(live[-1].tx_hash)
            # a hash our node never saw (`before` None) may be a wallet's placeholder: the real one replaces it
            if before is not None and (found is None or int(found["nonce"]) != int(before["nonce"])):
                raise UserError("error.sign.step")
            replaces = live[-1]  # kept as a candidate: if it is mined after all, it still counts
        nonce, max_fee, tip = wallet.fees_of(found)
        sent = WalletTx(step, str(want[step]["purpose"]), intent.address, tx_hash, nonce, max_fee, tip)
        outcome = await self.intents.record_wallet_tx(intent.id, sent, replaces)
        if outcome == "refused":
            raise UserError("error.sign.closed")
        if outcome == "conflict":
            raise UserError("error.sign.step")
        log.info("intent %s step %s: %s from the connected wallet", intent.id, step, outcome)
        self.follower.watch(intent.id, announced=True)

    async def send_built(self, intent: Intent, build: Callable[[swap.Fees], Awaitable[list[swap.UnsignedTx]]]) -> TradeStatus:
        """A custodial wallet's intent whose transactions `build` makes (checks included) at the current fees:
        built, signed, stored and broadcast under the address's nonce lock (staking, issuance requests)."""
        fees = swap.fees_from_base(await self._basefee(), self.market.settings.priority_fee_wei)
        async with self.nonces.session(intent.address) as reserve:
            txs = await build(fees)
            return await self._sign_store_send(intent, txs, fees, dict(intent.params), await reserve(len(txs)))

    async def _execute_withdraw(self, intent: Intent) -> TradeStatus:
        prm = intent.params
        address, token, to = intent.address, prm["token"], prm["to"]
        basefee = await self._basefee()
        fees = swap.fees_from_base(basefee, self.market.settings.priority_fee_wei)
        async with self.nonces.session(address) as reserve:
            units = int(prm["amount"])
            decimals = int(prm["decimals"])
            balance = await self.balance(address, None if token is None else TokenRef(token, prm["asset"], decimals))
            eth = balance if token is None else await self.balance(address, None)
            if token is None:
                gas = swap.TRANSFER_GAS
                if prm["all"]:
                    units = balance - gas * fees.max_fee
                    if units <= 0:
                        raise UserError("error.withdraw.nothing", asset="ETH")
            else:
                if prm["all"]:
                    units = balance
                if units > balance:  # said with the amounts before the estimate would revert for it
                    self._short(prm["asset"], units, balance, decimals)
                gas = await self._estimate(address, token, p.TRANSFER.encode(to, units), 80_000)
            if units > balance:
                self._short(prm["asset"], units, balance, decimals)
            tx = swap.transfer_tx(token, to, units, gas)
            self._check_gas([tx], fees, eth)
            params = {**prm, "amount": units}
            return await self._sign_store_send(intent, [tx], fees, params, await reserve(1))

    def _price(self, intent: Intent, out_units: int) -> Decimal:
        prm = intent.params
        amount_in = from_base_units(int(prm["amount_in"]), int(prm["decimals_in"]))
        out = from_base_units(out_units, int(prm["decimals_out"]))
        if not out or not amount_in:
            return Decimal(0)
        return amount_in / out if prm["side"] == "buy" else out / amount_in

    @staticmethod
    def _short(symbol: str, need: int, have: int, decimals: int) -> None:
        n, h = from_base_units(need, decimals), from_base_units(have, decimals)
        raise UserError("error.trade.short", symbol=symbol, need=Amount(n, decimals), have=Amount(h, decimals),
                        short=Amount(n - h, decimals))

    def _check_gas(self, txs: list[swap.UnsignedTx], fees: swap.Fees, eth: int) -> None:
        need = sum(t.gas * fees.max_fee + t.value for t in txs)
        if eth < need:
            gas_need = sum(t.gas * fees.max_fee for t in txs)
            raise UserError(
                "error.trade.short_gas", need=Amount(from_base_units(gas_need, 18), 8),
                have=Amount(from_base_units(eth, 18), 8), short=Amount(from_base_units(need - eth, 18), 8),
            )

    async def exact_approval(self, intent: Intent, token: str, spender: str, units: int, allowance: int) -> swap.UnsignedTx | None:
        """An approval of exactly `units` for `spender`, or None when the allowance (read at the pending block)
        covers them and none of the wallet's own transactions is still on its way: one on its way (a swap
        signed a moment ago) may spend the allowance before this trade runs. The approval's gas limit covers
        writing the allowance afresh, which costs more than overwriting a non-zero one the estimate may have
        seen (an earlier unmined swap spends it to zero first); a limit is only a bound, never paid unused."""
        if allowance >= units and await self._settled(intent):
            return None
        gas = await self._estimate(intent.address, token, p.APPROVE.encode(spender, units), swap.APPROVE_GAS)
        return swap.approve_tx(token, spender, units, gas + swap.FRESH_ALLOWANCE_GAS)

    async def _settled(self, intent: Intent) -> bool:
        """None of the wallet's own transactions is unmined. The nonce this intent's first transaction takes is
        ours to hand out for a custodial wallet (under its session), the node's pending count for a connected
        one (its wallet numbers its own transactions)."""
        address = intent.address
        upcoming = await (self.chain.nonce(address, "pending") if intent.connected else self.nonces.upcoming(address))
        return upcoming <= await self.chain.nonce(address, "latest")

    async def _estimate(self, sender: str, to: str, data: bytes, fallback: int, units: Units = Units(),
                        state_override: dict[str, Any] | None = None) -> int:
        """The node's estimate with a margin. A contract's refusal (a revert, a custom error) stops the trade
        before anything is signed, in words (`bot.core.reverts`), unless the sender has transactions still
        unmined (the estimate saw the state before them: an unstake right after an unmined stake): then, as for a
        node that cannot estimate for another reason, the `fallback` limit, and a revert on chain is explained."""
        try:
            gas = await self.chain.estimate_gas({"from": sender, "to": to, "data": "0x" + data.hex()}, state_override)
        except (ContractLogicError, Web3RPCError) as exc:
            revert = revert_of(exc)
            if revert is not None and await self.chain.nonce(sender, "pending") <= await self.chain.nonce(sender, "latest"):
                log.info("estimate of a call to %s reverted: %s %s", to, revert.message, revert.data[:74])
                raise UserError("error.tx.would_revert", reason=explain(revert, units)) from exc
            return fallback
        return swap.with_margin(gas)

    async def estimate_behind_approval(self, sender: str, to: str, data: bytes, token: str, spender: str, amount: int,
                                       bound: int, units: Units = Units()) -> int:
        """The gas of a call that spends an approval not mined yet: estimated as if the allowance were already
        `amount` (a state override of the token's allowance slot, `bot.trading.gas`), with the usual margin. Only
        a token whose allowance storage cannot be found keeps `bound`."""
        slot = await self.allowance_slots.slot(self.chain, token, sender, spender)
        if slot is None:
            return bound
        return await self._estimate(sender, to, data, bound, units, state_override=gas_override(token, slot, amount))

    # -- signing and broadcasting -------------------------------------------------------------------

    def _sign(self, account: LocalAccount, tx: swap.UnsignedTx, nonce: int, fees: swap.Fees) -> tuple[bytes, str]:
        fields: dict[str, Any] = {
            "type": 2, "chainId": self.profile.chain_id, "nonce": nonce, "to": tx.to, "data": "0x" + tx.data.hex(),
            "value": tx.value, "gas": tx.gas, "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
        }
        signed = account.sign_transaction(fields)
        tx_hash = "0x" + bytes(signed.hash).hex()
        public_hash(tx_hash)  # a hash of our own signing: readable in the logs, unlike other 64-hex strings
        return bytes(signed.raw_transaction), tx_hash

    async def _sign_store_send(
        self, intent: Intent, txs: list[swap.UnsignedTx], fees: swap.Fees, params: dict[str, Any], nonces: list[int]
    ) -> TradeStatus:
        """Sign with consecutive nonces, store raw + hash (→ signed), broadcast (→ sent). Runs under the
        address's nonce lock, so one wallet's transactions reach the node in nonce order."""
        account = await self.signers.account(intent.user_id)
        if account.address != intent.address:
            raise UserError("error.wallet.changed")
        new = []
        for step, (tx, nonce) in enumerate(zip(txs, nonces, strict=True)):
            raw, tx_hash = self._sign(account, tx, nonce, fees)
            new.append(NewTx(step, tx.purpose, intent.address, nonce, raw, tx_hash, fees.max_fee, fees.priority_fee))
        params = {**params, "gas_limits": [t.gas for t in txs]}
        if not await self.intents.store_signed(intent.id, new, params):
            raise UserError("error.trade.already")
        await self.fault("after_store")
        stage = await self.follower.broadcast(intent.id)
        if stage == "dropped":
            self.nonces.forget(intent.address)
        current = await self.intents.get(intent.id)
        assert current is not None
        return TradeStatus(current, stage, new[-1].tx_hash)

    async def stop(self) -> None:
        await self.follower.stop()

