"""Why a contract said no: every revert, decoded in one registry, in the user's language.

A revert carries bytes. `Error(string)` holds a reason string; `Panic(uint256)` a compiler check; anything else a
custom error, named by its 4-byte selector (the first bytes of the keccak of its signature). `explain` turns those
bytes into one catalog message:

- a known reason string (`STRINGS`, the protocol's and Uniswap's) → its own entry ("revert.s.<slug>");
- a known custom error (`ERRORS`: selector → entry and how its arguments are shown), e.g.
  `InsufficientAvailableBalance(address,uint256,uint256)` with the available and required amounts;
- any other string → "revert.string" quoting it; any other selector → "revert.unknown" naming it ("reverted by
  the contract", never "something went wrong"); no data at all → "revert.empty".

Adding an error is one line in `STRINGS` or `ERRORS` (and its catalog entries): nothing else asks which error it
is. `revert_of(exc)` digs the revert data out of web3's exceptions (`ContractLogicError`, `ContractCustomError`,
`ContractPanicError` and a node's `Web3RPCError` whose message says "execution reverted"), for a failed estimate
as for a mined transaction replayed with eth_call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError, Web3RPCError

from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Msg, Param

ERROR_STRING = "08c379a0"  # Error(string)
PANIC = "4e487b71"  # Panic(uint256)


@dataclass(frozen=True)
class Revert:
    """The raw revert: its data as 0x-hex ("" when the node gave none) and the node's message, for the logs."""

    data: str
    message: str = ""

    @property
    def selector(self) -> str | None:
        return "0x" + self.data[2:10] if len(self.data) >= 10 else None


@dataclass(frozen=True)
class Units:
    """How amounts in a custom error are shown: the token's symbol and decimals, when the caller knows them."""

    symbol: str = ""
    decimals: int | None = None

    def amount(self, units: int) -> Param:
        if self.decimals is None:
            return str(units)
        return Amount(from_base_units(units, self.decimals), self.decimals)


@dataclass(frozen=True)
class KnownError:
    """A custom error: its signature, catalog entry and the parameters the entry gets from the decoded arguments."""

    signature: str
    key: str
    params: Callable[[tuple[Any, ...], Units], Mapping[str, Param]] = field(default=lambda args, units: {})

    @property
    def types(self) -> list[str]:
        inner = self.signature[self.signature.index("(") + 1:-1]
        return [t for t in inner.split(",") if t]

    @property
    def selector(self) -> str:
        return "0x" + keccak(text=self.signature)[:4].hex()


def _available(args: tuple[Any, ...], u: Units) -> Mapping[str, Param]:
    return {"available": u.amount(int(args[1])), "required": u.amount(int(args[2])), "symbol": u.symbol}


def _short(args: tuple[Any, ...], u: Units) -> Mapping[str, Param]:  # OpenZeppelin 5: (who, have, needed)
    return {"have": u.amount(int(args[1])), "need": u.amount(int(args[2])), "symbol": u.symbol}


def _account(args: tuple[Any, ...], u: Units) -> Mapping[str, Param]:
    return {"account": to_checksum_address(str(args[0]))}


# The custom errors of the SSI protocol's contracts (shared/protocol-facts.md) and of OpenZeppelin 5, which they use.
ERRORS: dict[str, KnownError] = {e.selector: e for e in (
    KnownError("InsufficientAvailableBalance(address,uint256,uint256)", "revert.e.insufficient_available", _available),
    KnownError("TooManyActiveLocks(address,uint256)", "revert.e.too_many_locks"),
    KnownError("EnforcedPause()", "revert.e.paused"),
    KnownError("ExpectedPause()", "revert.e.not_paused"),
    KnownError("OwnableUnauthorizedAccount(address)", "revert.e.unauthorized", _account),
    KnownError("AccessControlUnauthorizedAccount(address,bytes32)", "revert.e.unauthorized", _account),
    KnownError("ERC20InsufficientBalance(address,uint256,uint256)", "revert.e.balance", _short),
    KnownError("ERC20InsufficientAllowance(address,uint256,uint256)", "revert.e.allowance", _short),
    KnownError("SafeERC20FailedOperation(address)", "revert.e.transfer_failed"),
    KnownError("ReentrancyGuardReentrantCall()", "revert.e.reentrant"),
)}

