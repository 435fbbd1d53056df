"""LP locked in the AssetLocking contract, read from its state at the snapshot's block.

`lockDatas(token, user)` returns (amount, cooldownAmount, cooldownEndTimestamp): `amount` is what the user has
locked now (an unlock moves its part to `cooldownAmount`, which no longer counts). `LockedLp` adds one such call
per LP token to each wallet's calls in the snapshot's Multicall3 batch, so locked LP costs no round trip of its
own and needs no history: a lock made long before the bot first ran is read like one made a block ago (replaying
Lock/UnLock events from the contract's first block would be millions of blocks of `eth_getLogs` on Base).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.chain import protocol as p
from bot.chain.client import Call, Result


class LockedLp:
    """The lockDatas calls of one wallet, and their decoding, for every LP token of the profile."""

    def __init__(self, locking: str, lp_tokens: Sequence[str]) -> None:
        self.locking = locking
        self.lp_tokens = tuple(lp_tokens)

    def calls(self, wallet: str) -> list[Call]:
        return [Call(self.locking, p.LOCK_DATAS, (token, wallet)) for token in self.lp_tokens]

    def amounts(self, results: Iterator[Result]) -> dict[str, int]:
        """LP token -> base units the wallet has locked, from the next `len(lp_tokens)` results (zeros and failed
        reads left out)."""
        out: dict[str, int] = {}
        for token in self.lp_tokens:
            res = next(results)
            if res.ok and int(res.values[0]) > 0:
                out[token] = int(res.values[0])
        return out
