"""Transactions for a trade, unsigned: an exact approval when the allowance is short, then the swap.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot import protocol as p

BPS = 10_000
SWAP_GAS_MARGIN = Decimal("1.3")
ESTIMATE_MARGIN = Decimal("1.2")
TRANSFER_GAS = 21_000
APPROVE_GAS = 60_000  # an approval's limit when the node cannot estimate it
# An SSTORE from zero costs 20,000 gas, one over a non-zero value 2,900 (EIP-2200, EIP-2929): what an
# approval's estimate misses when it saw an allowance that an earlier swap of the wallet spends first.
FRESH_ALLOWANCE_GAS = 20_000 - 2_900


@dataclass(frozen=True)
class UnsignedTx:
    purpose: str  # approve, swap, transfer, stake, unstake, claim
    to: str
    data: bytes
    value: int
    gas: int


@dataclass(frozen=True)
class Fees:
    max_fee: int  # wei per gas
    priority_fee: int

    def bumped(self, pct: int) -> Fees:
        """At least `pct` % more on both (rounded up), as a replacement needs."""
        return Fees(-(-self.max_fee * (100 + pct) // 100), -(-self.priority_fee * (100 + pct) // 100))


def fees_from_base(basefee: int, priority_fee: int) -> Fees:
    """EIP-1559: room for the base fee to double (two full blocks) plus the tip."""
    return Fees(2 * basefee + priority_fee, priority_fee)


def minimum_out(amount_out: int, slippage_bps: int) -> int:
    """The least the user accepts: the fresh quote less the slippage, rounded down."""
    return amount_out * (BPS - slippage_bps) // BPS


def with_margin(gas: int, margin: Decimal = ESTIMATE_MARGIN) -> int:
    return int(Decimal(gas) * margin) + 1


def approve_tx(token: str, spender: str, amount: int, gas: int) -> UnsignedTx:
    return UnsignedTx("approve", token, p.APPROVE.encode(spender, amount), 0, gas)


def swap_call(
    router: str, token_in: str, token_out: str, fee: int, recipient: str, amount_in: int, min_out: int, deadline: int,
    gas: int,
) -> UnsignedTx:
    inner = p.EXACT_INPUT_SINGLE.encode((token_in, token_out, fee, recipient, amount_in, min_out, 0))
    return UnsignedTx("swap", router, p.ROUTER_MULTICALL.encode(deadline, [inner]), 0, gas)


def transfer_tx(token: str | None, to: str, amount: int, gas: int) -> UnsignedTx:
    """An ERC-20 transfer, or a plain ETH send when `token` is None."""
    if token is None:
        return UnsignedTx("transfer", to, b"", amount, gas)
    return UnsignedTx("transfer", token, p.TRANSFER.encode(to, amount), 0, gas)


def swap_gas_without_estimate(quoter_gas_units: int) -> int:
    return with_margin(quoter_gas_units, SWAP_GAS_MARGIN)


def stake_call(kind: str, staking: str, amount: int, gas: int) -> UnsignedTx:
    """StakeToken `stake(amount)` (behind an exact approval when the allowance is short), `unstake(amount)`,
    or `withdraw(amount)` for a claim: the purpose is the intent's kind."""
    fn = {"stake": p.STAKE, "unstake": p.UNSTAKE, "claim": p.STAKE_WITHDRAW}[kind]
    return UnsignedTx(kind, staking, fn.encode(amount), 0, gas)
