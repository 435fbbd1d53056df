"""Gas for a call signed behind an approval that is not mined yet.

The node cannot estimate such a call as it is: without the allowance it would revert. So the estimate is asked
with a state override (`eth_estimateGas`'s third parameter, taken by anvil, geth, reth, Erigon and the large RPC
providers) that writes the allowance the approval will set into the token's storage. Where that storage is
depends on how the token was compiled, so the slot is found once per token by probing: for each candidate
location of `allowance[owner][spender]` (a Solidity mapping at storage slots 0..MAX_BASE_SLOT, and OpenZeppelin
5's namespaced ERC20 storage used by upgradeable tokens such as the SSI index tokens), an `eth_call` of
`allowance(owner, spender)` with a marker written there; the candidate that reads the marker back is the slot.
A token whose slot is not found (an unusual layout) gets no estimate: the caller keeps its bound and logs it.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_utils.crypto import keccak

from bot.chain import protocol as p
from bot.chain.client import Chain

log = logging.getLogger(__name__)

MAX_BASE_SLOT = 12
# keccak256(abi.encode(uint256(keccak256("openzeppelin.storage.ERC20")) - 1)) & ~bytes32(uint256(0xff)); _allowances is
# the second field of ERC20Storage
OZ5_ERC20_STORAGE = 0x52C63247E1F47DB19D5CE0460030C497F067CA4CEBF71BA98EEADABE20BACE00
MARKER = int.from_bytes(keccak(text="indexbot allowance probe")[:16], "big")  # an allowance nobody sets


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def mapping_slot(base: int, owner: str, spender: str) -> int:
    """Where Solidity keeps `m[owner][spender]` for a nested mapping `m` at storage slot `base`."""
    inner = keccak(_address_word(owner) + _word(base))
    return int.from_bytes(keccak(_address_word(spender) + inner), "big")


def candidates(owner: str, spender: str) -> list[tuple[str, int]]:
    """(layout name, slot) for every layout probed, most likely first."""
    out = [(f"slot {b}", mapping_slot(b, owner, spender)) for b in range(MAX_BASE_SLOT + 1)]
    out.insert(1, ("OpenZeppelin 5 namespaced", mapping_slot(OZ5_ERC20_STORAGE + 1, owner, spender)))
    return out


def override(token: str, slot: int, value: int) -> dict[str, Any]:
    return {token: {"stateDiff": {"0x" + _word(slot).hex(): "0x" + _word(value).hex()}}}


class AllowanceSlots:
    """Each token's allowance layout, found once by probing (the base slot or namespace; the slot itself depends on
    the owner and spender, and is computed from the layout without a round trip afterwards)."""

    def __init__(self) -> None:
        self._layouts: dict[str, str] = {}

    async def slot(self, chain: Chain, token: str, owner: str, spender: str) -> int | None:
        probes = candidates(owner, spender)
        known = self._layouts.get(token.lower())
        if known is not None:  # found before: the same layout, no round trip
            return next(slot for layout, slot in probes if layout == known)
        data = "0x" + p.ALLOWANCE.encode(owner, spender).hex()
        for layout, slot in probes:
            try:
                raw = await chain.call_with_override({"to": token, "data": data}, override(token, slot, MARKER))
            except Exception:  # noqa: BLE001 - a node without state overrides, or a token that reverts: no estimate
                log.info("allowance probe of %s failed", token, exc_info=True)
                return None
            if len(raw) >= 32 and int.from_bytes(raw[:32], "big") == MARKER:
                self._layouts[token.lower()] = layout
                return slot
        log.warning("allowance storage of %s not found in %d layouts: a call behind its approval keeps its bound",
                    token, len(probes))
        return None
