"""Typed intent parameters are stored exactly as the rows before them: same keys, same order, same JSON."""

import json

from bot.trading.params import (
    CancelParams, IssuanceParams, StakeParams, SwapParams, WithdrawParams, from_json, to_json,
)

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def test_each_kind_writes_the_json_rows_always_held_and_reads_it_back() -> None:
    cases = [
        (SwapParams("MAG7.ssi", "buy", A, B, "USDC", "MAG7.ssi", 6, 8, 100_000_000, 123_456, 77),
         '{"index": "MAG7.ssi", "side": "buy", "token_in": "%s", "token_out": "%s", "symbol_in": "USDC", '
         '"symbol_out": "MAG7.ssi", "decimals_in": 6, "decimals_out": 8, "amount_in": 100000000, "quoted_out": 123456, '
         '"quote_block": 77}' % (A, B)),
        (WithdrawParams("ETH", None, 18, 10**17, False, B, "base"),
         '{"asset": "ETH", "token": null, "decimals": 18, "amount": 100000000000000000, "all": false, "to": "%s", '
         '"chain": "base"}' % B),
        (StakeParams("SOSO", B, A, "SOSO", "sSOSO", 18, 5, 0, 0, 604800, False, {"level_from": "0", "level_to": "1"}),
         '{"index": "SOSO", "staking": "%s", "token": "%s", "symbol": "SOSO", "staked_symbol": "sSOSO", "decimals": 18, '
         '"amount": 5, "pending": 0, "pending_end": 0, "cooldown": 604800, "restart": false, "level_from": "0", '
         '"level_to": "1"}' % (B, A)),
        (IssuanceParams("MAG7.nex", "sell", "base", B, A, "0x" + "cc" * 20, "MAG7.nex", "USDC", 18, 6, 10**18, 99, "1.5",
                        "0.001", 12),
         '{"index": "MAG7.nex", "side": "sell", "chain": "base", "factory": "%s", "token_in": "%s", "token_out": "%s", '
         '"symbol_in": "MAG7.nex", "symbol_out": "USDC", "decimals_in": 18, "decimals_out": 6, '
         '"amount_in": 1000000000000000000, "quoted_out": 99, "nav": "1.5", "fee": "0.001", "quote_block": 12}'
         % (B, A, "0x" + "cc" * 20)),
        (CancelParams("MAG7.nex", "base", B, 3, 9, 50_000_000, "USDC", 6),
         '{"index": "MAG7.nex", "chain": "base", "factory": "%s", "nonce": 3, "order_id": 9, "amount_in": 50000000, '
         '"symbol_in": "USDC", "decimals_in": 6}' % B),
    ]
    for params, stored in cases:
        assert json.dumps(to_json(params)) == stored
        later = {**json.loads(stored), "wallet": "connected", "gas_limits": [21000], "fresh_out": 1}  # added later
        assert from_json(type(params), later) == params
