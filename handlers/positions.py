"""/positions: per index held / staked / cooling down / claimable with USD values at NAV and the points
multiplier of each part, then SOSO staked and the boost level. Everything is read from the chain in one round
trip (bot.market.positions); times are in the user's `/timezone`."""

from decimal import Decimal
from functools import partial

from bot.points.boost import BoostTable, Part, multiplier
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Param, Reply, Usd, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.market.positions import Position, Positions
from handlers.shared.holdings import holder


def _usd(pos: Position, amount: Decimal) -> Msg:
    value = pos.usd(amount)
    return Msg("positions.usd", {"usd": Usd(value)}) if value is not None else Msg("positions.unpriced")


def part_line(pos: Position, positions: Positions, table: BoostTable | None, key: str, amount: Decimal, kind: Part) -> Msg:
    """One part of an asset (held, staked) with its USD value; an index's with its points multiplier from `table`
    (None for SOSO, which has none)."""
    params: dict[str, Param] = {"amount": Amount(amount, 8), "symbol": pos.symbol, "value": _usd(pos, amount)}
    if table is None:
        return Msg(key + ".plain", params)
    return Msg(key, {**params, "multiplier": multiplier(table, pos.symbol, kind, positions.boost.level)})


def position_lines(services: Services, pos: Position, positions: Positions) -> list[Msg]:
    """The lines for one asset (an index, or SOSO with `multiplier` left out)."""
    is_index = pos.symbol != (services.profile.soso.symbol if services.profile.soso else None)
    multiplied = services.boost if is_index else None
    lines = [Msg("positions.asset", {"symbol": pos.symbol}, style="title")]
    lines.append(part_line(pos, positions, multiplied, "positions.held", pos.held, "held"))
    if pos.staking_symbol is not None:
        lines.append(part_line(pos, positions, multiplied, "positions.staked", pos.staked, "staked"))
        if pos.locked > 0:  # held by a locker (a vote): cannot be unstaken until released
            lines.append(Msg("positions.locked", {"amount": Amount(pos.locked, 8), "staking": pos.staking_symbol}))
        if pos.cooling_down > 0 and pos.cooling_ends_at is not None:
            lines.append(Msg("positions.cooling", {
                "amount": Amount(pos.cooling_down, 8), "symbol": pos.symbol, "value": _usd(pos, pos.cooling_down),
                "ends": When(pos.cooling_ends_at),
            }))
        if pos.claimable > 0:
            lines.append(Msg("positions.claimable", {
                "amount": Amount(pos.claimable, 8), "symbol": pos.symbol, "value": _usd(pos, pos.claimable),
            }))
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
    lines = [Msg("positions.title", style="title"), Msg("wallet.address", {"address": address}, style="code")]
    assets = [p for p in (*got.indexes, got.soso) if p is not None and (p.held or p.staked or p.cooling)]
    for pos in assets:
        lines += position_lines(services, pos, got)
    if not assets:
        lines.append(Msg("positions.none"))
    lines += [boost_summary(got), Msg("positions.read_at", {"block": got.block, "time": When(got.timestamp)})]
    return Reply.of(*lines)


def register(router: Router, services: Services) -> None:
    router.command("positions", partial(positions, services), private_only=True, personal=True)  # an address and every holding
