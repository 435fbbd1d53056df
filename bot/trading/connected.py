"""Trades a connected wallet signs: what the wallet is asked to send, and how a reported hash is checked.

The executor builds the very transactions it would sign for a custodial wallet (bot.trading.swap) and hands
them to the signing page as `TxRequest`s with plain-words descriptions; what each must be (`to`, `data`,
`value`) is kept in the intent's params under "requests". A hash the wallet reports is accepted only for a
transaction that matches its step when the node knows it; the follower checks the same again when it is
mined (a wallet on another RPC may be ahead of our node), so a different transaction is never counted as the
trade.
"""

from __future__ import annotations

from typing import Any

from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Msg
from bot.trading.txs import UnsignedTx
from wallets.connected import TxRequest

ROUTER_NAME = "Uniswap SwapRouter02"


def wanted(txs: list[UnsignedTx]) -> list[dict[str, Any]]:
    """What each step must be, as stored in the intent's params (JSON)."""
    return [{"purpose": t.purpose, "to": t.to, "data": "0x" + t.data.hex(), "value": str(t.value)} for t in txs]


def requests(params: dict[str, Any], txs: list[UnsignedTx], min_out: int, chain_id: int) -> list[TxRequest]:
    """The swap's transactions for the signing page: an exact approval (when needed), then the swap."""
    paid = Amount(from_base_units(int(params["amount_in"]), int(params["decimals_in"])), int(params["decimals_in"]))  # exactly
    least = from_base_units(min_out, int(params["decimals_out"]))
    spend = Msg("sign.amount", {"amount": paid, "symbol": params["symbol_in"]})
    out: list[TxRequest] = []
    for tx in txs:
        if tx.purpose == "approve":
            what = Msg("sign.what.approve", {"spender": ROUTER_NAME, "amount": paid, "symbol": params["symbol_in"]})
            out.append(TxRequest(tx.to, "0x" + tx.data.hex(), tx.value, chain_id, what, params["symbol_in"], spend, gas=tx.gas))
        else:
            what = Msg("sign.what.swap", {"amount": paid, "symbol_in": params["symbol_in"], "symbol_out": params["symbol_out"]})
            minimum = Msg("sign.amount", {"amount": Amount(least, 8), "symbol": params["symbol_out"]})
            out.append(TxRequest(tx.to, "0x" + tx.data.hex(), tx.value, chain_id, what, ROUTER_NAME, spend, minimum, tx.gas))
    return out


def _hex(data: Any) -> str:
    raw = data.hex() if isinstance(data, (bytes, bytearray)) else str(data)
    return raw.lower().removeprefix("0x")


def matches(found: dict[str, Any], sender: str, want: dict[str, Any]) -> bool:
    """Whether a transaction as the node shows it is the step asked for, sent by the connected address."""
    return (
        str(found.get("from", "")).lower() == sender.lower()
        and str(found.get("to") or "").lower() == str(want["to"]).lower()
        and _hex(found.get("input") or found.get("data") or b"") == _hex(want["data"])
        and int(found.get("value", 0)) == int(want["value"])
    )


def fees_of(found: dict[str, Any] | None) -> tuple[int | None, int | None, int | None]:
    """(nonce, max fee, priority fee) of a transaction the node knows; Nones when it does not."""
    if found is None:
        return None, None, None
    max_fee = found.get("maxFeePerGas", found.get("gasPrice"))
    tip = found.get("maxPriorityFeePerGas", found.get("gasPrice"))
    return int(found["nonce"]), None if max_fee is None else int(max_fee), None if tip is None else int(tip)
