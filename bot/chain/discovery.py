"""Index staking tokens discovered through the protocol's StakeFactory, locked-LP tokens through AssetLocking, and
the start-up check that uses them.

A profile that names `[stake_factory]` may leave out an index's `staking`: `getStakeTokens()` lists every
(asset id, staking token) pair the factory made, and the one whose `token()` is the index is its staking
token. A staking token the profile does list must be the factory's, when the factory has one for that index
(sUSSI on Base was not made by the factory: listed, it is checked by its own `token()` as before).

Trust: the factory's address comes from the profile and must hold code; a discovered token must stake exactly
that index, be named `"s" + symbol` and have the index's decimals, or start-up refuses, naming it. Reads: the
factory's list in one Multicall3 batch, every listed token's `token()`, `symbol()` and `decimals()` in a second.

A profile that names `[locking]` (AssetLocking) counts the LP tokens it accepts for points: `getActiveTokens()`
lists them, and each one that is a Uniswap V2 pair of one of the profile's pool indexes and USDC (its `token0()`
and `token1()`) becomes an `LpRef` beside those the profile lists. Anything else it accepts is logged and not
counted; an AssetLocking without `getActiveTokens()` (deployed before it) leaves the listed ones alone. The
completed profile then goes through `verify_profile`, which checks each pair's symbol, decimals and tokens
again like a listed one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from eth_utils.address import to_checksum_address

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, Fn
from bot.market.prices.hermes import Hermes
from bot.chain.profile import IndexRef, LpRef, Profile, TokenRef
from bot.chain.verify import ChainSetup, ProfileMismatch, verify_profile

log = logging.getLogger(__name__)
GET_STAKE_TOKENS = Fn("getStakeTokens()", "uint256[],address[]")
STAKE_TOKENS = Fn("stakeTokens(uint256)", "address")


@dataclass(frozen=True)
class FactoryToken:
    """One entry of the StakeFactory's list, with what the token itself answers (None: unreadable)."""

    asset_id: int
    address: str
    staked: str | None  # token()
    symbol: str | None
    decimals: int | None


async def read_stake_factory(chain: Chain, factory: str) -> list[FactoryToken] | None:
    """Every staking token `factory` lists, read in two batches; None when `getStakeTokens()` cannot be read."""
    (listed,) = await chain.multicall([Call(factory, GET_STAKE_TOKENS)])
    if not listed.ok:
        return None
    ids, tokens = listed.values
    addresses = [to_checksum_address(t) for t in tokens]
    calls = [Call(a, fn) for a in addresses for fn in (p.STAKED_TOKEN, p.SYMBOL, p.DECIMALS)]
    results = iter(await chain.multicall(calls))
    out = []
    for asset_id, address in zip(ids, addresses, strict=True):
        staked, symbol, decimals = next(results), next(results), next(results)
        out.append(FactoryToken(
            int(asset_id), address,
            to_checksum_address(staked.one()) if staked.ok else None,
            str(symbol.one()) if symbol.ok else None,
            int(decimals.one()) if decimals.ok else None,
        ))
    return out


def match_staking(profile: Profile, found: list[FactoryToken]) -> tuple[Profile, list[str]]:
    """The profile with each index's staking token taken from the factory's list where it left it out, and the
    problems: a listed token that is not the factory's, a discovered one that does not stake its index as
    `"s" + symbol` with the index's decimals."""
    problems: list[str] = []
    by_index = {t.staked: t for t in found if t.staked is not None}
    indexes: list[IndexRef] = []
    for ref in profile.indexes:
        made = by_index.get(ref.token.address)
        if made is None:
            indexes.append(ref)
            continue
        if ref.staking is not None:
            if ref.staking.address != made.address:
                problems.append(f"the StakeFactory's staking token for {ref.symbol} is {made.address} (asset id "
                                f"{made.asset_id}), the profile lists {ref.staking.address}")
            indexes.append(ref)
            continue
        expected = "s" + ref.symbol
        if made.symbol != expected or made.decimals != ref.token.decimals:
            problems.append(f"the StakeFactory's staking token for {ref.symbol} at {made.address} is "
                            f"{made.symbol!r} with {made.decimals} decimals, expected {expected!r} with "
                            f"{ref.token.decimals}")
            indexes.append(ref)
            continue
        indexes.append(replace(ref, staking=TokenRef(made.address, expected, ref.token.decimals)))
    return replace(profile, indexes=tuple(indexes)), problems


