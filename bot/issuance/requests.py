"""Issuance and redemption requests, and their cancellations, through the intent pipeline.

`quote_request` checks the balance, quotes the factory and stores an intent (`issue` or `redeem`) in `quoted`;
Confirm runs the executor's usual path with `request_txs`: an exact approval of the factory when the allowance
is short, then `issuanceIndexTokens(amount)` or `redemption(amount)`. When it mines, `request_facts` reads the
factory's nonce from the RequestIssuance / RequestRedemption log of the receipt and when the request is expected
to fill (the market's next open, or None while it is open); bot.issuance.orders follows it from there.
A cancellation (`cancel_issue`, `cancel_redeem`) is an intent too: `cancelIssuance(nonce)` / `cancelRedemption`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.chain import protocol as p
from bot.core.reverts import Units
from bot.core.errors import UserError
from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Msg, Usd
from bot.issuance import present
from bot.issuance.factory import FactoryReader, RequestQuote, Side
from bot.issuance.hours import MarketHours
from bot.chain.profile import IndexRef
from bot.storage.orders import Order
from bot.trading.funds import approved_call, check_gas, eth_of, short, spendable
from bot.trading.intents import Intent
from bot.trading.kinds import Desk, Kind, WalletAsk
from bot.trading.params import CancelParams, IssuanceParams, from_json
from bot.trading.status import Sender, TradeStatus
from bot.trading.txs import Fees, UnsignedTx
from wallets.connected import TxRequest

REQUEST_KINDS = frozenset({"issue", "redeem"})
CANCEL_KINDS = frozenset({"cancel_issue", "cancel_redeem"})
# A request signed behind an unmined approval is estimated with the allowance overridden
# (Executor.estimate_behind_approval); this bound serves only a token whose allowance storage cannot be found
REQUEST_GAS = 400_000
CALL_GAS = 200_000


def hours_of(ref: IndexRef) -> MarketHours:
    assert ref.market_hours is not None, f"{ref.symbol} has no market hours"  # the profile requires them
    return ref.market_hours


async def quote_request(
    desk: Desk, reader: FactoryReader, user_id: int, platform: str, chat_id: str, ref: IndexRef, side: Side,
    amount: Decimal, wallet: Sender | None = None,
) -> tuple[int, RequestQuote]:
    """Check the balance of `wallet` (default: the user's sender), quote the factory, store the intent in
    `quoted`: (intent id, quote)."""
    who = wallet or await desk.sender(user_id)
    await desk.ready(user_id, who)
    usdc = desk.profile.usdc
    token_in, token_out = (usdc, ref.token) if side == "buy" else (ref.token, usdc)
    units = int(amount.scaleb(token_in.decimals))
    have = await desk.balance(who.address, token_in)
    if have < units:
        short(token_in.symbol, units, have, token_in.decimals)
    assert ref.factory is not None, f"{ref.symbol} has no factory"  # the profile requires one
    quote = await reader.quote(ref, side, amount)
    if quote.amount_out <= 0:
        raise UserError("error.issuance.too_small", index=ref.symbol)
    params = IssuanceParams(
        index=ref.symbol, side=side, chain=desk.profile.name, factory=ref.factory,
        token_in=token_in.address, token_out=token_out.address, symbol_in=token_in.symbol, symbol_out=token_out.symbol,
        decimals_in=token_in.decimals, decimals_out=token_out.decimals,
        amount_in=units, quoted_out=int(quote.amount_out.scaleb(token_out.decimals)),
        nav=str(quote.nav), fee=str(quote.fee), quote_block=quote.state.block,
    )
    intent_id = await desk.store_quote(user_id, platform, chat_id, who, "issue" if side == "buy" else "redeem", params)
    return intent_id, quote


async def quote_cancel(desk: Desk, user_id: int, platform: str, chat_id: str, order: Order) -> int:
    """A cancellation of a pending order, stored in `quoted` for its owner's wallet."""
    params = CancelParams(
        index=order.index, chain=desk.profile.name, factory=order.factory, nonce=order.nonce, order_id=order.id,
        amount_in=order.amount_in, symbol_in=order.symbol_in, decimals_in=order.decimals_in,
    )
    owner = Sender("connected" if order.connected else "custodial", order.address)
    kind: Kind = "cancel_issue" if order.side == "issue" else "cancel_redeem"
    return await desk.store_quote(user_id, platform, chat_id, owner, kind, params)


async def request_txs(desk: Desk, intent: Intent, fees: Fees) -> list[UnsignedTx]:
    """Balance, allowance and gas checks at the pending block, then the transactions with gas limits."""
    params, address = from_json(IssuanceParams, intent.params), intent.address
    factory, token_in, units = params.factory, params.token_in, params.amount_in
    funds = await spendable(desk.chain, desk.profile.multicall3, address, token_in, factory, units, params.symbol_in,
                            params.decimals_in)
    fn = p.ISSUANCE_INDEX_TOKENS if intent.kind == "issue" else p.REDEMPTION
    call = UnsignedTx(intent.kind, factory, fn.encode(units), 0, 0)
    shown = Units(params.symbol_in, params.decimals_in)  # a refusal's amounts
    txs = await approved_call(desk, intent, call, token_in, factory, units, funds.allowance, REQUEST_GAS, REQUEST_GAS, shown)
    check_gas(txs, fees, funds.eth)
    return txs


async def cancel_txs(desk: Desk, intent: Intent, fees: Fees) -> list[UnsignedTx]:
    """`cancelIssuance(nonce)` / `cancelRedemption(nonce)` with its gas limit, checked against the wallet's ETH."""
    params, address = from_json(CancelParams, intent.params), intent.address
    factory = params.factory
    fn = p.CANCEL_ISSUANCE if intent.kind == "cancel_issue" else p.CANCEL_REDEMPTION
    data = fn.encode(params.nonce)
    eth = await eth_of(desk.chain, desk.profile.multicall3, address)
    cancel = [UnsignedTx(intent.kind, factory, data, 0, await desk.estimate(address, factory, data, CALL_GAS))]
    check_gas(cancel, fees, eth)
    return cancel


def request_facts(desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
    """From the mined request's receipt: the factory's nonce, the request's time and when it should fill."""
    params = from_json(IssuanceParams, intent.params)
    want = p.REQUEST_ISSUANCE if intent.kind == "issue" else p.REQUEST_REDEMPTION
    factory = params.factory.lower()
    for log_ in receipt["logs"]:
        topics = ["0x" + bytes(t).hex() for t in log_["topics"]]
        if str(log_["address"]).lower() == factory and topics and topics[0] == want:
            data = bytes(log_["data"])
            at = int.from_bytes(data[96:128], "big")
            ref = desk.profile.index(params.index)
            hours = hours_of(ref)
            return {"nonce": int(topics[1], 16), "requested_at": at,
                    "expected_at": None if hours.is_open(at) else hours.next_open(at)}
    return {}


def wallet_requests(params: IssuanceParams | CancelParams, kind: str, txs: list[UnsignedTx], chain_id: int) -> list[TxRequest]:
    """The steps for a connected wallet's signing page, in plain words."""
    decimals = params.decimals_in  # every digit: the page says "exactly", and the wallet shows them all
    amount = Amount(from_base_units(params.amount_in, decimals), decimals)
    spend = Msg("sign.amount", {"amount": amount, "symbol": params.symbol_in})
    out: list[TxRequest] = []
    for tx in txs:
        data = "0x" + tx.data.hex()
        if tx.purpose == "approve":  # the spender is the index's factory, not its token
            spender = Msg("sign.spender.factory", {"index": params.index})
            what = Msg("sign.what.approve", {"spender": spender, "amount": amount, "symbol": params.symbol_in})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, params.symbol_in, spend, gas=tx.gas))
        elif isinstance(params, CancelParams):
            what = Msg("sign.what." + kind, {"nonce": params.nonce, "index": params.index})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, params.index, None, gas=tx.gas))
        else:
            what = Msg("sign.what." + kind, {"amount": amount, "symbol": params.symbol_in, "index": params.index})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, params.index, spend, gas=tx.gas))
    return out


