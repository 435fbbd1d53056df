"""Start-up check of a chain profile against the chain it names.

Every address must hold code, every token must answer the symbol and decimals the profile states, every
staking token must stake its index, every constituent of every index must have a price feed, and every index
must have at least one Uniswap V3 pool against USDC. When the profile names AssetLocking and LP tokens, the
locking contract must hold code and each LP token must be an ERC-20 as stated whose pair is its index and
USDC. Anything else stops the bot with a message listing each problem. What the check learns (pools, feed
decimals, constituents) is what the market service needs.

Each price source checks itself (bot.market.prices.startup), in the same batch: a Chainlink feed's `description()` and
`decimals()` must be the profile's (a stale one is a warning), a TWAP token needs a USDC pool, and the Pyth ids
are asked of Hermes once, beside the chain read (a missing or unreadable one is a warning). What was read per
feed is `ChainSetup.feeds` / `.sequencer` / `.pyth` (`FeedReport`, `PythReport`) for `indexbot check`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from eth_utils.address import to_checksum_address

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, Result
from bot.market.prices import HermesAnswer, PriceSetup, PriceSource
from bot.market.prices.hermes import Hermes, HermesSettings
from bot.market.prices.startup import FeedReport, Findings, PythReport, StartupEnv
from bot.chain.profile import Profile, PythRef, TokenRef

log = logging.getLogger(__name__)

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Pool:
    address: str
    fee: int  # hundredths of a basis point: 3000 = 0.3 %
    usdc_is_token0: bool


__all__ = ["ChainSetup", "FeedReport", "Pool", "ProfileMismatch", "PythReport", "verify_profile"]  # the reports live
# in bot.market.prices.startup; `indexbot check` may import them from here


@dataclass(frozen=True)
class ChainSetup:
    pools: dict[str, tuple[Pool, ...]]  # index symbol -> its USDC pools
    constituents: dict[str, frozenset[str]]  # index symbol -> constituent symbols at start-up
    feed_decimals: dict[str, int]
    prices: PriceSetup = field(default_factory=PriceSetup)  # what the price sources need (bot.market.prices)
    feeds: tuple[FeedReport, ...] = ()  # every Chainlink feed of the profile's [prices], as read at start-up
    sequencer: FeedReport | None = None
    warnings: tuple[str, ...] = ()  # e.g. a stale feed: start-up goes on, and says so
    pyth: tuple[PythReport, ...] = ()  # Hermes' answer for each Pyth source, when a Hermes client was given


class ProfileMismatch(Exception):
    feeds: tuple[FeedReport, ...] = ()  # what was read from each price feed, when the check got that far

    def __init__(self, profile: str, problems: list[str]) -> None:
        super().__init__(f"chain profile {profile!r} does not match the chain:\n  - " + "\n  - ".join(problems))
        self.problems = problems


def _tokens(profile: Profile) -> list[TokenRef]:
    tokens = [profile.usdc, profile.weth]
    tokens += [t for t in (profile.soso, profile.soso_staking) if t]
    for ref in profile.indexes:
        tokens.append(ref.token)
        if ref.staking:
            tokens.append(ref.staking)
    return tokens


def _lp_pairs_problems(profile: Profile, pairs: list[tuple[Result, Result]]) -> list[str]:
    """Each V2 LP token's token0/token1 must be its index and USDC (in either order)."""
    problems = []
    for lp, (token0, token1) in zip(profile.lp_tokens, pairs, strict=True):
        expected = {profile.index(lp.index).token.address, profile.usdc.address}
        found = {to_checksum_address(r.one()) for r in (token0, token1) if r.ok}
        if found != expected:
            problems.append(f"{lp.token.symbol} at {lp.token.address} is not the {lp.index}/USDC pair")
    return problems


