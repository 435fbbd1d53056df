"""/positions: per index held / staked / cooling down / claimable with USD values at NAV and the points
multiplier of each part, its cost basis and PnL from the ledger of fills (handlers.shared.portfolio), then SOSO
staked and the boost level. Everything is read from the chain in one round
trip (bot.market.positions); times are in the user's `/timezone`. Each index a factory issues (MAG7.nex) that the
user holds or is redeeming is read on its own chain, one read per chain, and valued at its factory's NAV
(bot.portfolio.issued): the same card and PnL lines as a pool index's."""

from decimal import Decimal
from functools import partial

from bot.points.boost import BoostTable, Part, multiplier
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Reply, Usd, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.market.positions import Position, Positions
from handlers.shared.holdings import holder
from handlers.shared.limit_orders import position_buttons
from handlers.shared.portfolio import index_pnl, pnl_lines


def _usd(pos: Position, amount: Decimal) -> Msg:
    """The line under an amount: its USD value, or that it has no price."""
    value = pos.usd(amount)
    return Msg("positions.usd", {"usd": Usd(value)}) if value is not None else Msg("positions.unpriced")


def part_lines(pos: Position, positions: Positions, table: BoostTable | None, key: str, amount: Decimal, kind: Part) -> list[Msg]:
    """One part of an asset (held, staked) as a card: the amount, its USD value, and for an index its points
    multiplier from `table` (None for SOSO, which has none); one figure a line, so each fits a phone."""
    lines = [Msg(key, {"amount": Amount(amount, 8)}), _usd(pos, amount)]
    if table is not None:
        lines.append(Msg("positions.rate", {"multiplier": multiplier(table, pos.symbol, kind, positions.boost.level)}))
    return lines


def position_lines(services: Services, pos: Position, positions: Positions) -> list[Msg]:
    """The lines for one asset (an index, or SOSO with `multiplier` left out): its symbol, then a card per part. A
    factory's index (MAG7.nex) earns no points and has no staking: what the wallet holds and what pending
    redemptions hold in the factory, valued at the factory's NAV (bot.portfolio.issued)."""
    is_index = pos.symbol != (services.profile.soso.symbol if services.profile.soso else None)
    multiplied = services.boost if is_index and not pos.factory else None
    lines = [Msg("positions.asset", {"symbol": pos.symbol}, style="title")]
    lines += part_lines(pos, positions, multiplied, "positions.held", pos.held, "held")
    if pos.redeeming > 0:
        lines += [Msg("positions.redeeming", {"amount": Amount(pos.redeeming, 8)}), _usd(pos, pos.redeeming),
                  Msg("positions.redeeming.how")]
    if pos.factory and pos.price is not None:
        lines.append(Msg("positions.factory_nav"))
    if pos.staking_symbol is not None:
        lines += part_lines(pos, positions, multiplied, "positions.staked", pos.staked, "staked")
        if pos.locked > 0:  # held by a locker (a vote): cannot be unstaken until released
            lines += [Msg("positions.locked", {"amount": Amount(pos.locked, 8)}),
                      Msg("positions.locked.why", {"staking": pos.staking_symbol})]
        if pos.cooling_down > 0 and pos.cooling_ends_at is not None:
            lines += [Msg("positions.cooling", {"amount": Amount(pos.cooling_down, 8)}), _usd(pos, pos.cooling_down),
                      Msg("positions.cooling.until", {"ends": When(pos.cooling_ends_at)})]
        if pos.claimable > 0:
            lines += [Msg("positions.claimable", {"amount": Amount(pos.claimable, 8)}), _usd(pos, pos.claimable),
                      Msg("positions.claimable.how")]
        if pos.paused:
            lines.append(Msg("positions.paused", {"staking": pos.staking_symbol}))
    return lines


def boost_summary(positions: Positions) -> Msg:
    boost_state = positions.boost
    if not boost_state.priced:
        return Msg("boost.needs_price", {"amount": Amount(boost_state.soso_staked, 6)})
    if boost_state.level is None:
        return Msg("positions.boost.none")
    return Msg("positions.boost", {"level": boost_state.level.number, "boost": boost_state.level.boost})


async def positions(services: Services, caller: Caller) -> Reply:
    """Read everything at once, show only the assets the user has something in."""
    if caller.request.args:
        raise UserError("error.args.extra", usage=Msg("usage.positions"))
    address = await holder(services, caller.user_key)
    got = await services.positions.read(address)
    reads, issued = await services.issued.positions(caller.user_key, address)  # one read per factory's chain
    lines = [Msg("positions.title", style="title"), Msg("wallet.address", {"address": address}, style="code")]
    assets = [p for p in (*got.indexes, *issued, got.soso) if p is not None and (p.held or p.staked or p.cooling or p.redeeming)]
    prices = await services.prices.read_prices(((p.symbol, p.price) for p in got.indexes), ((p.symbol, p.price) for p in issued))
    pnl = await index_pnl(services, caller.user_key, prices, got, reads)
    for pos in assets:
        lines += position_lines(services, pos, got) + (pnl_lines(pnl.pop(pos.symbol)) if pos.symbol in pnl else [])
    for left in pnl.values():  # sold out: the card keeps what was made or lost
        lines += [Msg("positions.asset", {"symbol": left.index}, style="title"), *pnl_lines(left)]
    if not assets and not pnl:
        lines.append(Msg("positions.none"))
    lines += [boost_summary(got), Msg("positions.read_at", {"block": got.block, "time": When(got.timestamp)})]
    orders = tuple(position_buttons(p.symbol) for p in got.indexes if p.held > 0 and services.find_index(p.symbol) is not None)
    return Reply.of(*lines, buttons=orders)  # a stop-loss or take-profit on each index held, tapped (handlers.order_buttons)


def register(router: Router, services: Services) -> None:
    router.command("positions", partial(positions, services), private_only=True, personal=True)  # an address and every holding
