"""Chain profiles: which chain, which contracts, which feeds.

A profile is a TOML file. `base` ships with the package (bot/chain/profiles/base.toml); `devnet` is written by
`devnet.deploy` when it deploys the protocol on anvil. The bot only ever talks to the addresses named here,
through the interfaces in shared/protocol-facts.md, so the same code runs on both.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from bot.market.engine.reindex import ReindexSchedule
from bot.issuance.hours import MarketHours
from bot.chain.logreader import DEFAULT_SPAN as DEFAULT_LOG_RANGE
from bot.market.prices import PriceSource, SourceConfigError, parse_sources
from bot.market.prices.chainlink import Chainlink

PROFILES_DIR = Path(__file__).parent / "profiles"
STANDARD_FEE_TIERS = (100, 500, 3000, 10000)
LP_KINDS = ("uniswap-v2",)
VENUES = ("pool", "issuance")  # pool: bought on Uniswap V3 against USDC; issuance: requested from a factory, filled later


class ProfileError(ValueError):
    """The profile file is malformed (missing key, bad address)."""


@dataclass(frozen=True)
class TokenRef:
    """An ERC-20 the bot expects at `address` with this symbol and decimals (checked on start-up)."""

    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class IndexRef:
    """An index token, its staking token, and how it is bought: `pool` (Uniswap V3 against USDC) or `issuance`
    (a Nexlabs-style factory that takes USDC and mints once its orders fill, only while `market_hours` say the
    constituents' market is open; reindexed monthly per `reindex`)."""

    token: TokenRef
    staking: TokenRef | None
    methodology: str
    venue: str = "pool"
    name: str = ""
    factory: str | None = None  # issuance: the index factory
    market_hours: MarketHours | None = None  # issuance: when the constituents' market trades (fills happen)
    reindex: ReindexSchedule | None = None  # issuance: the monthly reindex, in the market's time zone

    @property
    def symbol(self) -> str:
        return self.token.symbol


@dataclass(frozen=True)
class LpRef:
    """An LP token the points programme counts when locked: a `kind` pool (`uniswap-v2`) of `index` and USDC."""

    token: TokenRef
    index: str  # symbol of the index it pairs with USDC
    kind: str = "uniswap-v2"


@dataclass(frozen=True)
class Profile:
    """One chain: its contracts and the indexes that live on it. A bot runs on a home profile and its
    `companions` (other chains, e.g. a stock index on Ethereum beside the SSI indexes on Base); a wallet's
    address serves on every one of them."""

    name: str
    chain_id: int
    rpc_urls: tuple[str, ...]
    explorer_url: str
    block_time_seconds: float
    usdc: TokenRef
    weth: TokenRef
    soso: TokenRef | None
    soso_staking: TokenRef | None
    indexes: tuple[IndexRef, ...]
    feeds: dict[str, str]  # constituent symbol (Token.symbol in a tokenset) -> AggregatorV3 feed
    multicall3: str
    uniswap_factory: str
    swap_router02: str
    quoter_v2: str
    position_manager: str
    fee_tiers: tuple[int, ...] = STANDARD_FEE_TIERS
    native_feed_symbol: str = "ETH"  # which feed prices gas
    locking: str | None = None  # AssetLocking: LP locks are read with its lockDatas(token, user) (bot.points.locks)
    lp_tokens: tuple[LpRef, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. [devnet] operator data
    label: str = ""  # the chain's name as users see it ("Base", "Ethereum")
    companions: tuple[str, ...] = ()  # other profiles' files, relative to this one's, loaded with it
    stake_factory: str | None = None  # the protocol's StakeFactory: index staking tokens are discovered through it
    log_range_blocks: int = DEFAULT_LOG_RANGE  # most blocks per eth_getLogs (bot.chain.logreader narrows it further if refused)
    prices: dict[str, tuple[PriceSource, ...]] = field(default_factory=dict)  # symbol -> its sources, in order
    pyth: PythRef | None = None  # [pyth]: the Hermes service (defaults when a Pyth source is named without it)
    sequencer: SequencerRef | None = None  # [sequencer]: the L2 sequencer uptime feed

    @property
    def chain_label(self) -> str:
        return self.label or self.name

    def index(self, symbol: str) -> IndexRef:
        for ref in self.indexes:
            if ref.symbol == symbol:
                return ref
        raise KeyError(symbol)


@dataclass(frozen=True)
class PythRef:
    """[pyth]: where Hermes is, how long to wait for it, and which environment variable holds its API key."""

    hermes_url: str = "https://hermes.pyth.network"
    timeout_seconds: float = 3.0
    api_key_env: str = "PYTH_API_KEY"


@dataclass(frozen=True)
class SequencerRef:
    """[sequencer]: the L2 sequencer uptime feed and the grace period after it comes back."""

    feed: str
    grace_seconds: int = 3600


def _addr(raw: Any, where: str) -> str:
    try:
        return to_checksum_address(str(raw))
    except (ValueError, TypeError) as exc:
        raise ProfileError(f"{where}: {raw!r} is not an address") from exc


def _token(raw: dict[str, Any], where: str) -> TokenRef:
    try:
        return TokenRef(_addr(raw["address"], where), str(raw["symbol"]), int(raw["decimals"]))
    except KeyError as exc:
        raise ProfileError(f"{where}: missing {exc.args[0]}") from exc


def _lp_token(raw: dict[str, Any], where: str, indexes: list[IndexRef]) -> LpRef:
    try:
        index, kind = str(raw["index"]), str(raw["kind"])
    except KeyError as exc:
        raise ProfileError(f"{where}: missing {exc.args[0]}") from exc
    if index not in {ref.symbol for ref in indexes}:
        raise ProfileError(f"{where}: index {index!r} is not one of the profile's indexes")
    if kind not in LP_KINDS:
        raise ProfileError(f"{where}: kind {kind!r} is not one of {', '.join(LP_KINDS)}")
    return LpRef(_token(raw, where), index, kind)


def _index(raw: dict[str, Any], where: str) -> IndexRef:
    venue = str(raw.get("venue", "pool"))
    if venue not in VENUES:
        raise ProfileError(f"{where}: venue {venue!r} is not one of {', '.join(VENUES)}")
    staking = raw.get("staking")
    factory = raw.get("factory")
    if venue == "issuance" and (factory is None or "market_hours" not in raw):
        raise ProfileError(f"{where}: an issuance index needs `factory` and `market_hours`")
    for key in ("market_hours", "reindex"):
        if not isinstance(raw.get(key, {}), dict):
            raise ProfileError(f"{where}: {key} must be a table, not {raw[key]!r}")
    try:
        hours = MarketHours.from_config(raw["market_hours"]) if "market_hours" in raw else None
        reindex = ReindexSchedule.from_config(raw["reindex"]) if "reindex" in raw else None
    except ValueError as exc:
        raise ProfileError(f"{where}: {exc}") from exc
    return IndexRef(
        token=_token(raw, where),
        staking=_token(staking, where + ".staking") if staking else None,
        methodology=str(raw.get("methodology", "")),
        venue=venue,
        name=str(raw.get("name", "")),
        factory=_addr(factory, where + ".factory") if factory is not None else None,
        market_hours=hours,
        reindex=reindex,
    )


def indexes_of(data: dict[str, Any]) -> list[IndexRef]:
    return [_index(raw, f"indexes[{i}]") for i, raw in enumerate(data.get("indexes", []))]


def _contract(c: dict[str, Any], key: str, required: bool) -> str:
    """A contract address from [contracts]; the Uniswap ones may be left out of a profile with no pool index."""
    if key not in c and not required:
        return ""
    return _addr(c[key], f"contracts.{key}")


def parse_profile(data: dict[str, Any]) -> Profile:
    """Build a Profile from parsed TOML; raises ProfileError naming the offending key."""
    try:
        c = data["contracts"]
        indexes = indexes_of(data)
        pools = any(ref.venue == "pool" for ref in indexes)
        soso = data.get("soso")
        locking = data.get("locking")
        lp_tokens = tuple(_lp_token(raw, f"lp_tokens[{i}]", indexes) for i, raw in enumerate(data.get("lp_tokens", [])))
        prices = _prices(data)
        return Profile(
            name=str(data["name"]),
            chain_id=int(data["chain_id"]),
            rpc_urls=tuple(str(u) for u in data["rpc_urls"]),
            explorer_url=str(data.get("explorer_url", "")),
            block_time_seconds=float(data.get("block_time_seconds", 2.0)),
            usdc=_token(data["usdc"], "usdc"),
            weth=_token(data["weth"], "weth"),
            soso=_token(soso, "soso") if soso else None,
            soso_staking=_token(soso["staking"], "soso.staking") if soso and soso.get("staking") else None,
            indexes=tuple(indexes),
            feeds=_chainlink_feeds(data, prices),
            multicall3=_addr(c["multicall3"], "contracts.multicall3"),
            uniswap_factory=_contract(c, "uniswap_factory", pools),
            swap_router02=_contract(c, "swap_router02", pools),
            quoter_v2=_contract(c, "quoter_v2", pools),
            position_manager=_contract(c, "position_manager", pools),
            fee_tiers=tuple(int(t) for t in data.get("fee_tiers", STANDARD_FEE_TIERS)),
            native_feed_symbol=str(data.get("native_feed_symbol", "ETH")),
            locking=_addr(locking["address"], "locking.address") if locking else None,
            lp_tokens=lp_tokens,
            extra={k: v for k, v in data.items() if k == "devnet"},
            label=str(data.get("label", "")),
            companions=tuple(str(x) for x in data.get("companions", [])),
            stake_factory=_stake_factory(data),
            log_range_blocks=_log_range(data.get("log_range_blocks", DEFAULT_LOG_RANGE)),
            prices=prices,
            pyth=_pyth(data),
            sequencer=_sequencer(data),
        )
    except KeyError as exc:
        raise ProfileError(f"missing key {exc.args[0]!r}") from exc


def _log_range(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ProfileError(f"log_range_blocks: {raw!r} is not a whole number of blocks of at least 1")
    return raw


def _prices(data: dict[str, Any]) -> dict[str, tuple[PriceSource, ...]]:
    """[prices] SYMBOL = [ {source = ...}, ... ], plus each [feeds] SYMBOL = "0x..." not listed there (the
    shorthand for one Chainlink feed with the default heartbeat and no description check)."""
    raw = data.get("prices", {})
    if not isinstance(raw, dict):
        raise ProfileError("prices: a table of SYMBOL = [sources]")
    try:
        prices = {str(k): parse_sources(str(k), v, f"prices.{k}") for k, v in raw.items()}
    except SourceConfigError as exc:
        raise ProfileError(str(exc)) from exc
    for symbol, feed in data.get("feeds", {}).items():
        prices.setdefault(str(symbol), (Chainlink(str(symbol), _addr(feed, f"feeds.{symbol}")),))
    return prices


def _chainlink_feeds(data: dict[str, Any], prices: dict[str, tuple[PriceSource, ...]]) -> dict[str, str]:
    """Each symbol's first Chainlink feed: `Profile.feeds`, what the devnet's operator moves."""
    feeds = {str(k): _addr(v, f"feeds.{k}") for k, v in data.get("feeds", {}).items()}
    for symbol, sources in prices.items():
        first = next((s for s in sources if isinstance(s, Chainlink)), None)
        if first is not None and symbol not in feeds:
            feeds[symbol] = first.feed
    return feeds


def _pyth(data: dict[str, Any]) -> PythRef | None:
    raw = data.get("pyth")
    if raw is None:
        return None
    try:
        timeout = float(raw.get("timeout_seconds", 3))
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"pyth.timeout_seconds: {raw.get('timeout_seconds')!r} is not a number") from exc
    if not 0 < timeout <= 60:
        raise ProfileError("pyth.timeout_seconds must be above 0 and at most 60")
    return PythRef(str(raw.get("hermes_url", PythRef.hermes_url)), timeout, str(raw.get("api_key_env", PythRef.api_key_env)))


def _sequencer(data: dict[str, Any]) -> SequencerRef | None:
    raw = data.get("sequencer")
    if raw is None:
        return None
    if "feed" not in raw:
        raise ProfileError("sequencer: missing feed")
    grace = raw.get("grace_seconds", 3600)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise ProfileError(f"sequencer.grace_seconds must be a whole number of seconds, not {grace!r}")
    return SequencerRef(_addr(raw["feed"], "sequencer.feed"), grace)


def _path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ProfileError(f"no chain profile at {path}")
    return path


def load_profile(name_or_path: str | Path, overrides: Sequence[Path] = ()) -> Profile:
    """Load a shipped profile by name (`base`) or any profile file by path, with `overrides` layered over it."""
    return parse_profile(load_profile_data(name_or_path, overrides))


def load_profiles(name_or_path: str | Path, home: Path | None = None, override: Path | None = None) -> tuple[Profile, ...]:
    """The home profile, then each of its companions (paths relative to the home profile's file). Every index
    symbol must be unique across them all. Each profile gets its operator overrides (`override_paths`)."""
    path = _path(name_or_path)
    home_profile = load_profile(path, override_paths(path, home, override))
    profiles = (home_profile, *(load_profile(path.parent / rel, override_paths(path.parent / rel, home))
                                for rel in home_profile.companions))
    symbols = [ref.symbol for prof in profiles for ref in prof.indexes]
    clash = sorted({s for s in symbols if symbols.count(s) > 1})
    if clash:
        raise ProfileError(f"index symbols listed on more than one chain: {', '.join(clash)}")
    return profiles


# -- operator overrides ----------------------------------------------------------------------------------
# An operator changes any entry of a shipped profile without editing it: a TOML file layered over it, either
# $INDEXBOT_HOME/profiles/<profile name>.toml or the file INDEXBOT_PROFILE_OVERRIDE names (that one last).
# Tables are merged key by key; an array of tables (`[[indexes]]`, `[[lp_tokens]]`) is matched entry by entry
# on `symbol`, else `address` (an entry that matches nothing is added); any other value replaces the shipped
# one, arrays included (`BTC = [...]` in [prices] replaces BTC's sources).

MATCH_KEYS = ("symbol", "address")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None


def _same(key: str, a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower() if key == "address" else a == b


def _merge_tables(shipped: list[Any], over: list[dict[str, Any]], where: str) -> list[Any]:
    out = list(shipped)
    for i, entry in enumerate(over):
        key = next((k for k in MATCH_KEYS if k in entry), None)
        if key is None:
            raise ProfileError(f"{where}[{i}]: an override entry must name `symbol` or `address` to say which entry it changes")
        at = next((j for j, old in enumerate(out) if isinstance(old, dict) and key in old and _same(key, old[key], entry[key])), None)
        if at is None:
            out.append(entry)
        else:
            out[at] = merge_profile_data(out[at], entry, f"{where}[{at}]")
    return out


def merge_profile_data(shipped: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`over` layered over `shipped` (neither is changed): see the rules above."""
    out = dict(shipped)
    for key, value in over.items():
        at = f"{where}.{key}" if where else key
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge_profile_data(old, value, at)
        elif (isinstance(old, list) and isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
              and any(isinstance(o, dict) and any(k in o for k in MATCH_KEYS) for o in old)):
            out[key] = _merge_tables(old, value, at)
        else:
            out[key] = value
    return out


def override_paths(profile_path: Path, home: Path | None, override: Path | None = None) -> list[Path]:
    """The override files that apply to the profile at `profile_path`: $INDEXBOT_HOME/profiles/<its name>.toml
    when it exists, then `override` (INDEXBOT_PROFILE_OVERRIDE), which must exist."""
    paths = []
    if home is not None:
        name = str(_read_toml(profile_path).get("name", profile_path.stem))
        candidate = Path(home) / "profiles" / f"{name}.toml"
        if candidate.is_file() and candidate.resolve() != profile_path.resolve():
            paths.append(candidate)
    if override is not None:
        if not Path(override).is_file():
            raise ProfileError(f"INDEXBOT_PROFILE_OVERRIDE names {override}, which is not a file")
        paths.append(Path(override))
    return paths


def profile_file(name_or_path: str | Path) -> Path:
    """The file a profile name (`base`) or path stands for; ProfileError when there is none."""
    return _path(name_or_path)


def load_profile_data(name_or_path: str | Path, overrides: Sequence[Path] = ()) -> dict[str, Any]:
    """The profile's TOML as a dict, each override merged over it in order (what `parse_profile` reads)."""
    data = _read_toml(_path(name_or_path))
    for path in overrides:
        data = merge_profile_data(data, _read_toml(Path(path)))
    return data


def _stake_factory(data: dict[str, Any]) -> str | None:
    table = data.get("stake_factory")
    if table is None:
        return None
    if not isinstance(table, dict) or "address" not in table:
        raise ProfileError("stake_factory: a table with `address`")
    return _addr(table["address"], "stake_factory.address")
