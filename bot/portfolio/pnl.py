"""Cost basis by average cost, realized and unrealized PnL, and the same money held in BTC or left in USDC.

Average cost: a buy adds what it paid (gas included) to the index's cost and its tokens to the holding; a sell
takes out its tokens at the average cost per token then, and realizes its proceeds (less its gas) minus that cost.
Unrealized is what the ledger's remaining tokens are worth at today's price less their remaining cost.

Transfers (bot.portfolio.transfers: tokens that came in or left the wallet other than by a trade, seen from its
balances) follow one rule, named to the user beside the method (portfolio.transfers.rule):
- a transfer in enters at its market value when it was seen (the NAV per token, or the pool price while NAV is
  partial, the price /positions values the holding at). What the sender paid is unknowable from a balance, and
  counting it at zero would book its whole value as profit at the next sell; at market value it is new money put
  in at that moment (it counts in what went in, and the BTC and USDC comparisons take it in at that price), and
  the PnL from then on is what the bot can honestly attribute to holding it;
- a transfer out leaves at the average cost and realizes nothing: the tokens were not sold (the bot saw no
  proceeds; they may be the user's own tokens moved to another wallet), so no gain or loss is true of them. Their
  cost leaves the books with them (cost and what went in), as does the same share of the BTC comparison.

What stays unexplained (`uncosted`): tokens a sell took out that the ledger has not seen arrive, because they came in
by a transfer that detection had not seen yet when they were sold (detection waits while trades are in flight, and
runs periodically). Their share of the sell realizes nothing until the transfer is seen; then the transfer covers
them first (at its market value, realizing the withheld proceeds less that value) and `uncosted` goes back to 0.

The comparison replays the same cash flows in BTC: each buy's USD buys BTC at that fill's BTC price, each sell's
proceeds are taken out of that BTC at its BTC price; USDC left idle neither gains nor loses. Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.portfolio.fill import Fill

METHOD = "average"  # the cost basis method, named to the user (portfolio.method.average)
TRANSFER_RULE = "market_in_cost_out"  # how transfers are costed, named to the user (portfolio.transfers.<rule>)
TRANSFER_IN = "transfer_in"
TRANSFER_OUT = "transfer_out"


@dataclass(frozen=True)
class IndexPnl:
    index: str
    tokens: Decimal  # held according to the ledger
    cost: Decimal  # what the held tokens cost, by average cost
    invested: Decimal  # every buy's USD and gas, and transfers in at their value, less transfers out at their cost
    realized: Decimal
    unrealized: Decimal | None  # None: no price now
    first_at: int  # the first fill's time
    btc_value: Decimal | None  # what the same cash flows held in BTC are worth now (None: BTC unpriced)
    proceeds: Decimal  # what sells of tokens with a known cost brought in, less their gas
    uncosted: Decimal = Decimal(0)  # tokens sold whose arrival the ledger has not seen yet: no PnL counted
    transferred: bool = False  # a transfer in or out is part of it (the rule is named with the method)

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.tokens if self.tokens else None

    @property
    def value(self) -> Decimal | None:
        """What the held tokens are worth at today's price (their cost and unrealized PnL); None: no price now."""
        return None if self.unrealized is None else self.cost + self.unrealized

    @property
    def total(self) -> Decimal | None:
        return None if self.unrealized is None else self.realized + self.unrealized

    def pct(self, amount: Decimal | None) -> Decimal | None:
        return None if amount is None or not self.invested else amount / self.invested

    @property
    def btc_worth(self) -> Decimal | None:
        """What the same money put into BTC is worth now: its remaining BTC plus what sells took out."""
        return None if self.btc_value is None else self.btc_value + self.proceeds

    @property
    def btc_pnl(self) -> Decimal | None:
        """PnL had the same money gone into BTC (its remaining BTC now plus what was taken out, less the money in)."""
        return None if self.btc_value is None else self.btc_value + self.proceeds - self.invested


def total_of(pnls: Iterable[IndexPnl]) -> IndexPnl:
    """Every index's PnL added up, for one card of them all: costs, money in and out, PnL and the BTC comparison;
    unpriced (or BTC unpriced) when any index is. No token count: tokens of different indexes do not add up."""
    items = list(pnls)

    def added(values: list[Decimal | None]) -> Decimal | None:
        return None if any(v is None for v in values) else sum((v for v in values if v is not None), Decimal(0))

    return IndexPnl("", Decimal(0), sum((p.cost for p in items), Decimal(0)),
                    sum((p.invested for p in items), Decimal(0)),
                    sum((p.realized for p in items), Decimal(0)), added([p.unrealized for p in items]),
                    min((p.first_at for p in items), default=0), added([p.btc_value for p in items]),
                    sum((p.proceeds for p in items), Decimal(0)), sum((p.uncosted for p in items), Decimal(0)),
                    any(p.transferred for p in items))


