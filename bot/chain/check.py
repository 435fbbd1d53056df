"""`indexbot check`: an operator's pre-flight of a chain profile against the chain it names.

For every address the profile names (and every one discovered through it: the StakeFactory's staking tokens,
AssetLocking's LP tokens, each index's Uniswap V3 pool found with `getPool` over the fee tiers) it reports what
the chain holds there: code, symbol and decimals, a feed's description, decimals and latest answer with its age
against the feed's heartbeat, a pool's fee and liquidity, a staking token's `token()` and `cooldown()`, the
sequencer feed's state. Then it runs the start-up verification itself (`bot.chain.discovery.verify_at_startup`) and
gives a verdict: ready (perhaps with warnings, such as a stale feed) or not ready, naming every problem.

Reads: the chain id, one `eth_getCode` batch for every named address, then two Multicall3 batches (what the
profile names, then what the first batch discovered), then the start-up verification's own reads.

The price sources are the profile's as the price layer parsed them (`Profile.prices`, `.sequencer`, `.pyth`):
each Chainlink feed and the sequencer feed is read here; Pyth ids are asked of Hermes by the start-up
verification, as when the bot starts, and what Hermes answered is shown on each id's row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, Fn, Result
from bot.config import redact_url
from bot.chain.discovery import FactoryToken, GET_STAKE_TOKENS, match_staking, verify_at_startup
from bot.market.prices.chainlink import Chainlink
from bot.market.prices.pyth import Pyth
from bot.market.prices.startup import PythReport
from bot.market.prices.twap import Twap
from bot.chain.profile import IndexRef, Profile, TokenRef, load_profile_data, override_paths, parse_profile, profile_file
from bot.chain.verify import ZERO, ProfileMismatch, hermes_for

DESCRIPTION = Fn("description()", "string")
POOL_FEE = Fn("fee()", "uint24")
OBSERVE = Fn("observe(uint32[])", "int56[],uint160[]")

OK, INFO, WARNING, PROBLEM = "ok", "info", "warning", "PROBLEM"
SECTIONS = ("Contracts", "Tokens", "Indexes", "Staking", "Locking", "Pools", "Price feeds")


# -- the price sources, as the profile parsed them (bot.market.prices) ------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """The profile's price sources by kind."""

    chainlink: tuple[Chainlink, ...] = ()
    pyth: tuple[Pyth, ...] = ()
    twap: tuple[Twap, ...] = ()

    @classmethod
    def of(cls, profile: Profile) -> Sources:
        every = [src for sources in profile.prices.values() for src in sources]
        return cls(tuple(s for s in every if isinstance(s, Chainlink)), tuple(s for s in every if isinstance(s, Pyth)),
                   tuple(s for s in every if isinstance(s, Twap)))

    def symbols(self) -> set[str]:
        return {s.symbol for group in (self.chainlink, self.pyth, self.twap) for s in group}


# -- the report ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    label: str
    address: str | None
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: bool = False  # nothing was checked on the chain (a Pyth id)

    @property
    def status(self) -> str:
        if self.problems:
            return PROBLEM
        if self.warnings:
            return WARNING
        return INFO if self.info else OK


@dataclass
class Report:
    profile: str
    label: str
    chain_id: int | None
    expected_chain_id: int
    rpc_urls: tuple[str, ...]  # redacted
    block: int | None = None
    timestamp: int | None = None
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not tied to one address (chain id, the profile's entries)
    startup: list[str] | None = None  # the start-up verification's refusal; None: it passes
    companions: tuple[str, ...] = ()  # the companion profiles' files, checked on their own
    round_trips: int = 0

    def row(self, section: str, label: str, address: str | None) -> Row:
        r = Row(section, label, address)
        self.rows.append(r)
        return r

    @property
    def problem_count(self) -> int:
        return len(self.problems) + sum(len(r.problems) for r in self.rows) + len(self.startup or [])

    @property
    def warning_count(self) -> int:
        return sum(len(r.warnings) for r in self.rows)

    @property
    def ready(self) -> bool:
        return self.problem_count == 0

    def missing(self) -> list[str]:
        """Every address at which the chain holds no code, once each."""
        return list(dict.fromkeys(r.address for r in self.rows
                                  if r.address and any(x.startswith("no contract code") for x in r.problems)))


def _age(seconds: int) -> str:
    if seconds < 0:
        return "in the future"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def _duration(seconds: int) -> str:
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400} days" if seconds != 86400 else "1 day"
    return _age(seconds)


