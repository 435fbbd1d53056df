"""The hand-encoded Multicall3 envelope is exactly eth_abi's encoding."""

import pytest
from eth_abi.abi import encode

from bot.chain import AGGREGATE3, decode_aggregate3, encode_aggregate3

A = "0x" + "11" * 20
B = "0xcA11bde05977b3631167028862bE2a173976CA11"

CASES = [
    [],
    [(A, True, b"")],
    [(A, False, b"\x01")],
    [(B, True, bytes(range(32)))],
    [(B, True, bytes(range(33)))],
    [(A, True, b"\x42" * 4), (B, False, b"\x00" * 164), (A, True, b"")],
    [(B, i % 2 == 0, bytes([i]) * (i * 7)) for i in range(25)],
]


@pytest.mark.parametrize("calls", CASES, ids=[f"{len(c)} calls" for c in CASES])
def test_envelope_matches_eth_abi(calls: list[tuple[str, bool, bytes]]) -> None:
    expected = AGGREGATE3.selector + encode(["(address,bool,bytes)[]"], [calls])
    assert encode_aggregate3(calls) == expected


RESULTS = [
    [],
    [(True, b"")],
    [(False, b"\x01")],
    [(True, bytes(range(32))), (False, bytes(range(33)))],
    [(i % 3 == 0, bytes([i]) * (i * 5)) for i in range(25)],
]


@pytest.mark.parametrize("results", RESULTS, ids=[f"{len(r)} results" for r in RESULTS])
def test_result_decoding_matches_eth_abi(results: list[tuple[bool, bytes]]) -> None:
    data = encode(["(bool,bytes)[]"], [results])
    assert decode_aggregate3(data) == [tuple(r) for r in AGGREGATE3.decode(data)[0]] == results


def test_malformed_results_are_refused() -> None:
    good = encode(["(bool,bytes)[]"], [[(True, b"abc")]])
    with pytest.raises(ValueError):
        decode_aggregate3(good[:-40])  # truncated
    with pytest.raises(ValueError):
        decode_aggregate3(good[:32] + (10**6).to_bytes(32, "big") + good[64:])  # absurd count
    flipped = bytearray(good)
    flipped[127] = 2  # success flag of the first entry: not a boolean
    with pytest.raises(ValueError):
        decode_aggregate3(bytes(flipped))
