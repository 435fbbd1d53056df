"""Start-up check of a chain profile against the chain it names.

Every address must hold code, every token must answer the symbol and decimals the profile states, every
staking token must stake its index, every constituent of every index must have a price feed, and every index
must have at least one Uniswap V3 pool against USDC. When the profile names AssetLocking and LP tokens, the
locking contract must hold code and each LP token must be an ERC-20 as stated whose pair is its index and
USDC. Anything else stops the bot with a message listing each problem. What the check learns (pools, feed
decimals, constituents) is what the market service needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from eth_utils.address import to_checksum_address

from bot import protocol as p
from bot.chain import Call, Chain, Result
from bot.prices import HermesPrice, PriceSetup, TwapPool
from bot.prices.chainlink import HEARTBEAT_SLACK, Chainlink
from bot.prices.hermes import Hermes
from bot.prices.pyth import Pyth
from bot.prices.twap import Twap
from bot.profile import Profile, TokenRef

log = logging.getLogger(__name__)

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Pool:
    address: str
    fee: int  # hundredths of a basis point: 3000 = 0.3 %
    usdc_is_token0: bool


@dataclass(frozen=True)
class FeedReport:
    """What start-up verification read from one on-chain feed (a Chainlink price feed or the sequencer feed):
    `indexbot check` prints it."""

    symbol: str  # the price symbol, or "sequencer"
    feed: str
    description: str | None  # description() as the feed answers it (None: unreadable)
    decimals: int | None  # decimals() (None: unreadable)
    answer: Decimal | None  # the latest answer scaled by decimals (the sequencer's: 0 up, 1 down)
    updated_at: int  # latestRoundData().updatedAt (0: unreadable)
    age_seconds: int | None  # at the block verified (None: unreadable)
    heartbeat: int  # the freshness limit the profile gives it (0 for the sequencer)
    stale: bool  # older than heartbeat (+ slack): a warning, not a refusal


@dataclass(frozen=True)
class PythReport:
    """What Hermes answered at start-up for one Pyth source: `indexbot check` prints it."""

    symbol: str
    id: str
    price: Decimal | None
    conf: Decimal | None
    publish_time: int  # 0: no answer
    age_seconds: int | None  # at the block verified
    max_age: int
    problem: str  # "" or one of bot.prices.PROBLEMS (stale included)


@dataclass(frozen=True)
class ChainSetup:
    pools: dict[str, tuple[Pool, ...]]  # index symbol -> its USDC pools
    constituents: dict[str, frozenset[str]]  # index symbol -> constituent symbols at start-up
    feed_decimals: dict[str, int]
    prices: PriceSetup = field(default_factory=PriceSetup)  # what the price sources need (bot.prices)
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
    price_calls = _price_calls(profile)
    calls += price_calls
    all_results = await chain.multicall(calls)
    results = iter(all_results[: len(all_results) - len(price_calls)])
    priced = _price_results(profile, all_results[len(all_results) - len(price_calls):])

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
    problems += priced.problems
    if problems:
        mismatch = ProfileMismatch(profile.name, problems)
        mismatch.feeds = priced.feeds
        raise mismatch
    await _deepest_twap_pools(chain, priced)
    pyth, pyth_warnings = await _pyth_reports(profile, hermes, priced.now)
    warnings = (*priced.warnings, *pyth_warnings)
    for warning in warnings:
        log.warning("%s", warning)
    return ChainSetup(pools, constituents, feed_decimals, priced.setup, priced.feeds, priced.sequencer, warnings, pyth)


async def _deepest_twap_pools(chain: Chain, priced: _Priced) -> None:
    """Where a TWAP token has pools at several fee tiers, read the one with the most liquidity (a thin pool's
    average is the cheaper one to move)."""
    if not priced.candidates:
        return
    flat = [(token, address, fee) for token, tiers in priced.candidates.items() for address, fee in tiers]
    results = await chain.multicall([Call(address, p.LIQUIDITY) for _, address, _ in flat])
    best: dict[str, tuple[int, str, int]] = {}
    for (token, address, fee), res in zip(flat, results, strict=True):
        liquidity = int(res.one()) if res.ok else -1
        if token not in best or liquidity > best[token][0]:
            best[token] = (liquidity, address, fee)
    for token, (_, address, fee) in best.items():
        old = priced.setup.twap_pools[token]
        priced.setup.twap_pools[token] = TwapPool(address, fee, old.token_is_token0, old.token_decimals, old.usdc_decimals)


async def _pyth_reports(profile: Profile, hermes: Hermes | None, now: int) -> tuple[tuple[PythReport, ...], list[str]]:
    """One Hermes request for every Pyth source: an id missing from the answer, a price that cannot be read, a
    stale one or a Hermes that does not answer is a warning (those prices fall through), never a refusal."""
    sources = [src for sources in profile.prices.values() for src in sources if isinstance(src, Pyth)]
    if hermes is None or not sources:
        return (), []
    answer = await hermes.latest(sorted({src.id for src in sources}))
    reports, warnings = [], []
    for src in sources:
        got = answer.for_id(src.id)
        if isinstance(got, HermesPrice):
            age = max(0, now - got.publish_time)
            problem = "not_positive" if got.price <= 0 else "stale" if age > src.max_age else ""
            reports.append(PythReport(src.symbol, src.id, got.price, got.conf, got.publish_time, age, src.max_age, problem))
        else:
            problem = got
            reports.append(PythReport(src.symbol, src.id, None, None, 0, None, src.max_age, problem))
        if problem:
            warnings.append(f"Pyth id {src.id} ({src.symbol}) at Hermes: {_PYTH_PROBLEMS[problem]}; "
                            "its price falls through to the next source")
    return tuple(reports), warnings


_PYTH_PROBLEMS = {  # operator-facing English, like the rest of the start-up check
    "stale": "its price is older than its max_age",
    "missing": "missing from the answer (is the id right?)",
    "not_positive": "its price is zero or negative",
    "bad_answer": "its price cannot be read (not a number, or an exponent Pyth does not use)",
    "timeout": "no answer within the timeout",
    "unreachable": "unreachable or an HTTP error",
    "no_history": "no answer",
}


# -- price sources (bot.prices): Chainlink feeds, TWAP pools, the sequencer feed -------------------------------

def _chainlinks(profile: Profile) -> list[Chainlink]:
    return [src for sources in profile.prices.values() for src in sources if isinstance(src, Chainlink)]


def _twaps(profile: Profile) -> list[Twap]:
    return [src for sources in profile.prices.values() for src in sources if isinstance(src, Twap)]


def _price_addresses(profile: Profile) -> dict[str, str]:
    named = {f"{src.symbol} feed ({src.description or 'chainlink'})": src.feed for src in _chainlinks(profile)}
    named.update({f"{src.symbol} TWAP pool": src.pool for src in _twaps(profile) if src.pool})
    named.update({f"{src.symbol} TWAP token": src.token for src in _twaps(profile)})
    if profile.sequencer is not None:
        named["sequencer feed"] = profile.sequencer.feed
    return named


_FEED_READS = (p.DECIMALS, p.DESCRIPTION, p.LATEST_ROUND)


def _price_calls(profile: Profile) -> list[Call]:
    calls = [Call(profile.multicall3, p.BLOCK_TIMESTAMP)]
    calls += [Call(src.feed, fn) for src in _chainlinks(profile) for fn in _FEED_READS]
    for src in _twaps(profile):
        calls.append(Call(src.token, p.DECIMALS))
        if src.pool:
            calls += [Call(src.pool, p.TOKEN0), Call(src.pool, p.TOKEN1)]
        else:
            calls += [Call(profile.uniswap_factory, p.GET_POOL, (profile.usdc.address, src.token, fee)) for fee in profile.fee_tiers]
    if profile.sequencer is not None:
        calls.append(Call(profile.sequencer.feed, p.LATEST_ROUND))
    return calls


@dataclass(frozen=True)
class _Priced:
    now: int
    setup: PriceSetup
    candidates: dict[str, list[tuple[str, int]]]
    feeds: tuple[FeedReport, ...]
    sequencer: FeedReport | None
    problems: list[str]
    warnings: tuple[str, ...]


def _feed_report(src: Chainlink, now: int, decimals: Result, description: Result, latest: Result) -> FeedReport:
    dec = int(decimals.one()) if decimals.ok else None
    desc = str(description.one()) if description.ok else None
    answer, updated, age = None, 0, None
    if latest.ok:
        updated = int(latest.values[3])
        answer = Decimal(int(latest.values[1])).scaleb(-(dec if dec is not None else 8))
        age = max(0, now - updated)
    stale = age is None or age > src.heartbeat + HEARTBEAT_SLACK
    return FeedReport(src.symbol, src.feed, desc, dec, answer, updated, age, src.heartbeat, stale)


def _price_results(profile: Profile, results: list[Result]) -> _Priced:
    """Each Chainlink feed's decimals, description and latest round (a wrong description or decimals is a
    refusal; a stale or non-positive answer a warning), each TWAP source's pool, the sequencer feed."""
    it = iter(results)
    now = int(next(it).one())
    problems: list[str] = []
    warnings: list[str] = []
    decimals_of: dict[str, int] = {}
    reports: list[FeedReport] = []
    for src in _chainlinks(profile):
        report = _feed_report(src, now, next(it), next(it), next(it))
        reports.append(report)
        name = f"feed {src.symbol} at {src.feed}"
        if report.decimals is None:
            problems.append(f"{name}: decimals() failed (not an AggregatorV3 feed)")
            continue
        decimals_of[src.feed] = report.decimals
        if src.decimals is not None and report.decimals != src.decimals:
            problems.append(f"{name}: decimals() is {report.decimals}, expected {src.decimals}")
        if src.description is not None and report.description != src.description:
            problems.append(f"{name}: description() is {report.description!r}, expected {src.description!r}")
        if report.answer is None:
            warnings.append(f"{name}: latestRoundData() failed; its price falls through to the next source")
        elif report.answer <= 0:
            warnings.append(f"{name}: its latest answer is {report.answer}; its price falls through to the next source")
        elif report.stale:
            warnings.append(f"{name} is stale: last updated {report.age_seconds} s ago, heartbeat {src.heartbeat} s")
    pools: dict[str, TwapPool] = {}
    candidates: dict[str, list[tuple[str, int]]] = {}  # a token with pools at several fee tiers
    for twap in _twaps(profile):
        dec = next(it)
        token_decimals = int(dec.one()) if dec.ok else None
        if token_decimals is None:
            problems.append(f"{twap.symbol} TWAP token {twap.token}: decimals() failed")
        found: str | None = None
        fee = 0
        tiers: list[tuple[str, int]] = []
        if twap.pool:
            t0, t1 = next(it), next(it)
            pair = {to_checksum_address(r.one()) for r in (t0, t1) if r.ok}
            if pair != {twap.token, profile.usdc.address}:
                problems.append(f"{twap.symbol} TWAP pool {twap.pool} is not the {twap.symbol}/USDC pool")
            found = twap.pool
        else:
            for fee_tier in profile.fee_tiers:
                res = next(it)
                if res.ok and res.one() != ZERO:
                    tiers.append((to_checksum_address(res.one()), fee_tier))
            found, fee = tiers[0] if tiers else (None, 0)
            if found is None:
                problems.append(f"no Uniswap V3 pool for {twap.symbol}/USDC at fee tiers {list(profile.fee_tiers)} (its TWAP source)")
        if found is not None and token_decimals is not None:
            token0 = int(twap.token, 16) < int(profile.usdc.address, 16)
            pools[twap.token] = TwapPool(found, fee, token0, token_decimals, profile.usdc.decimals)
            if len(tiers) > 1:
                candidates[twap.token] = tiers
    sequencer = None
    if profile.sequencer is not None:
        res = next(it)
        up = res.ok and int(res.values[1]) == 0
        started = int(res.values[2]) if res.ok else 0
        sequencer = FeedReport("sequencer", profile.sequencer.feed, None, 0, Decimal(int(res.values[1])) if res.ok else None,
                               started, max(0, now - started) if res.ok else None, 0, False)
        if not res.ok:
            problems.append(f"sequencer feed {profile.sequencer.feed}: latestRoundData() failed")
        elif not up:
            warnings.append(f"the sequencer feed says the sequencer is down (since {started}): trades are refused until it is back")
    return _Priced(now, PriceSetup(decimals_of, pools), candidates, tuple(reports), sequencer, problems, tuple(warnings))