# Reason strings: the protocol's StakeToken, AssetLocking, AssetToken and index factory, the ERC-20s, Uniswap V3.
STRINGS: dict[str, str] = {
    "amount is zero": "revert.s.amount_zero",
    "not enough to unstake": "revert.s.not_enough_to_unstake",
    "cooldowning": "revert.s.cooldowning",
    "coolingdown": "revert.s.cooldowning",
    "not enough cooldown amount": "revert.s.not_enough_cooldown",
    "no enough balance to withdraw": "revert.s.not_enough_cooldown",
    "nothing to withdraw": "revert.s.nothing_to_withdraw",
    "not enough allowance": "revert.s.allowance",
    "ERC20: insufficient allowance": "revert.s.allowance",
    "STF": "revert.s.transfer_failed",
    "transfer failed": "revert.s.transfer_failed",
    "ERC20: insufficient balance": "revert.s.balance",
    "ERC20: transfer amount exceeds balance": "revert.s.balance",
    "value must equal amount": "revert.s.value",
    "value must be zero for ERC20": "revert.s.value",
    "token cannot stake now": "revert.s.lock_closed",
    "token not supported": "revert.s.lock_unsupported",
    "total lock amount exceeds lock limit": "revert.s.lock_limit",
    "not enough balance to unlock": "revert.s.unlock_short",
    "is rebalancing": "revert.s.rebalancing",
    "Too little received": "revert.s.slippage",
    "Transaction too old": "revert.s.deadline",
    "not pending": "revert.s.not_pending",
    "not requester": "revert.s.not_requester",
}

_PANICS = {0x01: "assert", 0x11: "overflow", 0x12: "division", 0x32: "index"}


def explain(r: Revert, units: Units = Units()) -> Msg:
    """The catalog message for a revert."""
    data = r.data[2:] if r.data.startswith("0x") else r.data
    if not data:
        return Msg("revert.empty")
    head, body = data[:8], bytes.fromhex(data[8:]) if len(data) % 2 == 0 else b""
    try:
        if head == ERROR_STRING:
            (text,) = abi_decode(["string"], body)
            key = STRINGS.get(text.strip())
            return Msg(key, {"reason": text}) if key else Msg("revert.string", {"reason": text[:120]})
        if head == PANIC:
            (code,) = abi_decode(["uint256"], body)
            return Msg("revert.panic", {"code": hex(code)})
        known = ERRORS.get("0x" + head)
        if known is not None:
            return Msg(known.key, dict(known.params(tuple(abi_decode(known.types, body)), units)))
    except Exception:  # noqa: BLE001 - arguments that do not decode: say what we know, the selector
        pass
    return Msg("revert.unknown", {"selector": "0x" + head})


def revert_of(exc: BaseException) -> Revert | None:
    """The revert inside a web3 exception, or None when the exception is not a contract's refusal (a node
    error, a timeout): those keep their usual handling."""
    if isinstance(exc, ContractLogicError):
        return Revert(_hex(exc.data), str(exc.message or exc))
    if isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error") if isinstance(exc.rpc_response, dict) else None
        message = str(error.get("message", "")) if isinstance(error, dict) else str(exc)
        if "revert" not in message.lower():
            return None
        return Revert(_hex(error.get("data") if isinstance(error, dict) else None), message)
    return None


def from_text(reason: str) -> Revert:
    """A revert known only by its reason string (intents stored before the data was kept)."""
    if not reason or reason == "unknown":
        return Revert("")
    return Revert("0x" + ERROR_STRING + abi_encode(["string"], [reason]).hex(), reason)


def _hex(data: Any) -> str:
    if isinstance(data, Mapping):  # some nodes nest it: {"data": "0x…"} or {"message": …, "data": …}
        data = data.get("data") or data.get("result")
    if isinstance(data, (bytes, bytearray)):
        return "0x" + bytes(data).hex()
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("Reverted "):  # the form some clients give: "Reverted 0x…"
            text = text.split(" ", 1)[1]
        if text.startswith("0x") and all(c in "0123456789abcdefABCDEF" for c in text[2:]):
            return text.lower()
    return ""