async def verify_profile(profile: Profile, chain: Chain, hermes: Hermes | None = None) -> ChainSetup:
    problems: list[str] = []
    chain_id = await chain.w3.eth.chain_id
    if chain_id != profile.chain_id:
        raise ProfileMismatch(profile.name, [f"chain id is {chain_id}, the profile says {profile.chain_id}"])
    tokens = _tokens(profile)
    contracts = {k: v for k, v in {
        "multicall3": profile.multicall3,
        "uniswap_factory": profile.uniswap_factory,
        "swap_router02": profile.swap_router02,
        "quoter_v2": profile.quoter_v2,
        "position_manager": profile.position_manager,
    }.items() if v}  # a profile without pool indexes names no Uniswap contracts
    pool_refs = [ref for ref in profile.indexes if ref.venue == "pool"]
    issued = [ref for ref in profile.indexes if ref.venue == "issuance"]
    contracts.update({f"{ref.symbol} factory": ref.factory for ref in issued if ref.factory})
    if profile.locking:
        contracts["locking"] = profile.locking
    if profile.stake_factory:
        contracts["stake_factory"] = profile.stake_factory
    lps = {f"{lp.token.symbol} ({lp.index}/USDC)": lp.token.address for lp in profile.lp_tokens}
    named = {**{t.symbol: t.address for t in tokens}, **lps, **contracts, **{f"feed {k}": v for k, v in profile.feeds.items()},
             **_price_addresses(profile)}
    codes = await chain.codes(list(dict.fromkeys(named.values())))
    missing = [f"no contract code for {name} at {addr}" for name, addr in named.items() if not codes[addr]]
    if missing:
        raise ProfileMismatch(profile.name, missing)

    erc20s = [*tokens, *(lp.token for lp in profile.lp_tokens)]
    calls: list[Call] = []
    for t in erc20s:
        calls += [Call(t.address, p.SYMBOL), Call(t.address, p.DECIMALS)]
    for ref in issued:
        assert ref.factory is not None
        calls += [Call(ref.factory, p.FACTORY_INDEX_TOKEN), Call(ref.factory, p.FACTORY_USDC)]
    for ref in pool_refs:
        calls.append(Call(ref.token.address, p.GET_TOKENSET))
        calls.append(Call(ref.staking.address, p.STAKED_TOKEN) if ref.staking else Call(ref.token.address, p.SYMBOL))
        for fee in profile.fee_tiers:
            calls.append(Call(profile.uniswap_factory, p.GET_POOL, (profile.usdc.address, ref.token.address, fee)))
    feeds = sorted(profile.feeds)
    calls += [Call(profile.feeds[s], p.DECIMALS) for s in feeds]
    calls += [Call(lp.token.address, fn) for lp in profile.lp_tokens for fn in (p.TOKEN0, p.TOKEN1)]
    sources = _sources(profile)
    env = StartupEnv(profile.multicall3, profile.usdc.address, profile.usdc.decimals, profile.uniswap_factory,
                     profile.fee_tiers)
    price_calls, slices = _price_calls(profile, sources, env)
    calls += price_calls
    all_results, answer = await asyncio.gather(chain.multicall(calls), _hermes_answer(sources, hermes))
    results = iter(all_results[: len(all_results) - len(price_calls)])
    learned, sequencer = _price_findings(profile, sources, env, slices, all_results[len(all_results) - len(price_calls):], answer)

    for t in erc20s:
        sym, dec = next(results), next(results)
        if not sym.ok or sym.one() != t.symbol:
            problems.append(f"{t.address} symbol() is {sym.one() if sym.ok else 'unreadable'!r}, expected {t.symbol!r}")
        if not dec.ok or dec.one() != t.decimals:
            problems.append(f"{t.symbol} decimals() is {dec.one() if dec.ok else 'unreadable'}, expected {t.decimals}")
    for ref in issued:
        token, usdc = next(results), next(results)
        if not token.ok or to_checksum_address(token.one()) != ref.token.address:
            problems.append(f"{ref.symbol} factory {ref.factory} does not issue {ref.token.address}")
        if not usdc.ok or to_checksum_address(usdc.one()) != profile.usdc.address:
            problems.append(f"{ref.symbol} factory {ref.factory} does not take {profile.usdc.symbol} at {profile.usdc.address}")
    pools: dict[str, tuple[Pool, ...]] = {}
    constituents: dict[str, frozenset[str]] = {}
    for ref in pool_refs:
        tokenset, staked = next(results), next(results)
        found = []
        for fee in profile.fee_tiers:
            res = next(results)
            if res.ok and res.one() != ZERO:
                usdc_first = int(profile.usdc.address, 16) < int(ref.token.address, 16)
                found.append(Pool(to_checksum_address(res.one()), fee, usdc_first))
        if not found:
            problems.append(f"no Uniswap V3 pool for {ref.symbol}/USDC at fee tiers {list(profile.fee_tiers)}")
        pools[ref.symbol] = tuple(found)
        if not tokenset.ok:
            problems.append(f"{ref.symbol} getTokenset() failed")
            continue
        symbols = frozenset(str(entry[1]) for entry in tokenset.one())
        constituents[ref.symbol] = symbols
        no_feed = sorted(symbols - set(profile.prices))
        if no_feed:
            problems.append(f"{ref.symbol} constituents without a price feed: {', '.join(no_feed)}")
        if ref.staking and (not staked.ok or to_checksum_address(staked.one()) != ref.token.address):
            problems.append(f"{ref.staking.symbol} token() is not {ref.symbol}")
    feed_decimals = {}
    for s in feeds:
        res = next(results)
        if res.ok:
            feed_decimals[s] = int(res.one())
        else:
            problems.append(f"feed {s} decimals() failed")
    problems += _lp_pairs_problems(profile, [(next(results), next(results)) for _ in profile.lp_tokens])
    if profile.native_feed_symbol not in profile.prices:
        problems.append(f"no price feed for {profile.native_feed_symbol} (gas is priced with it)")
    problems += learned.problems
    if problems:
        mismatch = ProfileMismatch(profile.name, problems)
        mismatch.feeds = tuple(learned.feeds)
        raise mismatch
    for source in sources:
        await source.settle(chain, learned)
    for warning in learned.warnings:
        log.warning("%s", warning)
    return ChainSetup(pools, constituents, feed_decimals, PriceSetup(learned.feed_decimals, learned.twap_pools),
                      tuple(learned.feeds), sequencer, tuple(learned.warnings), tuple(learned.pyth))


