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

What an intent's transactions are, what its mined receipt says and how its outcome is told belong to its kind's
handler (bot.trading.kinds), registered by the composition root; the executor hands it itself as the `Desk`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError, Web3RPCError

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, ChainUnavailable, HeadTracker
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.logs import public_hash
from bot.core.messages import Amount
from bot.market.quotes import Market, Quote, Side, refuse_unless_sequencer_up
from bot.chain.profile import IndexRef, Profile, TokenRef
from bot.storage.intents import IntentRows, NewTx
from bot.storage.intents import WalletTx
from bot.trading import connected as wallet
from bot.trading.follow import Follower
from bot.trading.funds import short
from bot.trading.intents import Intent, State
from bot.trading.kinds import Build, Kind, KindHandler, KindRegistry
from bot.trading.nonces import NonceManager
from bot.trading.params import KindParams, SwapParams, WithdrawParams
from bot.trading.ports import ConnectedSigners, Notifier, Ownership, Signers, SlippageStore, TradeSettings
from bot.trading.destinations import refusal
from bot.trading.gas import AllowanceSlots
from bot.trading.gas import override as gas_override
from bot.trading.status import FaultHook, MinedHook, Sender, TradeStatus
from bot.trading.txs import TRANSFER_GAS, Fees, UnsignedTx, approve_tx, APPROVE_GAS, FRESH_ALLOWANCE_GAS
from bot.trading.txs import fees_from_base, with_margin
from bot.core.reverts import Units, explain, revert_of

log = logging.getLogger(__name__)


class Crash(BaseException):
    """Raised by a test's fault hook to stop the pipeline dead at a named point, as a killed process would."""


async def _no_fault(point: str) -> None:
    """Tests replace this to crash or cut the network at a named point ("after_store", "after_broadcast")."""