@dataclass
class _Book:
    """One index's running state while the fills are replayed."""

    first_at: int
    tokens: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    invested: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    btc: Decimal = Decimal(0)  # BTC the same cash flows would hold
    proceeds: Decimal = Decimal(0)
    short: Decimal = Decimal(0)  # tokens sold before their arrival was seen (uncosted)
    withheld: Decimal = Decimal(0)  # those tokens' share of their sells' proceeds, not realized yet
    btc_known: bool = True
    transferred: bool = False

    def put_in(self, usd: Decimal, tokens: Decimal, fill: Fill) -> None:
        """Money in for tokens (a buy, or a transfer in at its value)."""
        self.tokens += tokens
        self.cost += usd
        self.invested += usd
        if fill.btc_usd:
            self.btc += usd / fill.btc_usd

    def take_out(self, proceeds: Decimal, cost: Decimal, fill: Fill) -> None:
        """Proceeds out for tokens that cost `cost` (a sell's tokens with a known cost)."""
        self.realized += proceeds - cost
        self.proceeds += proceeds
        if fill.btc_usd:
            self.btc -= proceeds / fill.btc_usd


def _buy(book: _Book, fill: Fill) -> None:
    book.put_in(fill.usd + fill.gas_usd, fill.tokens, fill)


def _sell(book: _Book, fill: Fill) -> None:
    """Only the tokens the ledger saw arrive have a cost: the rest realizes nothing until their arrival is seen."""
    sold = min(fill.tokens, book.tokens)
    net = fill.usd - fill.gas_usd
    cost_out = book.cost * sold / book.tokens if book.tokens else Decimal(0)
    proceeds = net * sold / fill.tokens if fill.tokens else Decimal(0)
    book.short += fill.tokens - sold
    book.withheld += net - proceeds
    book.tokens -= sold
    book.cost -= cost_out
    book.take_out(proceeds, cost_out, fill)


def _transfer_in(book: _Book, fill: Fill) -> None:
    """At market value when seen; first covering tokens sold before it was seen (their withheld proceeds realize)."""
    book.transferred = True
    covered = min(fill.tokens, book.short)
    if covered:
        value = covered * fill.price_usd
        released = book.withheld * covered / book.short
        book.invested += value
        if fill.btc_usd:
            book.btc += value / fill.btc_usd
        book.take_out(released, value, fill)
        book.short -= covered
        book.withheld -= released
    rest = fill.tokens - covered
    book.put_in(rest * fill.price_usd, rest, fill)


def _transfer_out(book: _Book, fill: Fill) -> None:
    """At average cost, realizing nothing: the cost and the same share of the BTC comparison leave with the tokens."""
    book.transferred = True
    out = min(fill.tokens, book.tokens)
    if not out:
        return
    share = out / book.tokens
    cost_out = book.cost * share
    book.tokens -= out
    book.cost -= cost_out
    book.invested -= cost_out
    book.btc -= book.btc * share


EFFECTS: Mapping[str, Callable[[_Book, Fill], None]] = {TRANSFER_IN: _transfer_in, TRANSFER_OUT: _transfer_out}


def _effect(fill: Fill) -> Callable[[_Book, Fill], None]:
    """A transfer's own rule, else what a trade did: added tokens (buy, issue) or took them (sell, redeem)."""
    return EFFECTS.get(fill.kind, _buy if fill.buys else _sell)


def pnl_of(fills: Iterable[Fill], prices: Mapping[str, Decimal], btc_now: Decimal | None) -> dict[str, IndexPnl]:
    """Each index's PnL from its fills (oldest first) at today's `prices` (USD per index token)."""
    books: dict[str, _Book] = {}
    for fill in fills:
        book = books.setdefault(fill.index, _Book(fill.filled_at))
        book.btc_known = book.btc_known and bool(fill.btc_usd)
        _effect(fill)(book, fill)
    result = {}
    for index, b in books.items():
        price = prices.get(index)
        unrealized = b.tokens * price - b.cost if price is not None else None
        btc_value = b.btc * btc_now if btc_now and b.btc_known else None
        result[index] = IndexPnl(index, b.tokens, b.cost, b.invested, b.realized, unrealized, b.first_at, btc_value,
                                 b.proceeds, b.short, b.transferred)
    return result
