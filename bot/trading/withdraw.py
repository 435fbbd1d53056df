"""The withdrawal kind (`withdraw`): ETH or a token from a custodial wallet to an address the user names.

`Executor.quote_withdraw` stores the intent (refused for a connected wallet: it sends its own funds). At Confirm
the balance is read again under the address's nonce lock; "all" of ETH leaves the transfer's gas behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.chain import protocol as p
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Usd
from bot.chain.profile import TokenRef
from bot.trading.funds import check_gas, short
from bot.trading.intents import Intent
from bot.trading.kinds import Desk, Kind, WalletAsk
from bot.trading.params import WithdrawParams, from_json
from bot.trading.status import TradeStatus
from bot.trading.txs import TRANSFER_GAS, UnsignedTx

TOKEN_TRANSFER_GAS = 80_000  # fallback when the node cannot estimate a token transfer


def transfer_tx(token: str | None, to: str, amount: int, gas: int) -> UnsignedTx:
    """An ERC-20 transfer, or a plain ETH send when `token` is None."""
    if token is None:
        return UnsignedTx("transfer", to, b"", amount, gas)
    return UnsignedTx("transfer", token, p.TRANSFER.encode(to, amount), 0, gas)


class Withdraw:
    """`withdraw`: one transfer from the bot's wallet."""
    owner_tells = False  # the follower tells the outcome (KindHandler)

    async def execute(self, desk: Desk, intent: Intent) -> TradeStatus:
        params = from_json(WithdrawParams, intent.params)
        address, token, to = intent.address, params.token, params.to
        fees = desk.fees_at(await desk.basefee())
        async with desk.nonces.session(address) as reserve:
            units = params.amount
            decimals = params.decimals
            balance = await desk.balance(address, None if token is None else TokenRef(token, params.asset, decimals))
            eth = balance if token is None else await desk.balance(address, None)
            if token is None:
                gas = TRANSFER_GAS
                if params.all:
                    units = balance - gas * fees.max_fee
                    if units <= 0:
                        raise UserError("error.withdraw.nothing", asset="ETH")
            else:
                if params.all:
                    units = balance
                if units > balance:  # said with the amounts before the estimate would revert for it
                    short(params.asset, units, balance, decimals)
                gas = await desk.estimate(address, token, p.TRANSFER.encode(to, units), TOKEN_TRANSFER_GAS)
            if units > balance:
                short(params.asset, units, balance, decimals)
            tx = transfer_tx(token, to, units, gas)
            check_gas([tx], fees, eth)
            return await desk.sign_store_send(intent, [tx], fees, {**intent.params, "amount": units}, await reserve(1))

    async def ask_wallet(self, desk: Desk, intent: Intent, link_seconds: int) -> WalletAsk:
        raise UserError("error.withdraw.connected")  # refused at the quote already: a wallet sends its own funds

    async def mined(self, desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
        return {"sent": from_json(WithdrawParams, intent.params).amount}  # the amount signed (all: what was left)

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        params = from_json(WithdrawParams, intent.params)
        sent = from_base_units(int(result["sent"]), params.decimals)
        return [Msg("trade.mined.withdraw", {"amount": Amount(sent), "asset": params.asset, "to": params.to,
                                             "block": int(result["block"]), "fee": fee})]

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        return frozenset({"trade.mined.withdraw"})
