"""/boost: SOSO staked, its ratio to the index holdings, the boost level it gives, what the next level takes,
and the level table (bot.points.boost; every number is config).

`/boost add <amount>` and `/boost remove <amount>` are staking transactions, registered with the router as
sub-commands of /boost by the staking feature (handlers/stake.py) when the chain has SOSO staking; the router
runs them before this handler. A sub-command nobody registered is refused here as not available.
"""

from functools import partial

from bot.points.boost import BoostTable
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Pct, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.market.positions import Boost
from handlers.shared.holdings import holder

SUB_COMMANDS = ("add", "remove")


def level_lines(boost_state: Boost) -> list[Msg]:
    if boost_state.soso_price is None or boost_state.soso_usd is None:
        return [Msg("boost.needs_price", {"amount": Amount(boost_state.soso_staked, 6)})]
    lines = [Msg("boost.staked"), Msg("boost.staked.amount", {"amount": Amount(boost_state.soso_staked, 6)}),
             Msg("boost.staked.usd", {"usd": Usd(boost_state.soso_usd)}), Msg("boost.staked.price", {"price": Usd(boost_state.soso_price, 4)})]
    if boost_state.ratio is None:
        return lines + [Msg("boost.no_index")]
    lines += [Msg("boost.ratio", {"ratio": Pct(boost_state.ratio)}), Msg("boost.index_usd", {"index_usd": Usd(boost_state.index_usd)})]
    if boost_state.level is None:
        lines.append(Msg("boost.level.none"))
    else:
        lines.append(Msg("boost.level", {"level": boost_state.level.number, "boost": boost_state.level.boost}))
    if boost_state.next is None:
        lines.append(Msg("boost.top"))
    elif boost_state.soso_to_next is not None:
        lines.append(Msg("boost.next", {"level": boost_state.next.number, "ratio": Pct(boost_state.next.min_ratio), "amount": Amount(boost_state.soso_to_next, 2)}))
    return lines


def table_lines(table: BoostTable) -> list[Msg]:
    lines = [Msg("boost.table", style="title"), Msg("boost.table.base", {"held": table.held, "staked": table.staked})]
    lines += [Msg("boost.table.row", {"level": lv.number, "ratio": Pct(lv.min_ratio), "boost": lv.boost}) for lv in table.levels]
    lines.append(Msg("boost.table.cap", {"cap": table.cap}))
    lines += [Msg("boost.table.cap.index", {"index": ix, "cap": cap}) for ix, cap in sorted(table.caps.items())]
    return lines


async def boost(services: Services, caller: Caller) -> Reply:
    """No argument: the user's boost and the table. A sub-command not registered: not available."""
    args = caller.request.args
    if args:
        if args[0].lower() in SUB_COMMANDS:
            raise UserError("error.boost.unavailable")
        raise UserError("error.args.extra", usage=Msg("usage.boost"))
    got = await services.positions.read(await holder(services, caller.user_key))
    return Reply.of(Msg("boost.title", style="title"), *level_lines(got.boost), *table_lines(services.boost),
                    Msg("common.block", {"block": got.block}))


def register(router: Router, services: Services) -> None:
    router.command("boost", partial(boost, services), personal=True)
