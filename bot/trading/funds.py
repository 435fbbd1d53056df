"""The checks every kind runs before it signs: enough of what it spends, the allowance, enough ETH for gas.

`spendable` reads the balance, the allowance and ETH at the pending block in one round trip and refuses (in words)
a balance that is short; `approved_call` puts an exact approval before a call when the allowance needs one, with
each gas limit; `check_gas` refuses transactions whose gas (and value) the wallet's ETH cannot pay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

from bot.chain import protocol as p
from bot.chain.client import Call, Chain
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount
from bot.core.reverts import Units
from bot.trading.intents import Intent
from bot.trading.kinds import Desk
from bot.trading.txs import Fees, UnsignedTx


@dataclass(frozen=True)
class Funds:
    """A wallet's balance of a token, its allowance for a spender, and its ETH, at the pending block."""

    held: int
    allowance: int
    eth: int


def short(symbol: str, need: int, have: int, decimals: int) -> NoReturn:
    """Refuse for a balance below what is spent, with both amounts and the difference."""
    n, h = from_base_units(need, decimals), from_base_units(have, decimals)
    raise UserError("error.trade.short", symbol=symbol, need=Amount(n, decimals), have=Amount(h, decimals),
                    short=Amount(n - h, decimals))


def check_gas(txs: list[UnsignedTx], fees: Fees, eth: int) -> None:
    """Refuse when the wallet's ETH cannot pay every transaction's gas at `fees` and its value."""
    need = sum(t.gas * fees.max_fee + t.value for t in txs)
    if eth < need:
        gas_need = sum(t.gas * fees.max_fee for t in txs)
        raise UserError(
            "error.trade.short_gas", need=Amount(from_base_units(gas_need, 18), 8),
            have=Amount(from_base_units(eth, 18), 8), short=Amount(from_base_units(need - eth, 18), 8),
        )


async def spendable(chain: Chain, multicall3: str, address: str, token: str, spender: str, need: int, symbol: str,
                    decimals: int) -> Funds:
    """`address`'s funds for spending `need` of `token` through `spender`, read at the pending block; refused
    when the balance is short (the allowance is the approval's business, the ETH `check_gas`'s)."""
    bal, allowance, eth = await chain.multicall(
        [Call(token, p.BALANCE_OF, (address,)), Call(token, p.ALLOWANCE, (address, spender)),
         Call(multicall3, p.GET_ETH_BALANCE, (address,))],
        block="pending",
    )
    funds = Funds(int(bal.one()) if bal.ok else 0, int(allowance.one()) if allowance.ok else 0,
                  int(eth.one()) if eth.ok else 0)
    if funds.held < need:
        short(symbol, need, funds.held, decimals)
    return funds


async def eth_of(chain: Chain, multicall3: str, address: str) -> int:
    """`address`'s ETH at the pending block (0 when the read fails)."""
    (eth,) = await chain.multicall([Call(multicall3, p.GET_ETH_BALANCE, (address,))], block="pending")
    return int(eth.one()) if eth.ok else 0


async def approved_call(desk: Desk, intent: Intent, call: UnsignedTx, token: str, spender: str, units: int,
                        allowance: int, bound: int, fallback: int, shown: Units) -> list[UnsignedTx]:
    """`call` (gas not set yet), behind an exact approval of `units` of `token` for `spender` when one is needed
    (`Desk.exact_approval`): estimated as if the approval were mined (`bound` when the allowance storage cannot be
    found), else as it is (`fallback` when the node cannot estimate). A refusal's amounts are said in `shown`."""
    approval = await desk.exact_approval(intent, token, spender, units, allowance)
    if approval:
        gas = await desk.estimate_behind_approval(intent.address, call.to, call.data, token, spender, units, bound, shown)
        return [approval, replace(call, gas=gas)]
    return [replace(call, gas=await desk.estimate(intent.address, call.to, call.data, fallback, shown))]
