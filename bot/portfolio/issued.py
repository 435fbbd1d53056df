"""What wallets hold of the indexes a factory issues (venue "issuance", MAG7.nex), read for transfer detection
(bot.portfolio.transfers) on each index's own chain.

Per chain holding such indexes, one Multicall3 `eth_call`: that chain's block number and time, and every wallet's
`balanceOf` of each of its issued index tokens, so all of them are read at one block of that chain. Each index is
valued at the NAV per token its factory's state gives (bot.issuance.venue.Issuance.state, what /wallet shows it at);
an index whose factory cannot be read or prices it at nothing is left out of `held` (its transfers wait for a price;
/positions shows its amount, from `unpriced`, with no price). A failed `balanceOf` leaves that index out of both:
nothing read is nothing compared. The same reads serve /positions (bot.portfolio.positions) and its transfer
detection: one read per chain and view.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.chain import protocol as p
from bot.chain.client import Call, ChainUnavailable
from bot.chain.profile import IndexRef
from bot.core.amounts import from_base_units
from bot.issuance.venue import Issuance
from bot.market.positions import Position
from bot.portfolio.prices import nav_price
from bot.trading.executor import Executor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holdings:
    """What `address` held on the chain `chain_id` at `block` (its time `timestamp`): per index, (base units, the
    token's decimals, USD per token)."""

    chain_id: int
    address: str
    block: int
    timestamp: int
    held: dict[str, tuple[int, int, Decimal]]
    unpriced: dict[str, tuple[int, int]] = field(default_factory=dict)  # read, but its factory gave no price: (units, decimals)


class IssuedHoldings:
    def __init__(self, issuance: Issuance) -> None:
        self._issuance = issuance
        self._chains: dict[int, tuple[Executor, list[IndexRef]]] = {}  # chain id -> its desk and its issued indexes
        for ref in issuance.indexes:
            desk = issuance.desk(ref)
            self._chains.setdefault(desk.profile.chain_id, (desk, []))[1].append(ref)
        self._reads: dict[int, tuple[int, dict[str, Holdings]]] = {}  # chain id -> (block, wallet -> its read then)

    async def read(self, wallet: str) -> list[Holdings]:
        """`wallet`'s holdings on each chain, at most one read per chain and block: the last one is reused while that
        chain's head has not moved (a view's `check`); a chain that cannot be read now is left out (logged)."""
        out = []
        for chain_id, (desk, refs) in self._chains.items():
            block, reads = self._reads.get(chain_id, (0, {}))
            last = reads.get(wallet)
            if last is None or desk.head.fresh_head() != last.block:
                try:
                    (last,) = await self._read_chain(desk, refs, [wallet])
                except ChainUnavailable:
                    log.warning("transfer detection: chain %s unreadable, its issued indexes wait", desk.profile.name)
                    continue
                if last.block > block:  # a new block: the older reads serve no one
                    block, reads = last.block, {}
                reads[wallet] = last
                self._reads[chain_id] = (block, reads)
            out.append(last)
        return out

    async def positions(self, user_id: int, wallet: str) -> tuple[list[Holdings], tuple[Position, ...]]:
        """What /positions shows of each factory-issued index `wallet` holds or is redeeming: the reads (one per chain,
        shared with the view's transfer detection) and a position per index, valued at its factory's NAV per token.

        Pending requests: a redemption's tokens are taken into the factory when it is requested, and stay there until
        the factory fills it (or go back when it is cancelled). Until it fills they are still the user's: the ledger
        has no redemption yet, so the PnL counts them among the tokens held (their unrealized PnL moves with the NAV),
        and the position shows them apart as `redeeming`, valued at the same NAV, beside what the wallet holds (the
        order itself is in /orders). A pending issuance has paid USDC in and given no token yet: it counts for nothing
        here until the factory fills it (then it is a fill at the factory's price, in the ledger and the wallet).
        A chain that cannot be read is left out (logged): its indexes have no position, and their PnL no price."""
        reads = await self.read(wallet)
        redeeming: dict[str, int] = {}
        for order in await self._issuance.orders.rows.pending_of(user_id, wallet):
            if order.side == "redeem":
                redeeming[order.index] = redeeming.get(order.index, 0) + order.amount_in
        return reads, positions_of(reads, redeeming)

    async def read_many(self, wallets: Sequence[str]) -> list[Holdings]:
        """Every wallet's holdings on each chain, one call per chain (the sweep's batch); a chain that cannot be read
        now is left out (logged): its wallets wait for the next run."""
        out: list[Holdings] = []
        for desk, refs in self._chains.values():
            try:
                out += await self._read_chain(desk, refs, wallets)
            except ChainUnavailable:
                log.warning("transfer detection: chain %s unreadable, its issued indexes wait", desk.profile.name)
        return out

    async def _read_chain(self, desk: Executor, refs: list[IndexRef], wallets: Sequence[str]) -> list[Holdings]:
        mc = desk.chain.multicall3
        calls = [Call(mc, p.BLOCK_NUMBER), Call(mc, p.BLOCK_TIMESTAMP)]
        calls += [Call(ref.token.address, p.BALANCE_OF, (wallet,)) for wallet in wallets for ref in refs]
        at, now, *balances = await desk.chain.multicall(calls)
        if not (at.ok and now.ok):
            raise ChainUnavailable(f"{desk.profile.name}: Multicall3 answered no block")
        prices = {ref.symbol: await self._nav(ref) for ref in refs}
        out = []
        for i, wallet in enumerate(wallets):
            held, unpriced = {}, {}
            for ref, got in zip(refs, balances[i * len(refs):(i + 1) * len(refs)], strict=True):
                price = prices[ref.symbol]
                if got.ok and price is not None:
                    held[ref.symbol] = (int(got.one()), ref.token.decimals, price)
                elif got.ok:
                    unpriced[ref.symbol] = (int(got.one()), ref.token.decimals)
            out.append(Holdings(desk.profile.chain_id, wallet, int(at.one()), int(now.one()), held, unpriced))
        return out

    async def _nav(self, ref: IndexRef) -> Decimal | None:
        """USD per token at the factory's NAV (bot.portfolio.prices, as every view prices it); None when unreadable
        or nothing: its transfers wait for a price."""
        return await nav_price(self._issuance, ref)


def positions_of(reads: Sequence[Holdings], redeeming: dict[str, int]) -> tuple[Position, ...]:
    """A position per issued index read (`IssuedHoldings.positions`) that the wallet holds or has pending
    redemptions of (`redeeming`: base units per index), at its NAV per token (no price: its factory was unreadable)."""
    out = []
    for read in reads:
        amounts: dict[str, tuple[int, int, Decimal | None]] = {
            **{s: (units, decimals, None) for s, (units, decimals) in read.unpriced.items()}, **read.held}
        for symbol, (units, decimals, price) in amounts.items():
            pending = redeeming.get(symbol, 0)
            if units or pending:
                out.append(Position(symbol, None, from_base_units(units, decimals), Decimal(0), Decimal(0), None,
                                    Decimal(0), None, None, price, factory=True,
                                    redeeming=from_base_units(pending, decimals)))
    return tuple(out)
