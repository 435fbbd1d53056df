"""The swap kind (`buy`, `sell`): an exact approval when the allowance is short, then the swap.

The swap is SwapRouter02 `multicall(uint256 deadline, bytes[] data)` wrapping one `exactInputSingle` (whose
struct has no deadline): the router refuses it after `deadline`, so a transaction stuck in a mempool cannot
execute late at a stale price. Approvals are for exactly the amount swapped, never unlimited, and sent
whenever the allowance is short or the wallet has a transaction of its own still unmined, which may spend
the allowance first (`Executor.exact_approval`).

Gas: the approval and a swap with enough allowance are estimated by the node (plus a fifth). A swap signed
behind an approval that is not mined yet cannot be estimated (it would revert for lack of allowance), so its
limit is QuoterV2's gas estimate for the swap plus the router overhead the quote already adds, times
`SWAP_GAS_MARGIN` (1.3): QuoterV2 simulates the very same pool swap, and what it does not see (the router's
multicall, the token transfers) is the quote's fixed overhead, which the margin covers again.

At Confirm the swap is quoted again at the newest block and refused when the price moved beyond the user's
slippage tolerance; when it mines, what the wallet received is read from the receipt's Transfer events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from bot.chain import protocol as p
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Pct, Usd
from bot.market.quotes import Quote, refuse_unless_sequencer_up
from bot.trading import connected as wallet
from bot.trading.funds import check_gas, spendable
from bot.trading.intents import Intent
from bot.trading.kinds import Desk, Kind, WalletAsk
from bot.trading.params import SwapParams, from_json
from bot.trading.status import TradeStatus
from bot.trading.txs import UnsignedTx, with_margin

BPS = 10_000
SWAP_GAS_MARGIN = Decimal("1.3")


def minimum_out(amount_out: int, slippage_bps: int) -> int:
    """The least the user accepts: the fresh quote less the slippage, rounded down."""
    return amount_out * (BPS - slippage_bps) // BPS


def swap_call(
    router: str, token_in: str, token_out: str, fee: int, recipient: str, amount_in: int, min_out: int, deadline: int,
    gas: int,
) -> UnsignedTx:
    inner = p.EXACT_INPUT_SINGLE.encode((token_in, token_out, fee, recipient, amount_in, min_out, 0))
    return UnsignedTx("swap", router, p.ROUTER_MULTICALL.encode(deadline, [inner]), 0, gas)


def swap_gas_without_estimate(quoter_gas_units: int) -> int:
    return with_margin(quoter_gas_units, SWAP_GAS_MARGIN)


class Swap:
    """`buy` and `sell` through the index's Uniswap pool."""
    owner_tells = False  # the follower tells the outcome (KindHandler)

    async def execute(self, desk: Desk, intent: Intent) -> TradeStatus:
        quote, fresh_out, min_out, slippage = await self.fresh_quote(desk, intent)
        fees = desk.fees_at(quote.basefee)
        deadline = quote.timestamp + desk.settings.deadline_seconds
        async with desk.nonces.session(intent.address) as reserve:
            txs = await self.txs(desk, intent, quote, min_out, deadline)
            params = {**intent.params, "fresh_out": fresh_out, "min_out": min_out, "deadline": deadline,
                      "slippage_bps": slippage, "pool_fee": quote.pool_fee, "native_usd": str(quote.native_usd)}
            return await desk.sign_store_send(intent, txs, fees, params, await reserve(len(txs)))

    async def ask_wallet(self, desk: Desk, intent: Intent, link_seconds: int) -> WalletAsk:
        """The swap's deadline leaves the link's lifetime for the user to open it and sign, on top of the usual
        window."""
        quote, fresh_out, min_out, slippage = await self.fresh_quote(desk, intent)
        deadline = quote.timestamp + link_seconds + desk.settings.deadline_seconds
        txs = await self.txs(desk, intent, quote, min_out, deadline)
        extra = {"fresh_out": fresh_out, "min_out": min_out, "deadline": deadline, "slippage_bps": slippage,
                 "pool_fee": quote.pool_fee, "native_usd": str(quote.native_usd)}
        return WalletAsk(txs, extra, wallet.requests({**intent.params, **extra}, txs, min_out, desk.profile.chain_id))

    async def mined(self, desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
        return {"received": transferred(receipt, from_json(SwapParams, intent.params).token_out, intent.address)}

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        params = from_json(SwapParams, intent.params)
        paid = from_base_units(params.amount_in, params.decimals_in)
        got = from_base_units(int(result["received"]), params.decimals_out)
        price = (paid / got if intent.kind == "buy" else got / paid) if got and paid else Decimal(0)
        return [Msg(f"trade.mined.{intent.kind}", {
            "received": Amount(got), "symbol": params.symbol_out, "paid": Amount(paid), "paid_symbol": params.symbol_in,
            "price": Usd(price, 4), "index": params.index, "block": int(result["block"]), "fee": fee,
        })]

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        return frozenset({f"trade.mined.{kind}", f"quote.{kind}.title"})

    async def fresh_quote(self, desk: Desk, intent: Intent) -> tuple[Quote, int, int, int]:
        """Quote again at the newest block; refuse when the price moved beyond the slippage tolerance.
        (quote, fresh amount out, minimum out, slippage bps)"""
        params = from_json(SwapParams, intent.params)
        ref = desk.profile.index(params.index)
        await desk.head.poll_once()  # the newest block, so the per-block quote cache cannot serve an older one
        quote = await desk.market.quote(ref, params.side, from_base_units(params.amount_in, params.decimals_in))
        refuse_unless_sequencer_up(quote.sequencer)
        fresh_out = int(quote.amount_out.scaleb(params.decimals_out))
        slippage = await desk.slippage_bps(intent.user_id)
        quoted_out = params.quoted_out
        if fresh_out < minimum_out(quoted_out, slippage):
            raise UserError(
                "error.trade.price_moved", quoted=Usd(price(params, quoted_out), 4),
                now=Usd(quote.exec_price, 4), slippage=Pct(Decimal(slippage).scaleb(-4)),
            )
        return quote, fresh_out, minimum_out(fresh_out, slippage), slippage

    async def txs(self, desk: Desk, intent: Intent, quote: Quote, min_out: int, deadline: int) -> list[UnsignedTx]:
        """Balance, allowance and gas checks against the sender, then an exact approval (only when the
        allowance is short) and the swap, each with a gas limit."""
        params = from_json(SwapParams, intent.params)
        amount_in = params.amount_in
        router = desk.profile.swap_router02
        address = intent.address
        token_in = params.token_in
        fees = desk.fees_at(quote.basefee)
        funds = await spendable(desk.chain, desk.profile.multicall3, address, token_in, router, amount_in,
                                params.symbol_in, params.decimals_in)
        approval = await desk.exact_approval(intent, token_in, router, amount_in, funds.allowance)
        call = swap_call(router, token_in, params.token_out, quote.pool_fee, address, amount_in, min_out, deadline, 0)
        gas = swap_gas_without_estimate(quote.gas_units)  # a swap behind an unmined approval cannot be estimated
        txs = [approval, replace(call, gas=gas)] if approval else [
            replace(call, gas=await desk.estimate(address, router, call.data, gas))
        ]
        check_gas(txs, fees, funds.eth)
        return txs


def price(params: SwapParams, out_units: int) -> Decimal:
    """The price in USDC per index token of a swap of the intent's amount for `out_units`."""
    amount_in = from_base_units(params.amount_in, params.decimals_in)
    out = from_base_units(out_units, params.decimals_out)
    if not out or not amount_in:
        return Decimal(0)
    return amount_in / out if params.side == "buy" else out / amount_in


def transferred(receipt: Any, token: str, to: str) -> int:
    """The sum of ERC-20 Transfer events of `token` to `to` in a receipt."""
    total = 0
    want_to = "0x" + "0" * 24 + to.lower()[2:]
    for log_ in receipt["logs"]:
        topics = ["0x" + bytes(t).hex() for t in log_["topics"]]
        if (str(log_["address"]).lower() == token.lower() and len(topics) == 3 and topics[0] == p.TRANSFER_TOPIC
                and topics[2] == want_to):
            total += int.from_bytes(bytes(log_["data"]), "big")
    return total
