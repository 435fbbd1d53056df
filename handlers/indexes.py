"""/indexes: each index with NAV, DEX price, premium or discount, and its composition with weights; an issued
index with its chain, fee, market hours, and its next constituents while a monthly reindex is pending.

`/indexes MAG7` shows one index; `/indexes MAG7 sources` where each constituent's price came from and how old it
is (or, for one without a fresh price, every source tried and why it could not be used); `/indexes sources`
the same for every index."""

from decimal import Decimal
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Pct, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present as issuance_present
from bot.market.quotes import IndexState, Snapshot
from bot.market.prices import present as prices
from bot.services import Services


def premium_line(premium: Decimal) -> Msg:
    key = "indexes.premium" if premium >= 0 else "indexes.discount"
    return Msg(key, {"pct": Pct(abs(premium))})


def index_lines(state: IndexState, snap: Snapshot) -> list[Msg]:
    lines = [Msg("indexes.header", {"index": state.symbol}, style="title")]
    if state.partial:  # no full NAV: the pool price alone, and which constituents have no fresh price
        lines.append(prices.partial_line(state.unpriced, state.dex_price))
    elif state.dex_price is not None and state.premium is not None:
        lines.append(Msg("indexes.nav", {"nav": Usd(state.nav)}))
        lines += [Msg("indexes.dex", {"price": Usd(state.dex_price)}), Msg("indexes.dex.premium", {"premium": premium_line(state.premium)})]
    else:
        lines.append(Msg("indexes.nav", {"nav": Usd(state.nav)}))
        lines.append(Msg("indexes.no_pool"))
    if state.rebalancing:
        lines.append(Msg("indexes.rebalancing"))
    for entry, weight in state.weights(snap.prices):
        lines += [Msg("indexes.weight", {"symbol": entry.symbol, "weight": Pct(weight, 1)}),
                  Msg("indexes.units", {"units": Amount(entry.units, 8)})]
    return lines


def source_lines(state: IndexState, snap: Snapshot) -> list[Msg]:
    """Where each constituent's price came from and how old it is, at this block."""
    lines = [Msg("sources.header", {"index": state.symbol}, style="title")]
    tried = snap.priced.readings if snap.priced is not None else {}
    for entry in state.tokenset:
        lines += prices.symbol_lines(entry.symbol, tried.get(entry.symbol, ()), snap.timestamp)
    return lines


async def one(services: Services, typed: str, sources: bool) -> Reply:
    """One pool index, or where its prices come from."""
    ref = next((r for r in services.find_indexes(typed) if r.venue == "pool"), None)
    if ref is None:
        raise UserError("error.index.unknown", value=typed[:24], valid=", ".join(r.symbol for r in services.market.indexes))
    snap = await services.market.snapshot()
    state = snap.indexes[ref.symbol]
    lines = source_lines(state, snap) if sources else index_lines(state, snap)
    lines.append(Msg("common.block", {"block": snap.block}))
    sequencer = prices.sequencer_line(snap.sequencer)
    if sequencer is not None:
        lines.append(sequencer)
    quote = Button(Msg("button.quote_index", {"index": ref.symbol}), "quote.show", (ref.symbol, "100", "usdc"))
    if sources:
        return Reply.of(*lines, buttons=((quote,),))
    return Reply.of(*lines, buttons=((quote, Button(Msg("button.price_sources"), "indexes.sources", (ref.symbol,))),
                                     (Button(Msg("button.reserves"), "reserves.show", (ref.symbol,)),
                                      Button(Msg("button.share"), "share.quote", (ref.symbol,)))))  # handlers.share


async def indexes(services: Services, caller: Caller) -> Reply:
    """All indexes at the newest block, one quote button each; `<index>` one, `<index> sources` its prices."""
    args = caller.request.args
    if len(args) > 2 or (len(args) == 2 and args[1].lower() != "sources"):
        raise UserError("error.args.extra", usage=Msg("usage.indexes_sources"))
    every_source = [a.lower() for a in args] == ["sources"]  # `/indexes sources`: every index's sources
    if args and not every_source:
        return await one(services, args[0], len(args) == 2)
    snap = await services.market.snapshot()
    fees = await services.fees.at(snap.block)
    lines: list[Msg] = []
    for ref in services.market.indexes:
        state = snap.indexes[ref.symbol]
        lines += source_lines(state, snap) if every_source else index_lines(state, snap)
        if ref.symbol in fees and not every_source:  # the daily fee collection, which is not a rebalance
            fee = fees[ref.symbol]
            lines.append(Msg("indexes.fee", {"daily": Pct(fee.rate, 4), "yearly": Pct(fee.yearly, 2)}))
    lines.append(Msg("common.block", {"block": snap.block}))
    sequencer = prices.sequencer_line(snap.sequencer)
    if sequencer is not None:
        lines.append(sequencer)
    issuance = services.issuance
    for ref in issuance.indexes:  # issued by a factory, on its own chain
        lines += issuance_present.index_lines(await issuance.state(ref), issuance.hours(ref), issuance.chain_of(ref).chain_label)
    buttons = tuple(
        (Button(Msg("button.quote_index", {"index": ref.symbol}), "quote.show", (ref.symbol, "100", "usdc")),)
        for ref in services.all_indexes
    )
    return Reply.of(*lines, buttons=buttons)


async def show(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    return await indexes(services, caller)


async def show_sources(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The "Price sources" button under one index."""
    if len(args) != 1:
        raise UserError("error.args.extra", usage=Msg("usage.indexes_sources"))
    return await one(services, args[0], True)


def register(router: Router, services: Services) -> None:
    router.command("indexes", partial(indexes, services))
    router.action("indexes.show", partial(show, services))
    router.action("indexes.sources", partial(show_sources, services))
