"""Connected (browser) wallets: what tests stand in for around them."""

from __future__ import annotations

from typing import Any

from bot.trading.txs import fees_from_base


class Hashes:
    """Records the transaction hashes a signing page reports, as the bot's hash callback receives them."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, str]] = []

    async def __call__(self, intent_id: int, step: int, tx_hash: str) -> None:
        self.seen.append((intent_id, step, tx_hash))


async def sign_page(app: Any, account: Any, url: str) -> list[str]:
    """Sign every step of the signing page at `url` as its script does (bot/frontends/web/sign.py): claim the link,
    send each transaction it asks for from `account` (mined at once on the devnet, before the next), report each
    hash. The hashes."""
    token = url.rsplit("/", 1)[1].split("?", 1)[0]
    wallets = app.services.connected
    page = await wallets.open_signing(token, None)
    session = await wallets.claim_signing(token, None)
    hashes = []
    for step, tx in enumerate(page.txs):
        block = await app.chain.w3.eth.get_block("latest")
        fees = fees_from_base(int(block["baseFeePerGas"]), 10**6)
        signed = account.sign_transaction({
            "type": 2, "chainId": page.chain_id, "to": tx.to, "data": tx.data, "value": tx.value,
            "gas": tx.gas or 400_000, "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
            "nonce": await app.chain.w3.eth.get_transaction_count(account.address, "pending"),
        })
        await app.chain.send_raw(bytes(signed.raw_transaction))
        tx_hash = "0x" + bytes(signed.hash).hex()
        await wallets.report_hash(token, session, step, tx_hash)
        hashes.append(tx_hash)
    return hashes
