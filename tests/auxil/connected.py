"""Connected (browser) wallets: what tests stand in for around them."""

from __future__ import annotations


class Hashes:
    """Records the transaction hashes a signing page reports, as the bot's hash callback receives them."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, str]] = []

    async def __call__(self, intent_id: int, step: int, tx_hash: str) -> None:
        self.seen.append((intent_id, step, tx_hash))
