"""Where a withdrawal may not go: the sending wallet itself, or a contract the bot knows on that chain.

A token sent to a token contract, a pool, a router, a price feed, a staking or factory contract is, in almost
every case, lost for good: none of them gives it back to whoever sent it (1 USDC sent to the USDC contract once
showed it). `known_contracts` lists every contract address a chain's profile names, with what it is, plus the
pools found at start-up; `refusal` is the `UserError` for a destination among them, or the sender's own address,
naming what the address is. Other addresses, contracts or not, are the user's to choose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.core.errors import UserError
from bot.core.messages import Msg
from bot.chain.profile import Profile
from bot.chain.verify import Pool

# the protocol's contracts, by their own (untranslated) names
_NAMED = {
    "multicall3": "Multicall3", "uniswap_factory": "Uniswap V3 Factory", "swap_router02": "Uniswap SwapRouter02",
    "quoter_v2": "Uniswap QuoterV2", "position_manager": "Uniswap NonfungiblePositionManager",
    "locking": "AssetLocking", "stake_factory": "StakeFactory",
}


def known_contracts(profile: Profile, pools: Mapping[str, Iterable[Pool]] | None = None) -> dict[str, Msg]:
    """Every contract address `profile` names (lower-case), with what it is, as a catalog message."""
    found: dict[str, Msg] = {}

    def add(address: str | None, what: Msg) -> None:
        if address:
            found.setdefault(address.lower(), what)

    for token in (profile.usdc, profile.weth, profile.soso):
        if token is not None:
            add(token.address, Msg("address.kind.token", {"symbol": token.symbol}))
    for ref in profile.indexes:
        add(ref.token.address, Msg("address.kind.token", {"symbol": ref.symbol}))
        if ref.staking is not None:
            add(ref.staking.address, Msg("address.kind.staking", {"symbol": ref.symbol}))
        add(ref.factory, Msg("address.kind.factory", {"symbol": ref.symbol}))
    if profile.soso is not None and profile.soso_staking is not None:
        add(profile.soso_staking.address, Msg("address.kind.staking", {"symbol": profile.soso.symbol}))
    for lp in profile.lp_tokens:
        add(lp.token.address, Msg("address.kind.pool", {"symbol": lp.index}))
    for symbol, pooled in (pools or {}).items():
        for pool in pooled:
            add(pool.address, Msg("address.kind.pool", {"symbol": symbol}))
    for symbol, feed in profile.feeds.items():
        add(feed, Msg("address.kind.feed", {"symbol": symbol}))
    for symbol, sources in profile.prices.items():
        for source in sources:
            add(getattr(source, "feed", None), Msg("address.kind.feed", {"symbol": symbol}))
            add(getattr(source, "pool", None), Msg("address.kind.pool", {"symbol": symbol}))
    if profile.sequencer is not None:
        add(profile.sequencer.feed, Msg("address.kind.named", {"name": "L2 Sequencer Uptime Feed"}))
    for attr, name in _NAMED.items():
        add(getattr(profile, attr), Msg("address.kind.named", {"name": name}))
    return found


def refusal(to: str, sender: str, profile: Profile, pools: Mapping[str, Iterable[Pool]] | None = None) -> UserError | None:
    """Why a withdrawal from `sender` may not go to `to` on `profile`'s chain; None when it may."""
    if to.lower() == sender.lower():
        return UserError("error.withdraw.to_self", to=to)
    what = known_contracts(profile, pools).get(to.lower())
    if what is not None:
        return UserError("error.withdraw.to_contract", to=to, what=what, chain=profile.chain_label)
    return None