class Request:
    """`issue` and `redeem`: a request to the index's factory, pending until it fills (bot.issuance.orders)."""
    owner_tells = False  # the follower tells the outcome (KindHandler)

    async def execute(self, desk: Desk, intent: Intent) -> TradeStatus:
        """A custodial wallet's request: sign, store, broadcast under the address's nonce lock."""
        return await desk.send_built(intent, lambda fees: request_txs(desk, intent, fees))

    async def ask_wallet(self, desk: Desk, intent: Intent, link_seconds: int) -> WalletAsk:
        txs = await request_txs(desk, intent, desk.fees_at(await desk.basefee()))
        params = from_json(IssuanceParams, intent.params)
        return WalletAsk(txs, {}, wallet_requests(params, intent.kind, txs, desk.profile.chain_id))

    async def mined(self, desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
        """The factory's nonce and when it should fill."""
        return request_facts(desk, intent, receipt)

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        """Sent to the factory: pending until it fills (bot.issuance.orders)."""
        return present.request_pending(intent.kind, from_json(IssuanceParams, intent.params), result)

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        side = "buy" if kind == "issue" else "sell"
        return frozenset({f"sign.what.{kind}", f"issuance.pending.{kind}", f"issuance.quote.{side}.title"})


class Cancel:
    """`cancel_issue` and `cancel_redeem`: a pending request taken back before it fills."""
    owner_tells = False  # the follower tells the outcome (KindHandler)

    async def execute(self, desk: Desk, intent: Intent) -> TradeStatus:
        """A custodial wallet's cancellation: sign, store, broadcast under the address's nonce lock."""
        return await desk.send_built(intent, lambda fees: cancel_txs(desk, intent, fees))

    async def ask_wallet(self, desk: Desk, intent: Intent, link_seconds: int) -> WalletAsk:
        txs = await cancel_txs(desk, intent, desk.fees_at(await desk.basefee()))
        params = from_json(CancelParams, intent.params)
        return WalletAsk(txs, {}, wallet_requests(params, intent.kind, txs, desk.profile.chain_id))

    async def mined(self, desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
        return {}

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        return present.cancel_mined(intent.kind, from_json(CancelParams, intent.params))

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        return frozenset({f"sign.what.{kind}", f"orders.cancelled.{kind.removeprefix('cancel_')}"})
