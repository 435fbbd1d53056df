"""Issuance and redemption requests, and their cancellations, through the intent pipeline.

`quote_request` checks the balance, quotes the factory and stores an intent (`issue` or `redeem`) in `quoted`;
Confirm runs the executor's usual path with `request_txs`: an exact approval of the factory when the allowance
is short, then `issuanceIndexTokens(amount)` or `redemption(amount)`. When it mines, `request_facts` reads the
factory's nonce from the RequestIssuance / RequestRedemption log of the receipt and when the request is expected
to fill (the market's next open, or None while it is open); bot.issuance.orders follows it from there.
A cancellation (`cancel_issue`, `cancel_redeem`) is an intent too: `cancelIssuance(nonce)` / `cancelRedemption`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot import protocol as p
from bot.core.reverts import Units
from bot.chain import Call
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg
from bot.issuance.factory import FactoryReader, RequestQuote, Side
from bot.issuance.hours import MarketHours
from bot.profile import IndexRef
from bot.trading import swap
from wallets.connected import TxRequest

if TYPE_CHECKING:
    from bot.trading.executor import Executor, Sender
    from bot.trading.intents import Intent

REQUEST_KINDS = frozenset({"issue", "redeem"})
CANCEL_KINDS = frozenset({"cancel_issue", "cancel_redeem"})
ISSUANCE_KINDS = REQUEST_KINDS | CANCEL_KINDS
# A request signed behind an unmined approval is estimated with the allowance overridden
# (Executor.estimate_behind_approval); this bound serves only a token whose allowance storage cannot be found
REQUEST_GAS = 400_000
CALL_GAS = 200_000


def hours_of(ref: IndexRef) -> MarketHours:
    assert ref.market_hours is not None, f"{ref.symbol} has no market hours"  # the profile requires them
    return ref.market_hours


async def quote_request(
    x: Executor, reader: FactoryReader, user_id: int, platform: str, chat_id: str, ref: IndexRef, side: Side,
    amount: Decimal, wallet: Sender | None = None,
) -> tuple[int, RequestQuote]:
    """Check the balance of `wallet` (default: the user's sender), quote the factory, store the intent in
    `quoted`: (intent id, quote)."""
    who = wallet or await x.sender(user_id)
    await x.ready(user_id, who)
    usdc = x.profile.usdc
    token_in, token_out = (usdc, ref.token) if side == "buy" else (ref.token, usdc)
    units = int(amount.scaleb(token_in.decimals))
    have = await x.balance(who.address, token_in)
    if have < units:
        x._short(token_in.symbol, units, have, token_in.decimals)
    q = await reader.quote(ref, side, amount)
    if q.amount_out <= 0:
        raise UserError("error.issuance.too_small", index=ref.symbol)
    params: dict[str, Any] = {
        "index": ref.symbol, "side": side, "chain": x.profile.name, "factory": ref.factory,
        "token_in": token_in.address, "token_out": token_out.address,
        "symbol_in": token_in.symbol, "symbol_out": token_out.symbol,
        "decimals_in": token_in.decimals, "decimals_out": token_out.decimals,
        "amount_in": units, "quoted_out": int(q.amount_out.scaleb(token_out.decimals)),
        "nav": str(q.nav), "fee": str(q.fee), "quote_block": q.state.block,
    }
    if who.kind == "connected":
        params["wallet"] = "connected"
    intent_id = await x.intents.create(
        user_id=user_id, address=who.address, kind="issue" if side == "buy" else "redeem", chain_id=x.profile.chain_id,
        params=params, expires_at=int(x.clock()) + x.settings.quote_ttl_seconds, platform=platform, chat_id=chat_id,
    )
    return intent_id, q


async def quote_cancel(x: Executor, user_id: int, platform: str, chat_id: str, order: Any) -> int:
    """A cancellation of a pending order (bot.storage.orders.Order), stored in `quoted` for its owner's wallet."""
    address = order.address
    params: dict[str, Any] = {
        "index": order.index, "chain": x.profile.name, "factory": order.factory, "nonce": order.nonce,
        "order_id": order.id, "amount_in": order.amount_in, "symbol_in": order.symbol_in, "decimals_in": order.decimals_in,
    }
    if order.connected:
        params["wallet"] = "connected"
    return await x.intents.create(
        user_id=user_id, address=address, kind="cancel_" + order.side, chain_id=x.profile.chain_id, params=params,
        expires_at=int(x.clock()) + x.settings.quote_ttl_seconds, platform=platform, chat_id=chat_id,
    )


async def request_txs(x: Executor, intent: Intent, fees: swap.Fees) -> list[swap.UnsignedTx]:
    """Balance, allowance and gas checks at the pending block, then the transactions with gas limits."""
    prm, address = intent.params, intent.address
    factory = str(prm["factory"])
    mc = x.profile.multicall3
    if intent.kind in CANCEL_KINDS:
        fn = p.CANCEL_ISSUANCE if intent.kind == "cancel_issue" else p.CANCEL_REDEMPTION
        data = fn.encode(int(prm["nonce"]))
        (eth,) = await x.chain.multicall([Call(mc, p.GET_ETH_BALANCE, (address,))], block="pending")
        cancel = [swap.UnsignedTx(intent.kind, factory, data, 0, await x._estimate(address, factory, data, CALL_GAS))]
        x._check_gas(cancel, fees, int(eth.one()) if eth.ok else 0)
        return cancel
    token_in, units = str(prm["token_in"]), int(prm["amount_in"])
    bal, allowance, eth = await x.chain.multicall(
        [Call(token_in, p.BALANCE_OF, (address,)), Call(token_in, p.ALLOWANCE, (address, factory)),
         Call(mc, p.GET_ETH_BALANCE, (address,))],
        block="pending",
    )
    have = int(bal.one()) if bal.ok else 0
    if have < units:
        x._short(str(prm["symbol_in"]), units, have, int(prm["decimals_in"]))
    call = (p.ISSUANCE_INDEX_TOKENS if intent.kind == "issue" else p.REDEMPTION).encode(units)
    approval = await x.exact_approval(intent, token_in, factory, units, int(allowance.one()) if allowance.ok else 0)
    shown = Units(str(prm["symbol_in"]), int(prm["decimals_in"]))  # a refusal's amounts
    if approval:
        gas = await x.estimate_behind_approval(address, factory, call, token_in, factory, units, REQUEST_GAS, shown)
        txs = [approval, swap.UnsignedTx(intent.kind, factory, call, 0, gas)]
    else:
        txs = [swap.UnsignedTx(intent.kind, factory, call, 0, await x._estimate(address, factory, call, REQUEST_GAS, shown))]
    x._check_gas(txs, fees, int(eth.one()) if eth.ok else 0)
    return txs


async def execute(x: Executor, intent: Intent) -> Any:
    """A custodial wallet's request or cancellation: sign, store, broadcast under the address's nonce lock."""
    return await x.send_built(intent, lambda fees: request_txs(x, intent, fees))


def request_facts(x: Executor, intent: Intent, receipt: Any) -> dict[str, Any]:
    """From the mined request's receipt: the factory's nonce, the request's time and when it should fill."""
    if intent.kind not in REQUEST_KINDS:
        return {}
    want = p.REQUEST_ISSUANCE if intent.kind == "issue" else p.REQUEST_REDEMPTION
    factory = str(intent.params["factory"]).lower()
    for log_ in receipt["logs"]:
        topics = ["0x" + bytes(t).hex() for t in log_["topics"]]
        if str(log_["address"]).lower() == factory and topics and topics[0] == want:
            data = bytes(log_["data"])
            at = int.from_bytes(data[96:128], "big")
            ref = x.profile.index(str(intent.params["index"]))
            hours = hours_of(ref)
            return {"nonce": int(topics[1], 16), "requested_at": at,
                    "expected_at": None if hours.is_open(at) else hours.next_open(at)}
    return {}


def wallet_requests(prm: dict[str, Any], kind: str, txs: list[swap.UnsignedTx], chain_id: int) -> list[TxRequest]:
    """The steps for a connected wallet's signing page, in plain words."""
    decimals = int(prm["decimals_in"])  # every digit: the page says "exactly", and the wallet shows them all
    amount = Amount(from_base_units(int(prm["amount_in"]), decimals), decimals)
    out: list[TxRequest] = []
    for tx in txs:
        data = "0x" + tx.data.hex()
        if tx.purpose == "approve":  # the spender is the index's factory, not its token
            spender = Msg("sign.spender.factory", {"index": prm["index"]})
            what = Msg("sign.what.approve", {"spender": spender, "amount": amount, "symbol": prm["symbol_in"]})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, str(prm["symbol_in"]),
                                 Msg("sign.amount", {"amount": amount, "symbol": prm["symbol_in"]}), gas=tx.gas))
        elif kind in CANCEL_KINDS:
            what = Msg("sign.what." + kind, {"nonce": int(prm["nonce"]), "index": prm["index"]})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, str(prm["index"]), None, gas=tx.gas))
        else:
            what = Msg("sign.what." + kind, {"amount": amount, "symbol": prm["symbol_in"], "index": prm["index"]})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, str(prm["index"]),
                                 Msg("sign.amount", {"amount": amount, "symbol": prm["symbol_in"]}), gas=tx.gas))
    return out
