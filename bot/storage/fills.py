"""fills (migrations 0029, 0033): the portfolio's ledger, one row per filled intent, written once (`record` is an
insert that does nothing for an intent recorded already), and one per transfer seen from a wallet's balances
(`reconcile`: what the fills up to a block do not explain, once per chain, wallet, index and block; an index issued by
a factory waits while a request to it is open, issuance_orders); read newest first a page at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, exists, func, or_, select

from bot.portfolio.fill import Fill
from bot.storage.db import Database, Tx
from bot.storage.schema import fills, intents, issuance_orders

_f = fills.c
_i = intents.c
_o = issuance_orders.c
IN_FLIGHT = ("confirmed", "signed", "sent", "held")  # may still move tokens (bot.trading.intents: not terminal, past quoted)
REQUESTS = ("issue", "redeem")  # a factory request's intent kinds (bot.issuance.requests): tokens move when it fills
OPEN_ORDER = "pending"  # the factory may still fill it (bot.storage.orders: pending, then filled or cancelled)
LOCK_CLASS = 0x7F11  # advisory locks (LOCK_CLASS, hashtext(wallet)): one wallet's reconciliations take turns


def _fill(row: Row[Any]) -> Fill:
    return Fill(
        int(row.intent_id) if row.intent_id is not None else None, int(row.user_id), int(row.chain_id), row.kind, row.index_symbol, row.paid_symbol,
        int(row.paid_units), int(row.paid_decimals), row.received_symbol, int(row.received_units),
        int(row.received_decimals), Decimal(row.price_usd), int(row.pool_fee), Decimal(row.gas_usd),
        Decimal(row.btc_usd) if row.btc_usd is not None else None, row.tx_hash, int(row.block), int(row.filled_at),
        int(row.id), row.wallet or "",
    )


class FillRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _values(fill: Fill) -> dict[str, Any]:
        return {
            "intent_id": fill.intent_id, "user_id": fill.user_id, "chain_id": fill.chain_id, "kind": fill.kind,
            "index_symbol": fill.index, "paid_symbol": fill.paid_symbol, "paid_units": fill.paid_units,
            "paid_decimals": fill.paid_decimals, "received_symbol": fill.received_symbol,
            "received_units": fill.received_units, "received_decimals": fill.received_decimals,
            "price_usd": str(fill.price_usd), "pool_fee": fill.pool_fee, "gas_usd": str(fill.gas_usd),
            "btc_usd": str(fill.btc_usd) if fill.btc_usd is not None else None, "tx_hash": fill.tx_hash,
            "block": fill.block, "filled_at": fill.filled_at, "wallet": fill.wallet or None,
        }

    async def record(self, fill: Fill) -> bool:
        """Store the fill; False when its intent was recorded already (a second settling, another process)."""
        async with self._db.transaction() as tx:
            return await tx.execute(tx.insert(fills).values(**self._values(fill)).on_conflict_do_nothing(index_elements=["intent_id"])) == 1

    async def reconcile(self, chain_id: int, wallet: str, block: int, held: Mapping[str, int], kinds: tuple[str, ...],
                        transfer: Callable[[str, int], Fill]) -> list[Fill] | None:
        """Per index of `held` (base units the chain showed `wallet` holding at `block`), what its fills do not explain
        becomes `transfer(index, units)` (units > 0 came in), recorded once per wallet, index and block; the fills
        recorded. None, recording nothing, while the ledger is not settled for that read: an intent of the wallet may
        still move tokens (IN_FLIGHT), a mined one of `kinds` has no fill yet, a mined factory request has no order
        row yet, a request for an index of `held` is open at its factory (pending, or filled with no fill yet; a
        cancelled one is final and holds nothing up), or a fill is newer than `block` (the read is stale). A first look reads only (most views find nothing to record and take no write lock); a
        difference is checked again and written in one transaction, under the wallet's advisory lock on PostgreSQL
        (SQLite has one writer): two workers reconciling the same wallet at different blocks take turns, the second
        finding the first's transfer among the fills, or finding it newer than its read."""
        args = (chain_id, wallet, block, held, kinds)
        first = await self._differences(self._db, *args)
        if not first:
            return None if first is None else []
        recorded: list[Fill] = []
        async with self._db.transaction() as tx:
            if tx.dialect != "sqlite":
                await tx.fetch_one(select(func.pg_advisory_xact_lock(LOCK_CLASS, func.hashtext(wallet))))
            differences = await self._differences(tx, *args)
            if differences is None:
                return None
            for index, units in differences.items():
                fill = transfer(index, units)
                stmt = tx.insert(fills).values(**self._values(fill)).on_conflict_do_nothing(
                    index_elements=["chain_id", "wallet", "index_symbol", "block"], index_where=_f.intent_id.is_(None))
                if await tx.execute(stmt) == 1:
                    recorded.append(fill)
        return recorded

    @classmethod
    async def _differences(cls, q: Database | Tx, chain_id: int, wallet: str, block: int, held: Mapping[str, int],
                           kinds: tuple[str, ...]) -> dict[str, int] | None:
        """Per index, held less what the wallet's fills explain (only the non-zero ones); None when unsettled."""
        if await cls._unsettled(q, chain_id, wallet, block, kinds, tuple(held)):
            return None
        rows = await q.fetch_all(
            select(_f.index_symbol, _f.paid_symbol, _f.paid_units, _f.received_symbol, _f.received_units)
            .where(_f.wallet == wallet, _f.chain_id == chain_id, _f.index_symbol.in_(tuple(held))))
        explained = dict.fromkeys(held, 0)
        for r in rows:  # summed here, exact: SQLite keeps amounts as text
            explained[r.index_symbol] += (int(r.received_units) if r.received_symbol == r.index_symbol else 0) - (
                int(r.paid_units) if r.paid_symbol == r.index_symbol else 0)
        return {index: units - explained[index] for index, units in held.items() if units != explained[index]}

    @staticmethod
    async def _unsettled(q: Database | Tx, chain_id: int, wallet: str, block: int, kinds: tuple[str, ...],
                         indexes: tuple[str, ...]) -> bool:
        """Something the ledger does not show yet may have moved the wallet's tokens (of `indexes`, for a factory's
        request) at or before `block`."""
        mine = and_(_i.address == wallet, _i.chain_id == chain_id)
        moving = select(_i.id).where(mine, _i.state.in_(IN_FLIGHT))
        unfilled = (select(_i.id).select_from(intents.outerjoin(fills, _f.intent_id == _i.id))
                    .where(mine, _i.kind.in_(kinds), _i.state == "mined", _f.id.is_(None)))
        # a request the factory took (its result names the factory's nonce) whose order row is not made yet
        unordered = (select(_i.id).select_from(intents.outerjoin(issuance_orders, _o.intent_id == _i.id))
                     .where(mine, _i.kind.in_(REQUESTS), _i.state == "mined", _i.result.contains('"nonce"'), _o.id.is_(None)))
        requested = (select(_o.id).select_from(issuance_orders.join(intents, _i.id == _o.intent_id)
                                               .outerjoin(fills, _f.intent_id == _o.intent_id))
                     .where(mine, _o.index_symbol.in_(indexes),
                            or_(_o.state == OPEN_ORDER, and_(_o.state == "filled", _f.id.is_(None)))))
        newer = select(_f.id).where(_f.wallet == wallet, _f.chain_id == chain_id, _f.block > block)
        return bool(await q.scalar(select(or_(exists(moving), exists(unfilled), exists(unordered), exists(requested),
                                              exists(newer)))))

    async def page(self, user_id: int, offset: int, limit: int) -> list[Fill]:
        """The user's fills, newest first."""
        rows = await self._db.fetch_all(
            select(fills).where(_f.user_id == user_id).order_by(_f.id.desc()).offset(offset).limit(limit))
        return [_fill(r) for r in rows]

    async def count(self, user_id: int) -> int:
        return int(await self._db.scalar(select(func.count()).select_from(fills).where(_f.user_id == user_id)) or 0)

    async def all(self, user_id: int) -> list[Fill]:
        """The user's fills, oldest first (what cost basis replays)."""
        rows = await self._db.fetch_all(select(fills).where(_f.user_id == user_id).order_by(_f.id))
        return [_fill(r) for r in rows]

    async def unrecorded(self, kinds: tuple[str, ...]) -> list[int]:
        """Mined intents of these kinds with no fill (a crash came between the outcome and its fill)."""
        i = intents.c
        rows = await self._db.fetch_all(
            select(i.id).select_from(intents.outerjoin(fills, _f.intent_id == i.id))
            .where(i.kind.in_(kinds), i.state == "mined", _f.id.is_(None)).order_by(i.id))
        return [int(r.id) for r in rows]
