"""Nonce gaps found at start-up are repaired, not waited on.

A custodial wallet's stored transactions in flight (signed or sent, unsettled) must hold consecutive nonces from
the chain's pending count: one above a hole (the transaction that held it was refused and dropped, or the
chain lost blocks the database remembers) would wait at the node forever and the trade would stay "submitted".
`repair_gaps` moves those transactions down into the holes, lowest first: each is re-signed from its own stored
raw transaction (never from what a node hands back) with the same recipient, calldata, value, gas and fees at
the first free nonce, stored as replacing the old one (which is then never broadcast again), and the follower
broadcasts it. Intents only move forward; nothing is repeated: a transaction the node still holds (queued
behind the hole) is left where it is, because once the hole fills it would mine as well: it is reported, and so
is everything above it.

`replay_lost` (devnets only) handles the other way a database can be ahead of its chain: the embedded devnet
saves its chain every few seconds, so a crash can lose the last blocks while the database recorded their
transactions as mined. As a node does for the blocks a reorganisation removed, our own signed transactions from
those blocks are sent again, byte for byte: the same signed transaction can only ever run once on a chain, so
nothing is repeated, and the nonces the database holds are the chain's again. (On a real chain this would cost
a round trip per wallet at every start, and a reorg deeper than the follower's wait is not expected there.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from web3.exceptions import Web3RPCError

from bot.storage.intents import NewTx, TxRow
from bot.trading.follow import Pipeline, node_has_it
from bot.trading.intents import Intent
from bot.trading.nonces import gaps
from bot.trading.txs import Fees, unsigned_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Moved:
    intent_id: int
    step: int
    old_nonce: int
    new_nonce: int
    tx_hash: str


async def repair_gaps(desk: Pipeline, intents: list[Intent]) -> list[Moved]:
    """Move the in-flight transactions of these intents (custodial wallets on `desk`'s chain) down into the nonce
    holes below them; returns what was moved. Run at start-up, before the follower looks at them."""
    held: dict[str, list[tuple[Intent, TxRow]]] = {}
    for intent in intents:
        if intent.connected:
            continue  # a connected wallet numbers its own transactions
        for row in await desk.intents.txs(intent.id):
            if row.live and row.nonce is not None and row.raw_tx is not None:
                held.setdefault(intent.address, []).append((intent, row))
    moved: list[Moved] = []
    for address, rows in held.items():
        async with desk.nonces.lock(address):
            moved += await _repair(desk, address, sorted(rows, key=lambda p: int(p[1].nonce or 0)))
            desk.nonces.forget(address)  # the next trade reads the chain and the moved rows again
    return moved


async def _repair(desk: Pipeline, address: str, rows: list[tuple[Intent, TxRow]]) -> list[Moved]:
    pending = await desk.chain.nonce(address, "pending")
    holes = gaps(pending, [int(r.nonce or 0) for _, r in rows])
    if not holes:
        return []
    log.warning("nonce gap for %s on chain %s: the chain is at %s, nonces %s are held by nobody; moving the "
                "transactions above them down", address, desk.profile.chain_id, pending, holes)
    moved: list[Moved] = []
    nxt = pending
    for intent, row in rows:
        nonce = int(row.nonce or 0)
        if nonce < pending:
            continue  # the chain used it: the follower settles it
        if nonce == nxt:
            nxt += 1
            continue
        if await desk.chain.transaction_known(row.tx_hash):
            log.warning("intent %s: %s (nonce %s) is queued at the node behind the gap; it is not re-signed (it "
                        "would mine too once the gap fills), nor is anything above it", intent.id, row.tx_hash, nonce)
            break
        account = await desk.signers.account(intent.user_id)
        if account.address != address or row.max_fee is None or row.priority_fee is None:
            log.warning("intent %s: cannot re-sign %s (not this wallet's key, or no fees stored)", intent.id, row.tx_hash)
            break
        fees = Fees(row.max_fee, row.priority_fee)
        raw, tx_hash = desk.sign(account, unsigned_of(row), nxt, fees)
        if not await desk.intents.store_replacement(row, NewTx(row.step, row.purpose, address, nxt, raw, tx_hash,
                                                                fees.max_fee, fees.priority_fee)):
            log.warning("intent %s: %s settled meanwhile; it is not moved, nor is anything above it", intent.id,
                        row.tx_hash)
            break
        log.warning("intent %s step %s: moved from nonce %s to %s as %s", intent.id, row.step, nonce, nxt, tx_hash)
        moved.append(Moved(intent.id, row.step, nonce, nxt, tx_hash))
        nxt += 1
    return moved


async def replay_lost(desk: Pipeline) -> list[str]:
    """Send again our own mined or reverted transactions the devnet's chain no longer has (lost with the last
    seconds before a crash); returns their hashes. Only on a devnet profile (see the module docstring)."""
    if "devnet" not in desk.profile.extra:
        return []
    sent: list[str] = []
    for address, highest in (await desk.intents.settled_from(desk.profile.chain_id)).items():
        count = await desk.chain.nonce(address, "latest")
        if highest < count:
            continue
        async with desk.nonces.lock(address):
            rows = await desk.intents.settled_txs(desk.profile.chain_id, address, count)
            log.warning("the chain lost %s's transactions from nonce %s (the database recorded them mined): "
                        "sending them again", address, count)
            for row in rows:
                assert row.raw_tx is not None
                try:
                    await desk.chain.send_raw(row.raw_tx)
                except Web3RPCError as exc:
                    if node_has_it(exc):
                        sent.append(row.tx_hash)  # the node has it already (another chain's desk on this node)
                        continue
                    log.warning("could not send %s again: %s", row.tx_hash, exc)
                    break
                sent.append(row.tx_hash)
            desk.nonces.forget(address)
    return sent