# -- price sources (bot.market.prices): each source kind checks itself (bot.market.prices.startup); the sequencer feed -------

def _sources(profile: Profile) -> list[PriceSource]:
    """Every source of the profile's [prices], once each."""
    return list(dict.fromkeys(src for sources in profile.prices.values() for src in sources))


def _price_addresses(profile: Profile) -> dict[str, str]:
    named = {name: addr for src in _sources(profile) for name, addr in src.addresses().items()}
    if profile.sequencer is not None:
        named["sequencer feed"] = profile.sequencer.feed
    return named


def _price_calls(profile: Profile, sources: Sequence[PriceSource], env: StartupEnv) -> tuple[list[Call], list[tuple[int, int]]]:
    """The block's time, each source's start-up reads (with where they sit in the batch), the sequencer feed."""
    calls = [Call(profile.multicall3, p.BLOCK_TIMESTAMP)]
    slices = []
    for src in sources:
        own = src.startup_calls(env)
        slices.append((len(calls), len(calls) + len(own)))
        calls += own
    if profile.sequencer is not None:
        calls.append(Call(profile.sequencer.feed, p.LATEST_ROUND))
    return calls, slices


async def _hermes_answer(sources: Sequence[PriceSource], hermes: Hermes | None) -> HermesAnswer | None:
    """One Hermes request for every Pyth id of the profile (beside the chain read)."""
    ids = sorted({i for src in sources for i in src.pyth_ids()})
    return await hermes.latest(ids) if hermes is not None and ids else None


def _price_findings(profile: Profile, sources: Sequence[PriceSource], env: StartupEnv, slices: list[tuple[int, int]],
                    results: list[Result], answer: HermesAnswer | None) -> tuple[Findings, FeedReport | None]:
    """Each source's start-up check over its own results, then the sequencer feed's state."""
    found = Findings(now=int(results[0].one()), hermes=answer)
    for src, (start, end) in zip(sources, slices, strict=True):
        src.check(results[start:end], env, found)
    sequencer = None
    if profile.sequencer is not None:
        res = results[-1]
        started = int(res.values[2]) if res.ok else 0
        sequencer = FeedReport("sequencer", profile.sequencer.feed, None, 0, Decimal(int(res.values[1])) if res.ok else None,
                               started, max(0, found.now - started) if res.ok else None, 0, False)
        if not res.ok:
            found.problems.append(f"sequencer feed {profile.sequencer.feed}: latestRoundData() failed")
        elif int(res.values[1]) not in (0, 1):  # a price feed named by mistake would read as "down" for good
            found.problems.append(f"sequencer feed {profile.sequencer.feed} answers {int(res.values[1])}: not a sequencer "
                                  "uptime feed (it answers 0 for up, 1 for down)")
        elif int(res.values[1]) != 0:
            found.warnings.append(
                f"the sequencer feed says the sequencer is down (since {started}): trades are refused until it is back")
    return found, sequencer


def hermes_for(profile: Profile) -> Hermes | None:
    """The Hermes client a profile needs when it prices something with Pyth (its API key from the environment
    variable [pyth] names); the caller closes it."""
    if not any(src.pyth_ids() for sources in profile.prices.values() for src in sources):
        return None
    ref = profile.pyth or PythRef()
    return Hermes(HermesSettings(ref.hermes_url, ref.timeout_seconds, os.environ.get(ref.api_key_env) or None))
