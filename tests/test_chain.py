"""The hand-encoded Multicall3 envelope is exactly eth_abi's encoding; looking a transaction up by its nonce."""

from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi.abi import encode

from bot.app import App
from bot.chain.client import AGGREGATE3, decode_aggregate3, encode_aggregate3
from conftest import make_config
from devnet.harness import Devnet

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


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_the_transaction_mined_with_a_nonce_is_found_by_its_sender(tmp_path: Path) -> None:
    """`mined_with_nonce` finds each of a sender's transactions among blocks where others are mined too, and
    nothing for a nonce not used yet. On a devnet of its own: it reads nonces at past blocks, and the shared
    session devnet's history is moved by other tests' snapshots and reverts (in one of three test processes it
    once answered no state)."""
    net = await Devnet.start(tmp_path / "devnet")
    app = await App.start(make_config(net, tmp_path / "home"))
    try:
        await _found_by_sender(app)
    finally:
        await app.stop()
        await net.stop()


async def _found_by_sender(app: App) -> None:
    from eth_account import Account

    from devnet.operator import fund

    w3, chain = app.chain.w3, app.chain
    sender, other = Account.create(), Account.create()
    await fund(app.profile, sender.address, eth=Decimal(1))
    await fund(app.profile, other.address, eth=Decimal(1))
    hashes = []
    for nonce in range(5):
        for who, n in ((sender, nonce), (other, nonce)):
            tx = who.sign_transaction({"to": who.address, "value": 1, "gas": 21_000, "nonce": n, "chainId": app.profile.chain_id,
                                       "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})
            sent = await w3.eth.send_raw_transaction(tx.raw_transaction)
            await w3.eth.wait_for_transaction_receipt(sent)
            if who is sender:
                hashes.append(bytes(sent))
    for nonce, tx_hash in enumerate(hashes):
        found = await chain.mined_with_nonce(sender.address, nonce)
        assert found is not None and bytes(found["hash"]) == tx_hash and int(found["nonce"]) == nonce
    assert await chain.mined_with_nonce(sender.address, 5) is None
