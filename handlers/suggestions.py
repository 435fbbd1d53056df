"""What to offer while a user types an argument (Discord's autocomplete asks the router, `Router.suggest`).

    an index (/quote, /buy, /alert, /dca)        every index, with its chain
    an index to sell, stake or unstake           what the user holds, staked for /unstake (every index without a wallet)
    an asset to withdraw                         what the wallet holds: ETH, USDC, indexes
    an amount to sell, stake, unstake, withdraw  "all", with how much that is when the asset is known

Holdings are read from the chain as /positions reads them (one round trip, cached per block), for the wallet that
trades for the user. The router keeps what matches what is typed.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Amount, Msg
from bot.core.request import Caller
from bot.core.router import Router, Suggestion
from bot.market.positions import Positions
from bot.services import Services
from handlers.shared.holdings import holder

WITHDRAWN_KINDS = ("native", "stable", "index")  # what /withdraw sends (staked tokens are unstaked first)


async def indexes(services: Services, caller: Caller, typed: str) -> list[Suggestion]:
    """Every index on every chain, shown with its chain's name (MAG7.ssi · Base)."""
    return [Suggestion(ref.symbol, Msg("suggest.index", {"index": ref.symbol, "chain": services.chain_of(ref).chain_label}))
            for ref in services.all_indexes]


async def _holdings(services: Services, caller: Caller, purpose: str) -> dict[str, Decimal]:
    """What the user's trading wallet holds for `purpose`; nothing without a wallet."""
    try:
        address = await holder(services, caller.user_key)
    except UserError:  # no wallet yet
        return {}
    return _held(await services.positions.read(address), purpose)


def _held(got: Positions, purpose: str) -> dict[str, Decimal]:
    """Symbol -> amount the user could use for `purpose` (sell, stake, unstake, withdraw), those above zero only."""
    if purpose == "withdraw":
        return {h.symbol: h.amount for h in got.balances.holdings if h.kind in WITHDRAWN_KINDS and h.units > 0}
    if purpose == "unstake":
        return {p.symbol: p.staked for p in got.indexes if p.staking_symbol is not None and p.staked > 0}
    staking = purpose == "stake"
    return {p.symbol: p.held for p in got.indexes if p.held > 0 and (p.staking_symbol is not None or not staking)}


async def holdings(purpose: str, services: Services, caller: Caller, typed: str) -> list[Suggestion]:
    """What the user holds for `purpose`, each with its amount; every index while they hold none (nothing to show yet
    is no reason to offer nothing)."""
    held = await _holdings(services, caller, purpose)
    key = "suggest.staked" if purpose == "unstake" else "suggest.holding"
    offered = [Suggestion(symbol, Msg(key, {"symbol": symbol, "amount": Amount(amount, 8)})) for symbol, amount in held.items()]
    return offered or (await indexes(services, caller, typed) if purpose != "withdraw" else [])


async def everything(purpose: str, services: Services, caller: Caller, typed: str) -> list[Suggestion]:
    """ "all", with how much that is when the asset typed first is one the user has."""
    asset = caller.request.args[0] if caller.request.args else ""
    plain = [Suggestion("all", Msg("suggest.all.plain"))]
    if not asset:
        return plain
    held = {symbol.lower(): (symbol, amount) for symbol, amount in (await _holdings(services, caller, purpose)).items()}
    found = held.get(asset.lower())
    if found is None:
        return plain
    return [Suggestion("all", Msg("suggest.all", {"amount": Amount(found[1], 8), "symbol": found[0]}))]


def register(router: Router, services: Services) -> None:
    for command in ("quote", "buy", "alert", "dca"):
        router.suggestion(command, 0, partial(indexes, services))
    for command in ("sell", "stake", "unstake", "withdraw"):
        router.suggestion(command, 0, partial(holdings, command, services))
        router.suggestion(command, 1, partial(everything, command, services))
