"""The issuance venue as handlers see it: quote, request, follow and cancel, for indexes on any loaded chain.

An index with `venue = "issuance"` is quoted from its factory (bot.issuance.factory) and bought or sold by a
request to it through its chain's executor (bot.issuance.requests); the request is pending until the factory
fills it, which bot.issuance.orders follows.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.chain import protocol as p
from bot.market.balances import Holding
from bot.chain.client import Call, Chain
from bot.core.amounts import from_base_units
from bot.issuance.factory import FactoryReader, FactoryState, RequestQuote, Side
from bot.issuance.hours import MarketHours
from bot.issuance.orders import Orders
from bot.issuance.requests import hours_of, quote_request
from bot.chain.profile import IndexRef, Profile
from bot.trading.executor import Executor
from bot.trading.status import Sender


class Issuance:
    def __init__(self, desks: dict[str, Executor], orders: Orders, home: Chain | None = None) -> None:
        """`home`: the home chain's client; holdings read on any other chain say which."""
        self.orders = orders
        self._home = home
        self._desk_of: dict[str, Executor] = {}
        self._readers: dict[str, FactoryReader] = {}
        for desk in desks.values():
            reader = FactoryReader(desk.profile, desk.chain, desk.head)
            for ref in desk.profile.indexes:
                if ref.venue == "issuance":
                    self._desk_of[ref.symbol] = desk
                    self._readers[ref.symbol] = reader

    @property
    def indexes(self) -> tuple[IndexRef, ...]:
        return tuple(self._desk_of[s].profile.index(s) for s in self._desk_of)

    def desk(self, ref: IndexRef) -> Executor:
        return self._desk_of[ref.symbol]

    def chain_of(self, ref: IndexRef) -> Profile:
        return self._desk_of[ref.symbol].profile

    def hours(self, ref: IndexRef) -> MarketHours:
        return hours_of(ref)

    async def holdings(self, address: str) -> tuple[Holding, ...]:
        """What `address` holds of each issued index, read on its chain and valued at its factory's NAV (the
        factory is read only for an index the address holds)."""

        async def one(ref: IndexRef) -> Holding:
            (held,) = await self._desk_of[ref.symbol].chain.multicall([Call(ref.token.address, p.BALANCE_OF, (address,))])
            units = int(held.one()) if held.ok else 0
            amount = from_base_units(units, ref.token.decimals)
            usd = amount * (await self.state(ref)).nav if units else Decimal(0)
            chain = self._desk_of[ref.symbol].chain
            return Holding(ref.symbol, "index", units, amount, usd, None if chain is self._home else self.chain_of(ref).chain_label)

        return tuple(await asyncio.gather(*(one(ref) for ref in self.indexes)))

    async def state(self, ref: IndexRef) -> FactoryState:
        return await self._readers[ref.symbol].read(ref)

    async def quote(self, ref: IndexRef, side: Side, amount: Decimal) -> RequestQuote:
        return await self._readers[ref.symbol].quote(ref, side, amount)

    async def request(self, user_id: int, platform: str, chat_id: str, ref: IndexRef, side: Side,
                      amount: Decimal, wallet: Sender | None = None) -> tuple[int, RequestQuote]:
        """A quoted request from `wallet` (default: the user's) stored as an intent on the index's chain."""
        return await quote_request(self.desk(ref), self._readers[ref.symbol], user_id, platform, chat_id, ref, side,
                                   amount, wallet)
