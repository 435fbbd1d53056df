"""/reserves MAG7: proof of reserves. What the index token's contract holds (`getBasket()`) against what its supply is
owed (total supply × tokenset), per constituent and in USD, with the backing ratio and the block it was read at
(bot.market.reserves: one read at one block); a note while a rebalance runs, and the part of any gap the daily fee
explains, named as the fee's and not as a shortfall. Also the "Reserves" button under one index in /indexes."""

from decimal import Decimal
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Pct, Reply, Usd, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.market.reserves import Holding, Reserves
from bot.services import Services
from handlers.shared.nav import screen

SHOWN_DECIMALS = 8  # a constituent's amounts to at most this many places: narrow enough for a phone


def holding_lines(h: Holding) -> list[Msg]:
    """One constituent as a card narrow enough for a phone: its symbol and backing (or that the tokenset owes none of
    it), then what the basket holds, what is owed, and their USD value, one a line."""
    places = min(h.decimals, SHOWN_DECIMALS)
    holds = Msg("reserves.holds", {"held": Amount(h.held_units, places)})
    value = Msg("reserves.usd", {"usd": Usd(h.held_units * h.price)}) if h.price is not None else Msg("reserves.line_unpriced")
    if h.backing is None:
        return [Msg("reserves.extra", {"symbol": h.symbol}), holds, value]
    return [Msg("reserves.line", {"symbol": h.symbol, "backing": Pct(h.backing)}), holds,
            Msg("reserves.owed", {"owed": Amount(h.owed_units, places)}), value]


def reserve_lines(r: Reserves) -> list[Msg]:
    lines = [Msg("reserves.title", {"index": r.index}, style="title")]
    lines += [line for h in r.holdings for line in holding_lines(h)]
    backing = r.backing
    if backing is None:
        lines.append(Msg("reserves.no_supply"))
    else:
        lines += [Msg("reserves.total", {"backing": Pct(backing)}), Msg("reserves.total.held", {"held": Usd(r.held_usd)}),
                  Msg("reserves.total.owed", {"owed": Usd(r.owed_usd)}),
                  Msg("reserves.total.supply"), Msg("reserves.total.supply.amount", {"supply": Amount(Decimal(r.supply).scaleb(-8), 8)})]
        if r.short:
            lines.append(Msg("reserves.short", {"gap": Pct(r.gap), "beyond": Pct(r.gap - r.fee_explains)}))
        elif r.gap:
            lines.append(Msg("reserves.within_fee", {"gap": Pct(r.gap, 4)}))
    if r.fee is not None:
        since = When(r.last_collect) if r.last_collect is not None else "?"
        lines.append(Msg("reserves.fee", {"daily": Pct(r.fee.rate, 4), "explains": Pct(r.fee_explains, 4), "since": since}))
    if r.rebalancing:
        lines.append(Msg("reserves.rebalancing"))
    if r.unpriced:
        lines.append(Msg("reserves.unpriced", {"symbols": ", ".join(r.unpriced)}))
    lines.append(Msg("common.block", {"block": r.block}))
    return lines


async def show_index(services: Services, typed: str) -> Reply:
    """One index's reserves; an unknown index, or one issued by a factory (no basket), is refused."""
    found = services.find_indexes(typed)
    ref = next((r for r in found if r in services.market.indexes), None)  # the home chain's SSI tokens
    pools = ", ".join(r.symbol for r in services.market.indexes)
    if ref is None and found and found[0].venue != "pool":
        raise UserError("error.reserves.no_basket", index=found[0].symbol, valid=pools)
    if ref is None and found:
        raise UserError("error.reserves.other_chain", index=found[0].symbol, chain=services.chain_of(found[0]).chain_label,
                        valid=pools)
    if ref is None:
        raise UserError("error.index.unknown", value=typed[:24], valid=pools)
    reserves = (await services.reserves.read())[ref.symbol]
    if reserves is None:
        raise UserError("error.reserves.no_basket", index=ref.symbol, valid=pools)
    return Reply.of(*reserve_lines(reserves))


async def reserves(services: Services, caller: Caller) -> Reply:
    """`/reserves <index>`: exactly one index."""
    args = caller.request.args
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.reserves"))
    if not args:
        raise UserError("error.reserves.missing", valid=", ".join(r.symbol for r in services.market.indexes))
    return await show_index(services, args[0])


async def pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The "Reserves" button under one index: the screen is edited in place, Back leads to the indexes."""
    if len(args) != 1:
        raise UserError("error.button.expired")
    return screen(await show_index(services, args[0]), "indexes.show")


def register(router: Router, services: Services) -> None:
    router.command("reserves", partial(reserves, services))
    router.action("reserves.show", partial(pressed, services))
