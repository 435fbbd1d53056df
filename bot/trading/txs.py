"""Unsigned transactions and their fees: what every kind of intent builds and the executor signs.

Gas: a transaction the node can estimate gets the estimate plus a fifth (`with_margin`). An approval is for
exactly the amount spent, never unlimited (`approve_tx`); its limit covers writing the allowance afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from bot.chain import protocol as p
from bot.storage.intents import TxRow

ESTIMATE_MARGIN = Decimal("1.2")
TRANSFER_GAS = 21_000
APPROVE_GAS = 60_000  # an approval's limit when the node cannot estimate it
# An SSTORE from zero costs 20,000 gas, one over a non-zero value 2,900 (EIP-2200, EIP-2929): what an
# approval's estimate misses when it saw an allowance that an earlier swap of the wallet spends first.
FRESH_ALLOWANCE_GAS = 20_000 - 2_900


@dataclass(frozen=True)
class UnsignedTx:
    purpose: str  # approve, swap, transfer, stake, unstake, claim, issue, redeem, cancel_issue, cancel_redeem
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


def with_margin(gas: int, margin: Decimal = ESTIMATE_MARGIN) -> int:
    return int(Decimal(gas) * margin) + 1


def approve_tx(token: str, spender: str, amount: int, gas: int) -> UnsignedTx:
    return UnsignedTx("approve", token, p.APPROVE.encode(spender, amount), 0, gas)


def unsigned_of(row: TxRow) -> UnsignedTx:
    """The transaction a stored raw one asks for (our own signed bytes), to sign again at another nonce."""
    assert row.raw_tx is not None
    tx = TypedTransaction.from_bytes(HexBytes(row.raw_tx)).as_dict()
    return UnsignedTx(row.purpose, to_checksum_address(tx["to"]), bytes(tx["data"]), int(tx["value"]), int(tx["gas"]))