async def discover_staking(profile: Profile, chain: Chain) -> tuple[Profile, list[str]]:
    """The profile with its staking tokens discovered (nothing read when it names no StakeFactory), and the
    problems found on the way."""
    if profile.stake_factory is None:
        return profile, []
    try:
        found = await read_stake_factory(chain, profile.stake_factory)
    except ValueError:  # Multicall3 answered nothing decodable: verify_profile names its missing code
        return profile, [f"StakeFactory at {profile.stake_factory}: not read (Multicall3 at {profile.multicall3} "
                         "did not answer)"]
    if found is None:
        return profile, [f"StakeFactory at {profile.stake_factory}: getStakeTokens() cannot be read "
                         "(no contract there, or not a StakeFactory)"]
    return match_staking(profile, found)


async def discover_lp_tokens(profile: Profile, chain: Chain) -> Profile:
    """The profile with every LP token AssetLocking accepts that is an index/USDC Uniswap V2 pair (nothing read
    when it names no AssetLocking); what it cannot count is logged."""
    if profile.locking is None:
        return profile
    try:
        (active,) = await chain.multicall([Call(profile.locking, p.GET_ACTIVE_TOKENS)])
    except ValueError:  # Multicall3 answered nothing decodable: verify_profile names its missing code
        return profile
    if not active.ok:
        log.warning("AssetLocking at %s has no getActiveTokens(): only the profile's [[lp_tokens]] are counted", profile.locking)
        return profile
    listed = {lp.token.address for lp in profile.lp_tokens}
    new = [a for a in dict.fromkeys(to_checksum_address(t) for t in active.one()) if a not in listed]
    if not new:
        return profile
    results = iter(await chain.multicall([Call(a, fn) for a in new for fn in (p.TOKEN0, p.TOKEN1, p.SYMBOL, p.DECIMALS)]))
    pools = {ref.token.address: ref.symbol for ref in profile.indexes if ref.venue == "pool"}
    found: list[LpRef] = []
    for address in new:
        token0, token1, symbol, decimals = (next(results) for _ in range(4))
        pair = {to_checksum_address(r.one()) for r in (token0, token1) if r.ok}
        other = pair - {profile.usdc.address}
        index = pools.get(other.pop()) if profile.usdc.address in pair and len(other) == 1 else None
        if index is None or not symbol.ok or not decimals.ok:
            log.warning("AssetLocking accepts %s, which is not a Uniswap V2 pair of an index and USDC: its locks are "
                        "not counted for points", address)
            continue
        found.append(LpRef(TokenRef(address, str(symbol.one()), int(decimals.one())), index, "uniswap-v2"))
    return replace(profile, lp_tokens=(*profile.lp_tokens, *found))


async def verify_at_startup(profile: Profile, chain: Chain, hermes: Hermes | None = None) -> tuple[Profile, ChainSetup]:
    """What start-up runs: staking discovery, then `verify_profile` on the completed profile. Refuses with every
    problem of both, so the operator sees them all at once."""
    completed, problems = await discover_staking(profile, chain)
    completed = await discover_lp_tokens(completed, chain)
    try:
        setup = await verify_profile(completed, chain, hermes=hermes)
    except ProfileMismatch as exc:
        both = ProfileMismatch(profile.name, [*problems, *exc.problems])
        both.feeds = exc.feeds
        raise both from None
    if problems:
        raise ProfileMismatch(profile.name, problems)
    return completed, setup
