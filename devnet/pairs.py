"""Uniswap V2 arithmetic for the devnet's LP pairs: pair addresses and deposit amounts (exact integers)."""

from __future__ import annotations

from eth_utils import keccak
from hexbytes import HexBytes

from devnet.compile import PAIR_INIT_CODE_HASH
from devnet.rpc import create2_address


def sort_tokens(token_a: str, token_b: str) -> tuple[str, str]:
    """(token0, token1) as a V2 pair orders them: by address."""
    return (token_a, token_b) if int(token_a, 16) < int(token_b, 16) else (token_b, token_a)


def pair_address(factory: str, token_a: str, token_b: str) -> str:
    """Where `factory.createPair(token_a, token_b)` puts the pair (CREATE2, salt = keccak(token0 ++ token1))."""
    token0, token1 = sort_tokens(token_a, token_b)
    return create2_address(factory, keccak(HexBytes(token0) + HexBytes(token1)), PAIR_INIT_CODE_HASH)


def matching_amount(amount: int, reserve_of_it: int, reserve_of_other: int) -> int:
    """How much of the other token goes with `amount` of one at the pair's current ratio (rounded up, so the
    deposit is never short on that side)."""
    return -(-amount * reserve_of_other // reserve_of_it)

