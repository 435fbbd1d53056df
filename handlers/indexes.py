"""/indexes: each index with NAV, DEX price, premium or discount, and its composition with weights; an issued
index with its chain, fee, market hours, and its next constituents while a monthly reindex is pending."""

from decimal import Decimal

from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Pct, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present as issuance
from bot.market import IndexState, Snapshot
from bot.services import Services


def premium_line(premium: Decimal) -> Msg:
    key = "indexes.premium" if premium >= 0 else "indexes.discount"
    return Msg(key, {"pct": Pct(abs(premium))})


def index_lines(state: IndexState, snap: Snapshot) -> list[Msg]:
    lines = [Msg("indexes.header", {"index": state.symbol}, style="title")]
    lines.append(Msg("indexes.nav", {"nav": Usd(state.nav)}))
    if state.dex_price is not None and state.premium is not None:
        lines.append(Msg("indexes.dex", {"price": Usd(state.dex_price), "premium": premium_line(state.premium)}))
    else:
        lines.append(Msg("indexes.no_pool"))
    if state.rebalancing:
        lines.append(Msg("indexes.rebalancing"))
    for entry, weight in state.weights(snap.prices):
        lines.append(Msg("indexes.weight", {"symbol": entry.symbol, "weight": Pct(weight, 1), "units": Amount(entry.units, 8)}))
    return lines


def register(router: Router, services: Services) -> None:
    async def indexes(caller: Caller) -> Reply:
        """All indexes at the newest block, one quote button each."""
        if caller.request.args:
            raise UserError("error.args.extra", usage=Msg("usage.indexes"))
        snap = await services.market.snapshot()
        fees = await services.fees.at(snap.block) if services.fees is not None else {}
        lines: list[Msg] = []
        for ref in services.market.indexes:
            lines += index_lines(snap.indexes[ref.symbol], snap)
            if ref.symbol in fees:  # the daily fee collection, which is not a rebalance
                fee = fees[ref.symbol]
                lines.append(Msg("indexes.fee", {"daily": Pct(fee.rate, 4), "yearly": Pct(fee.yearly, 2)}))
        lines.append(Msg("common.block", {"block": snap.block}))
        if snap.stale(services.market.settings.max_price_age_seconds):
            lines.append(Msg("common.prices_stale"))
        iss = services.issuance
        for ref in iss.indexes if iss is not None else ():  # issued by a factory, on its own chain
            assert iss is not None
            lines += issuance.index_lines(await iss.state(ref), iss.hours(ref), iss.chain_of(ref).chain_label)
        buttons = tuple(
            (Button(Msg("button.quote_index", {"index": ref.symbol}), "quote.show", (ref.symbol, "100", "usdc")),)
            for ref in services.all_indexes
        )
        return Reply.of(*lines, buttons=buttons)

    async def show(caller: Caller, _: tuple[str, ...]) -> Reply:
        return await indexes(caller)

    router.command("indexes", indexes)
    router.action("indexes.show", show)