class Executor:
    def __init__(
        self, profile: Profile, chain: Chain, head: HeadTracker, market: Market, intents: IntentRows,
        nonces: NonceManager, signers: Signers, notifier: Notifier, slippage: SlippageStore,
        settings: TradeSettings, kinds: KindRegistry, clock: Callable[[], float] = time.time,
        connected: ConnectedSigners | None = None,
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
        self.kinds = kinds  # what each kind of intent does (registered by bot.app)
        self.clock = clock
        self.connected = connected
        self.fault: FaultHook = _no_fault
        self.mined_hooks: list[MinedHook] = []  # the composition root adds what follows mined intents
        self.allowance_slots = AllowanceSlots()  # each token's allowance storage, for estimates behind an approval
        self.follower = Follower(self)
        self.ownership: Ownership | None = None  # a fleet's (`carried_by`); one process alone needs none

    def carried_by(self, ownership: Ownership) -> None:
        """In a fleet: each confirmed intent is owned by this process until its follower lets go (bot.trading.jobs)."""
        self.ownership = ownership
        self.follower.on_end = ownership.let_go

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
            short(token_in.symbol, int(amount.scaleb(token_in.decimals)), have, token_in.decimals)
        quote = await self.market.quote(ref, side, amount)
        refuse_unless_sequencer_up(quote.sequencer)  # prices cannot be trusted while the L2 sequencer is down
        params = SwapParams(
            index=ref.symbol, side=side, token_in=token_in.address, token_out=token_out.address,
            symbol_in=token_in.symbol, symbol_out=token_out.symbol,
            decimals_in=token_in.decimals, decimals_out=token_out.decimals,
            amount_in=int(amount.scaleb(token_in.decimals)), quoted_out=int(quote.amount_out.scaleb(token_out.decimals)),
            quote_block=quote.block,
        )
        intent_id = await self.store_quote(user_id, platform, chat_id, who, side, params)
        return intent_id, quote

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
            units = balance - (self._eth_transfer_reserve(await self.basefee()) if asset is None else 0)
            if units <= 0:
                raise UserError("error.withdraw.nothing", asset=asset.symbol if asset else "ETH")
        else:
            units = int(amount.scaleb(decimals))
            if units > balance:
                raise UserError(
                    "error.trade.short", symbol=asset.symbol if asset else "ETH", need=Amount(amount),
                    have=Amount(from_base_units(balance, decimals)), short=Amount(amount - from_base_units(balance, decimals)),
                )
        params = WithdrawParams(
            asset=asset.symbol if asset else "ETH", token=asset.address if asset else None,
            decimals=decimals, amount=units, all=amount is None, to=to, chain=self.profile.name,
        )
        intent_id = await self.store_quote(user_id, platform, chat_id, who, "withdraw", params)
        return intent_id, from_base_units(units, decimals)

    async def store_quote(self, user_id: int, platform: str, chat_id: str, who: Sender, kind: Kind,
                          params: KindParams) -> int:
        """A quote of any kind stored as an intent in `quoted` for `who`'s wallet, valid for the quote's lifetime."""
        return await self.intents.create_from_quote(
            kind=kind, params=params, user_id=user_id, address=who.address, connected=who.kind == "connected",
            chain_id=self.profile.chain_id, expires_at=int(self.clock()) + self.settings.quote_ttl_seconds,
            platform=platform, chat_id=chat_id,
        )

    async def balance(self, address: str, asset: TokenRef | None) -> int:
        mc = self.profile.multicall3
        call = Call(mc, p.GET_ETH_BALANCE, (address,)) if asset is None else Call(asset.address, p.BALANCE_OF, (address,))
        (res,) = await self.chain.multicall([call], block="pending")
        return int(res.one()) if res.ok else 0

    async def basefee(self) -> int:
        (res,) = await self.chain.multicall([Call(self.profile.multicall3, p.BASEFEE)])
        return int(res.one())

    def fees_at(self, basefee: int) -> Fees:
        """The fees a transaction signed now offers, at `basefee`."""
        return fees_from_base(basefee, self.market.settings.priority_fee_wei)

    def _eth_transfer_reserve(self, basefee: int) -> int:
        return TRANSFER_GAS * self.fees_at(basefee).max_fee

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
        running cooldown (`restart`) needs the explicit acknowledgement, else nothing changes. An intent of a kind
        no handler is registered for raises `UnknownKind` before anything changes."""
        intent = await self._owned(intent_id, user_id)
        if intent.state is not State.QUOTED:
            raise self._refuse_state(intent)
        handler = self.kinds.of(intent.kind)
        if intent.params.get("restart") and not acknowledged:
            raise UserError("error.unstake.restart_unconfirmed")
        if intent.connected and private_chat is None:
            raise UserError("error.sign.private")
        if self.clock() > intent.quote_expires_at:
            await self.intents.move(intent.id, State.QUOTED, State.EXPIRED)
            raise UserError("error.trade.expired")
        if not await self.intents.move(intent.id, State.QUOTED, State.CONFIRMED, message_ref=message_ref):
            raise self._refuse_state(await self._owned(intent_id, user_id))
        if self.ownership is None:
            return await self._carry(intent_id, user_id, handler)
        try:
            await self.ownership.own(intent_id)  # before anything is signed: a job stands by should this process die
        except BaseException:
            await self.intents.move(intent_id, State.CONFIRMED, State.CANCELLED, result={"refused": "not owned"})
            raise
        try:
            return await self._carry(intent_id, user_id, handler)
        finally:
            if not self.follower.following(intent_id):  # else its follower lets go once the outcome is told
                await self.ownership.let_go(intent_id)

    async def _carry(self, intent_id: int, user_id: int, handler: KindHandler) -> TradeStatus:
        """A confirmed intent signed, stored, broadcast (or its signing link made) and followed a moment."""
        intent = await self._owned(intent_id, user_id)
        try:
            if intent.connected:
                return await self._ask_wallet(intent, handler)
            status = await handler.execute(self, intent)
        except (UserError, ChainUnavailable, Web3RPCError) as exc:
            # Nothing was signed (or the node refused before anything was stored): the intent ends here.
            reason = exc.key if isinstance(exc, UserError) else type(exc).__name__
            await self.intents.move(intent.id, State.CONFIRMED, State.CANCELLED, result={"refused": reason})
            raise
        return await self.follower.follow_inline(status)

    # -- connected wallets ---------------------------------------------------------------------------

    async def _ask_wallet(self, intent: Intent, handler: KindHandler) -> TradeStatus:
        """The connected wallet's transactions, checked and described, behind a signing link. The swap's
        deadline leaves the link's lifetime for the user to open it and sign, on top of the usual window."""
        if self.connected is None or await self.connected.address_of(intent.user_id) != intent.address:
            raise UserError("error.wallet.changed")
        link_seconds = self.connected.signing_link_seconds
        ask = await handler.ask_wallet(self, intent, link_seconds)
        txs = ask.txs
        # stored before the link exists; the link expires a moment later, which the follower's grace covers
        expires_at = int(self.clock()) + link_seconds
        params = {**intent.params, **ask.params,
                  "gas_limits": [t.gas for t in txs], "requests": wallet.wanted(txs), "link_expires_at": expires_at}
        if not await self.intents.set_params(intent.id, State.CONFIRMED, params):
            raise UserError("error.trade.already")
        asks = [replace(a, chain_label=self.profile.chain_label) for a in ask.requests]  # companions may share a chain id
        link = await self.connected.signing_link(intent.id, intent.user_id, asks)
        current = await self._owned(intent.id, intent.user_id)
        self.follower.watch(intent.id, announced=True)  # the outcome, or the link's expiry, is told later
        return TradeStatus(current, "signing", None, {"link": link, "expires_at": expires_at})

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

    async def send_built(self, intent: Intent, build: Build) -> TradeStatus:
        """A custodial wallet's intent whose transactions `build` makes (checks included) at the current fees:
        built, signed, stored and broadcast under the address's nonce lock (staking, issuance requests)."""
        fees = self.fees_at(await self.basefee())
        async with self.nonces.session(intent.address) as reserve:
            txs = await build(fees)
            return await self.sign_store_send(intent, txs, fees, dict(intent.params), await reserve(len(txs)))

    async def exact_approval(self, intent: Intent, token: str, spender: str, units: int, allowance: int) -> UnsignedTx | None:
        """An approval of exactly `units` for `spender`, or None when the allowance (read at the pending block)
        covers them and none of the wallet's own transactions is still on its way: one on its way (a swap
        signed a moment ago) may spend the allowance before this trade runs. The approval's gas limit covers
        writing the allowance afresh, which costs more than overwriting a non-zero one the estimate may have
        seen (an earlier unmined swap spends it to zero first); a limit is only a bound, never paid unused."""
        if allowance >= units and await self._settled(intent):
            return None
        gas = await self.estimate(intent.address, token, p.APPROVE.encode(spender, units), APPROVE_GAS)
        return approve_tx(token, spender, units, gas + FRESH_ALLOWANCE_GAS)

    async def _settled(self, intent: Intent) -> bool:
        """None of the wallet's own transactions is unmined. The nonce this intent's first transaction takes is
        ours to hand out for a custodial wallet (under its session), the node's pending count for a connected
        one (its wallet numbers its own transactions)."""
        address = intent.address
        upcoming = await (self.chain.nonce(address, "pending") if intent.connected else self.nonces.upcoming(address))
        return upcoming <= await self.chain.nonce(address, "latest")

    async def estimate(self, sender: str, to: str, data: bytes, fallback: int, units: Units = Units(),
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
        return with_margin(gas)

    async def estimate_behind_approval(self, sender: str, to: str, data: bytes, token: str, spender: str, amount: int,
                                       bound: int, units: Units = Units()) -> int:
        """The gas of a call that spends an approval not mined yet: estimated as if the allowance were already
        `amount` (a state override of the token's allowance slot, `bot.trading.gas`), with the usual margin. Only
        a token whose allowance storage cannot be found keeps `bound`."""
        slot = await self.allowance_slots.slot(self.chain, token, sender, spender)
        if slot is None:
            return bound
        return await self.estimate(sender, to, data, bound, units, state_override=gas_override(token, slot, amount))

    # -- signing and broadcasting -------------------------------------------------------------------

    def sign(self, account: LocalAccount, tx: UnsignedTx, nonce: int, fees: Fees) -> tuple[bytes, str]:
        """`tx` signed by `account` at `nonce` and `fees` on this chain: (raw bytes, hash)."""
        fields: dict[str, Any] = {
            "type": 2, "chainId": self.profile.chain_id, "nonce": nonce, "to": tx.to, "data": "0x" + tx.data.hex(),
            "value": tx.value, "gas": tx.gas, "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
        }
        signed = account.sign_transaction(fields)
        tx_hash = "0x" + bytes(signed.hash).hex()
        public_hash(tx_hash)  # a hash of our own signing: readable in the logs, unlike other 64-hex strings
        return bytes(signed.raw_transaction), tx_hash

    async def sign_store_send(
        self, intent: Intent, txs: list[UnsignedTx], fees: Fees, params: dict[str, Any], nonces: list[int]
    ) -> TradeStatus:
        """Sign with consecutive nonces, store raw + hash (→ signed), broadcast (→ sent). Runs under the
        address's nonce lock, so one wallet's transactions reach the node in nonce order."""
        account = await self.signers.account(intent.user_id)
        if account.address != intent.address:
            raise UserError("error.wallet.changed")
        new = []
        for step, (tx, nonce) in enumerate(zip(txs, nonces, strict=True)):
            raw, tx_hash = self.sign(account, tx, nonce, fees)
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