def _scaled(answer: int, decimals: int) -> str:
    return f"{Decimal(answer).scaleb(-decimals).normalize():f}"


class _Batch:
    """Calls queued with what to do with each answer, sent as one Multicall3 batch."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.handlers: list[Callable[[Result], None]] = []

    def add(self, call: Call, handler: Callable[[Result], None]) -> None:
        self.calls.append(call)
        self.handlers.append(handler)

    async def send(self, chain: Chain) -> None:
        for result, handler in zip(await chain.multicall(self.calls), self.handlers, strict=True):
            handler(result)


class _Checker:
    """One run of the check: the rows it builds, the codes it read, the batches it queues."""

    def __init__(self, profile: Profile, chain: Chain, report: Report) -> None:
        self.profile, self.chain, self.report = profile, chain, report
        self.sources = Sources.of(profile)
        self.codes: dict[str, bytes] = {}
        self.first, self.second = _Batch(), _Batch()
        self.factory_tokens: list[FactoryToken] = []
        self.factory_seen: list[dict[str, Any]] = []  # what each of them answered: token, symbol, decimals
        self.factory_read = False

    # what the profile names, with the reads each address gets once it is known to hold code
    def named(self) -> Iterator[tuple[str, str, str, Callable[[Row], None] | None]]:
        prof = self.profile
        yield "Contracts", "Multicall3", prof.multicall3, None
        for label, addr in (("Uniswap V3 factory", prof.uniswap_factory), ("SwapRouter02", prof.swap_router02),
                            ("QuoterV2", prof.quoter_v2), ("NonfungiblePositionManager", prof.position_manager)):
            if addr:
                yield "Contracts", label, addr, None
        if prof.stake_factory:
            factory = prof.stake_factory
            yield "Contracts", "StakeFactory", factory, lambda row: self.first.add(
                Call(factory, GET_STAKE_TOKENS), partial(self.stake_factory_list, row))
        if prof.locking:
            locking = prof.locking
            yield "Contracts", "AssetLocking", locking, lambda row: self.first.add(
                Call(locking, p.GET_ACTIVE_TOKENS), partial(self.locking_list, row))
        for ref in prof.indexes:
            if ref.factory:
                yield "Contracts", f"{ref.symbol} index factory", ref.factory, partial(self.issuance_reads, ref)
        for cl in self.sources.chainlink:
            yield "Price feeds", f"{cl.symbol} Chainlink", cl.feed, partial(self.feed_reads, source=cl)
        for tw in self.sources.twap:
            if tw.pool:
                yield "Price feeds", f"{tw.symbol} TWAP pool", tw.pool, partial(self.named_pool, pool=tw.pool, window=tw.window)
        seq = prof.sequencer
        if seq is not None:
            yield "Price feeds", "L2 sequencer uptime", seq.feed, partial(self.sequencer_reads, grace=seq.grace_seconds)

    def tokens(self) -> Iterator[tuple[str, TokenRef, str | None]]:
        """(section, token, the token it stakes when it is a staking token)."""
        prof = self.profile
        yield "Tokens", prof.usdc, None
        yield "Tokens", prof.weth, None
        if prof.soso:
            yield "Tokens", prof.soso, None
        if prof.soso_staking:
            yield "Staking", prof.soso_staking, prof.soso.address if prof.soso else None
        for ref in prof.indexes:
            yield "Indexes", ref.token, None
        for ref in prof.indexes:
            if ref.staking:
                yield "Staking", ref.staking, ref.token.address
        for lp in prof.lp_tokens:
            yield "Locking", lp.token, None

    def has_code(self, addr: str, row: Row) -> bool:
        code = self.codes.get(addr, b"")
        if code:
            row.facts.append(f"code {len(code):,} bytes")
            return True
        row.problems.append("no contract code at this address")
        return False

    # -- queueing reads --------------------------------------------------------------------------------
    def token_reads(self, row: Row, token: TokenRef, batch: _Batch) -> None:
        def expect(name: str, expected: object) -> Callable[[Result], None]:
            shown = repr(expected) if isinstance(expected, str) else str(expected)

            def handle(r: Result) -> None:
                if not r.ok:
                    row.problems.append(f"{name}() unreadable, expected {shown}")
                elif r.one() != expected:
                    row.problems.append(f"{name}() is {r.one()!r}, expected {shown}")
                else:
                    row.facts.append(f"{name} {r.one()}")
            return handle

        batch.add(Call(token.address, p.SYMBOL), expect("symbol", token.symbol))
        batch.add(Call(token.address, p.DECIMALS), expect("decimals", token.decimals))

    def staking_reads(self, row: Row, address: str, staked: str | None, batch: _Batch,
                      seen: dict[str, Any] | None = None) -> None:
        """token() (it must be `staked` when given; kept in `seen`) and cooldown()."""
        names = {t.address: t.symbol for _, t, _ in self.tokens()}

        def token(r: Result) -> None:
            if not r.ok:
                row.problems.append("token() unreadable: not a staking token")
                return
            found = to_checksum_address(r.one())
            if seen is not None:
                seen["token"] = found
            row.facts.append(f"token() {found}" + (f" ({names[found]})" if found in names else ""))
            if staked is not None and found != staked:
                row.problems.append(f"token() is {found}, expected {staked}" + (f" ({names[staked]})" if staked in names else ""))

        def cooldown(r: Result) -> None:
            if r.ok:
                row.facts.append(f"cooldown() {_duration(int(r.one()))}")
            else:
                row.problems.append("cooldown() unreadable: not a staking token")

        batch.add(Call(address, p.STAKED_TOKEN), token)
        batch.add(Call(address, p.COOLDOWN), cooldown)

    def feed_reads(self, row: Row, source: Chainlink) -> None:
        state: dict[str, Any] = {}

        def description(r: Result) -> None:
            if not r.ok:
                row.problems.append("description() unreadable: not a Chainlink feed")
                return
            row.facts.append(f"description {r.one()!r}")
            if source.description is not None and r.one() != source.description:
                row.problems.append(f"description() is {r.one()!r}, expected {source.description!r}")

        def decimals(r: Result) -> None:
            if not r.ok:
                row.problems.append("decimals() unreadable: not a Chainlink feed")
                return
            state["decimals"] = int(r.one())
            row.facts.append(f"decimals {r.one()}")
            if source.decimals is not None and int(r.one()) != source.decimals:
                row.problems.append(f"decimals() is {r.one()}, expected {source.decimals}")

        def latest(r: Result) -> None:
            if not r.ok:
                row.problems.append("latestRoundData() unreadable")
                return
            _, answer, _, updated, _ = r.values
            shown = _scaled(answer, state["decimals"]) if "decimals" in state else str(answer)
            row.facts.append(f"answer {shown}")
            if answer <= 0:
                row.problems.append(f"latest answer is {shown}, not a price")
            now = self.report.timestamp
            if now is not None:
                age = now - int(updated)
                row.facts.append(f"updated {_age(age)} ago (heartbeat {_duration(source.heartbeat)})")
                if age > source.heartbeat:
                    row.warnings.append(f"stale: updated {_age(age)} ago, its heartbeat is {_duration(source.heartbeat)}")

        self.first.add(Call(source.feed, DESCRIPTION), description)
        self.first.add(Call(source.feed, p.DECIMALS), decimals)
        self.first.add(Call(source.feed, p.LATEST_ROUND), latest)

    def sequencer_reads(self, row: Row, grace: int) -> None:
        def latest(r: Result) -> None:
            if not r.ok:
                row.problems.append("latestRoundData() unreadable: not a sequencer uptime feed")
                return
            _, answer, started, _, _ = r.values
            since = (self.report.timestamp or 0) - int(started)
            state = "up" if answer == 0 else "down" if answer == 1 else f"answer {answer}"
            row.facts.append(f"sequencer {state} for {_age(since)} (grace {_duration(grace)})")
            if answer == 1:
                row.warnings.append("the sequencer is down: quotes and trades are refused until it is back")
            elif answer == 0 and since < grace:
                row.warnings.append(f"the sequencer came back {_age(since)} ago: prices are trusted after {_duration(grace)}")
            elif answer not in (0, 1):
                row.problems.append(f"answer is {answer}, a sequencer uptime feed answers 0 (up) or 1 (down)")

        self.first.add(Call(row.address or "", p.LATEST_ROUND), latest)

    def pool_reads(self, label: str, token: str, symbol: str, window: int | None = None) -> None:
        """Find `token`/USDC pools over the fee tiers (first batch), then read each one found (second batch)."""
        row = self.report.row("Pools", label, None)
        found: list[tuple[int, str]] = []
        answered = [0]

        def got(fee: int) -> Callable[[Result], None]:
            def handle(r: Result) -> None:
                answered[0] += 1
                if r.ok and r.one() != ZERO:
                    found.append((fee, to_checksum_address(r.one())))
                if answered[0] == len(self.profile.fee_tiers):
                    after_search()
            return handle

        def after_search() -> None:
            tiers = ", ".join(f"{t / 10000:g}%" for t in self.profile.fee_tiers)
            if not found:
                row.problems.append(f"no Uniswap V3 pool for {symbol}/USDC at any fee tier ({tiers})")
                return
            for fee, pool in sorted(found):
                self.one_pool(row, fee, pool, window)

        for fee in self.profile.fee_tiers:
            self.first.add(Call(self.profile.uniswap_factory, p.GET_POOL, (self.profile.usdc.address, token, fee)), got(fee))

    def one_pool(self, row: Row, fee: int, pool: str, window: int | None) -> None:
        def liquidity(r: Result) -> None:
            if not r.ok:
                row.problems.append(f"pool {pool} ({fee / 10000:g}%): liquidity() unreadable")
                return
            row.facts.append(f"pool {pool} fee {fee / 10000:g}% liquidity {int(r.one()):,}")
            if int(r.one()) == 0:
                row.warnings.append(f"pool {pool} ({fee / 10000:g}%) has no liquidity in range")

        self.second.add(Call(pool, p.LIQUIDITY), liquidity)
        if window is not None:
            def observe(r: Result) -> None:
                if r.ok:
                    row.facts.append(f"observe() covers the {_duration(window)} TWAP window")
                else:
                    row.warnings.append(f"pool {pool}: observe() cannot go {_duration(window)} back (too few "
                                        "observations kept: increaseObservationCardinalityNext)")
            self.second.add(Call(pool, OBSERVE, ((window, 0),)), observe)

    # -- the run -----------------------------------------------------------------------------------------
    async def run(self) -> None:
        report, prof = self.report, self.profile
        report.chain_id = int(await self.chain.w3.eth.chain_id)
        if report.chain_id != prof.chain_id:
            report.problems.append(f"chain id is {report.chain_id}, the profile says {prof.chain_id}")
        named = list(self.named())
        tokens = list(self.tokens())
        addresses = list(dict.fromkeys([a for _, _, a, _ in named] + [t.address for _, t, _ in tokens]))
        self.codes = await self.chain.codes(addresses)
        multicall_ok = bool(self.codes.get(prof.multicall3))
        if multicall_ok:  # first in the batch: feed ages are computed as the answers are handled
            self.first.add(Call(prof.multicall3, p.BLOCK_NUMBER), lambda r: setattr(report, "block", int(r.one())))
            self.first.add(Call(prof.multicall3, p.BLOCK_TIMESTAMP), lambda r: setattr(report, "timestamp", int(r.one())))

        for section, label, addr, reads in named:
            row = report.row(section, label, addr)
            if self.has_code(addr, row) and multicall_ok and reads is not None:
                reads(row)
        for section, token, staked in tokens:
            row = report.row(section, token.symbol, token.address)
            if self.has_code(token.address, row) and multicall_ok:
                self.token_reads(row, token, self.first)
                if staked is not None:
                    self.staking_reads(row, token.address, staked, self.first)
        for src in self.sources.pyth:
            row = report.row("Price feeds", f"{src.symbol} Pyth", None)
            row.info = True
            row.facts.append(f"id {src.id} (asked of Hermes by the start-up verification below)")
        if not multicall_ok:
            report.problems.append("nothing could be read: Multicall3 is missing, so only code was checked")
            return
        self.index_reads()
        if prof.uniswap_factory and self.codes.get(prof.uniswap_factory):
            for ref in prof.indexes:
                if ref.venue == "pool":
                    self.pool_reads(f"{ref.symbol}/USDC", ref.token.address, ref.symbol)
            for tw in self.sources.twap:
                if tw.pool is None:
                    self.pool_reads(f"{tw.symbol}/USDC (TWAP {_duration(tw.window)})", tw.token, tw.symbol, tw.window)
        await self.first.send(self.chain)
        await self.second.send(self.chain)
        self.staking_discovered()

    def named_pool(self, row: Row, pool: str, window: int) -> None:
        """A TWAP pool the profile names: its fee tier, then its liquidity and observations."""
        def fee(r: Result) -> None:
            if r.ok:
                self.one_pool(row, int(r.one()), pool, window)
            else:
                row.problems.append("fee() unreadable: not a Uniswap V3 pool")

        self.first.add(Call(pool, POOL_FEE), fee)

    def issuance_reads(self, ref: IndexRef, row: Row) -> None:
        """An issuance index's factory: it must issue the index and take the profile's USDC."""
        def expect(what: str, expected: str) -> Callable[[Result], None]:
            def handle(r: Result) -> None:
                if not r.ok or to_checksum_address(r.one()) != expected:
                    row.problems.append(f"{what} is {to_checksum_address(r.one()) if r.ok else 'unreadable'}, expected {expected}")
                else:
                    row.facts.append(f"{what} {expected}")
            return handle

        self.first.add(Call(row.address or "", p.FACTORY_INDEX_TOKEN), expect("indexToken()", ref.token.address))
        self.first.add(Call(row.address or "", p.FACTORY_USDC), expect("usdc()", self.profile.usdc.address))

    def index_reads(self) -> None:
        priced = self.sources.symbols()
        for row in self.report.rows:
            ref = next((x for x in self.profile.indexes if x.token.address == row.address and row.section == "Indexes"), None)
            if ref is None or ref.venue != "pool" or not self.codes.get(ref.token.address):
                continue

            def tokenset(r: Result, row: Row = row) -> None:
                if not r.ok:
                    row.problems.append("getTokenset() unreadable: not an index token")
                    return
                symbols = sorted({str(e[1]) for e in r.one()})
                row.facts.append(f"constituents {', '.join(symbols)}")
                unpriced = [s for s in symbols if s not in priced]
                if unpriced:
                    row.warnings.append(f"no price source for {', '.join(unpriced)} (its NAV would be partial)")

            self.first.add(Call(ref.token.address, p.GET_TOKENSET), tokenset)

    def stake_factory_list(self, row: Row, r: Result) -> None:
        if not r.ok:
            row.problems.append("getStakeTokens() unreadable: not a StakeFactory")
            return
        ids, tokens = r.values
        row.facts.append(f"getStakeTokens() lists {len(tokens)} staking token{'s' if len(tokens) != 1 else ''}")
        self.factory_read = True
        for asset_id, raw in zip(ids, tokens, strict=True):
            addr = to_checksum_address(raw)
            entry = self.report.row("Staking", f"asset id {asset_id} (StakeFactory)", addr)
            seen: dict[str, Any] = {}

            def keep(key: str, res: Result, entry: Row = entry, seen: dict[str, Any] = seen) -> None:
                seen[key] = res.one() if res.ok else None
                entry.facts.append(f"{key} {res.one()}" if res.ok else f"{key}() unreadable")

            self.second.add(Call(addr, p.SYMBOL), partial(keep, "symbol"))
            self.second.add(Call(addr, p.DECIMALS), partial(keep, "decimals"))
            self.staking_reads(entry, addr, None, self.second, seen)
            self.factory_tokens.append(FactoryToken(int(asset_id), addr, None, None, None))
            self.factory_seen.append(seen)

    def staking_discovered(self) -> None:
        """Match the factory's tokens to the profile's indexes: a listed staking token must be the factory's; say
        which listed ones the factory confirms or does not list, and which index has none at all."""
        if not self.factory_read:
            return
        found = [replace(t, staked=s.get("token"), symbol=s.get("symbol"), decimals=s.get("decimals"))
                 for t, s in zip(self.factory_tokens, self.factory_seen, strict=True)]
        _, problems = match_staking(self.profile, found)
        rows = self.report.rows
        next(r for r in rows if r.label == "StakeFactory").problems.extend(problems)
        by_index = {t.staked: t for t in found if t.staked is not None}
        for ref in self.profile.indexes:
            made = by_index.get(ref.token.address)
            if made is not None:
                entry = next(r for r in rows if r.address == made.address and "StakeFactory" in r.label)
                entry.facts.append(f"stakes {ref.symbol}" + ("" if ref.staking else ": discovered, the profile lists none"))
            if ref.staking is not None:
                listed = next(r for r in rows if r.address == ref.staking.address and r.section == "Staking")
                if made is None:
                    listed.facts.append("not listed by the StakeFactory (checked by its own token())")
                elif made.address == ref.staking.address:
                    listed.facts.append(f"the StakeFactory's, asset id {made.asset_id}")
            elif made is None and ref.venue == "pool":
                none = self.report.row("Staking", f"{ref.symbol} staking", None)
                none.warnings.append("none listed and none in the StakeFactory: staking this index is not offered")

    def locking_list(self, row: Row, r: Result) -> None:
        if not r.ok:
            row.warnings.append("getActiveTokens() unreadable, so its LP tokens cannot be listed (an AssetLocking "
                                "from before getActiveTokens, or not AssetLocking)")
            return
        tokens = [to_checksum_address(t) for t in r.one()]
        row.facts.append(f"getActiveTokens() lists {len(tokens)} token{'s' if len(tokens) != 1 else ''}")
        for addr in tokens:
            entry = self.report.row("Locking", "active LP token", addr)

            def symbol(res: Result, entry: Row = entry) -> None:
                entry.facts.append(f"symbol {res.one()}" if res.ok else "symbol() unreadable")

            def decimals(res: Result, entry: Row = entry) -> None:
                entry.facts.append(f"decimals {res.one()}" if res.ok else "decimals() unreadable")

            self.second.add(Call(addr, p.SYMBOL), symbol)
            self.second.add(Call(addr, p.DECIMALS), decimals)


async def run_check(profile: Profile, chain: Chain, companions: Sequence[str] = ()) -> Report:
    """Read everything `profile` names on `chain` and run the start-up verification (Hermes asked for every Pyth
    id, as at start-up); the report says what was found and whether the bot would start (`companions`: the
    companion profiles' paths, named for the operator to check in turn)."""
    report = Report(profile.name, profile.chain_label, None, profile.chain_id,
                    tuple(redact_url(u) for u in profile.rpc_urls),
                    companions=tuple(companions) or profile.companions)
    await _Checker(profile, chain, report).run()
    hermes = hermes_for(profile)
    try:
        _, setup = await verify_at_startup(profile, chain, hermes=hermes)
        _pyth_answers(report, setup.pyth)
    except ProfileMismatch as exc:
        report.startup = list(exc.problems)
    finally:
        if hermes is not None:
            await hermes.close()
    report.round_trips = chain.round_trips
    return report


def _pyth_answers(report: Report, answers: Sequence[PythReport]) -> None:
    """What Hermes answered at start-up for each Pyth source, on that source's row (a problem is a warning: the
    symbol's next source prices it, as at run time)."""
    for answer in answers:
        row = next((r for r in report.rows if r.label == f"{answer.symbol} Pyth"), None)
        if row is None:
            continue
        row.info = False
        if answer.price is None:
            row.warnings.append(f"Hermes gave no usable price ({answer.problem or 'missing'})")
            continue
        row.facts.append(f"price {answer.price.normalize():f}" + (f" ± {answer.conf.normalize():f}" if answer.conf else ""))
        if answer.age_seconds is not None:
            row.facts.append(f"published {_age(answer.age_seconds)} ago (max age {_duration(answer.max_age)})")
        if answer.problem:
            row.warnings.append(f"not usable now: {answer.problem}")


def render(report: Report) -> str:
    """The report as the operator reads it: a line per address, then the start-up verification and a verdict."""
    out = [f"Profile {report.profile} ({report.label}), chain id {report.expected_chain_id}, "
           f"RPC {', '.join(report.rpc_urls)}"]
    if report.chain_id is not None:
        when = (datetime.fromtimestamp(report.timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                if report.timestamp is not None else "time unknown")
        out.append(f"The chain answers chain id {report.chain_id}"
                   + (f", block {report.block} at {when}" if report.block is not None else ""))
    section = None
    width = max((len(r.label) for r in report.rows), default=0)
    for row in sorted(report.rows, key=lambda r: SECTIONS.index(r.section)):
        if row.section != section:
            section = row.section
            out += ["", section]
        details = row.problems + row.warnings + row.facts
        out.append(f"  {row.status:<8} {row.label:<{width}}  {row.address or '-':<42}  {'; '.join(details)}")
    if report.problems:
        out += ["", "Profile"] + [f"  {PROBLEM:<8} {x}" for x in report.problems]
    out.append("")
    if report.startup is None:
        out.append("Start-up verification (what `indexbot run` checks): passes")
    else:
        out.append("Start-up verification (what `indexbot run` checks): refuses to start:")
        out += [f"  - {x}" for x in report.startup]
    for companion in report.companions:
        out.append(f"Companion profile: check it with `indexbot check --profile {companion}`")
    missing = report.missing()
    out.append("")
    if report.ready:
        out.append(f"Verdict: READY. The bot would start on this chain ({report.warning_count} warning"
                   f"{'s' if report.warning_count != 1 else ''}; {report.round_trips} RPC round trips).")
    else:
        out.append(f"Verdict: NOT READY. {report.problem_count} problem{'s' if report.problem_count != 1 else ''}, "
                   f"{report.warning_count} warning{'s' if report.warning_count != 1 else ''}"
                   + (f"; no contract code at {len(missing)} address{'es' if len(missing) != 1 else ''}" if missing else "")
                   + f" ({report.round_trips} RPC round trips).")
    return "\n".join(out)


def load_for_check(name_or_path: str | Path, home: Path | None, override: Path | None,
                   rpc_urls: tuple[str, ...] = ()) -> Profile:
    """The profile the bot would run on: its operator overrides merged, `rpc_urls` replacing its own."""
    path = profile_file(name_or_path)
    profile = parse_profile(load_profile_data(path, override_paths(path, home, override)))
    return replace(profile, rpc_urls=rpc_urls) if rpc_urls else profile
