"""Configuration: environment variables, optionally layered over a TOML file named by INDEXBOT_CONFIG.

Tokens and the wallets' master key are secrets: they come only from the environment (TELEGRAM_BOT_TOKEN,
INDEXBOT_MASTER_KEY) or from a file the environment names (TELEGRAM_BOT_TOKEN_FILE, INDEXBOT_MASTER_KEY_FILE),
never from the TOML file, and `redacted()` (what `indexbot config` prints) never shows them. So are previous
master keys (INDEXBOT_MASTER_KEY_PREVIOUS[_FILE]: several, comma-separated or one per line), kept after a
rotation until `indexbot keys rotate` has re-sealed what they sealed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.delivery.announce.config import AnnounceConfig, AnnounceConfigError, parse_announce
from bot.delivery.housekeeping import Retention, RetentionConfigError, parse_retention
from bot.delivery.alerts.config import AlertsConfig, AlertsConfigError, parse_alerts
from bot.points.boost import BoostConfigError, BoostTable, parse_boost
from bot.market.quotes import MarketSettings
from bot.points.config import PointsConfig, PointsConfigError, parse_points
from bot.services import Limits
from bot.storage.db import CONNECTIONS
from bot.trading.ports import TradeSettings
from wallets.keystore import MasterKey, MasterKeyError

SECRET_NAMES = ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "INDEXBOT_MASTER_KEY", "INDEXBOT_MASTER_KEY_PREVIOUS",
                "TELEGRAM_WEBHOOK_SECRET")
# The proxies the HTTP clients take from the environment (python-telegram-bot's httpx does): shown redacted.
PROXY_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")
MIN_SECRET_PIECE = 6  # shorter pieces of a URL are not replaced on their own in logs (the whole URL still is)


class ConfigError(ValueError):
    pass


_PLAIN_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,11}")


def _plain(segment: str) -> bool:
    return not segment or (_PLAIN_SEGMENT.fullmatch(segment) is not None and sum(c.isdigit() for c in segment) <= 2)


def redact_url(url: str) -> str:
    """An RPC (or any service) URL safe to print: no user or password, no query or fragment, and every path
    segment that could be a key (`/v2/<key>`, `/<token>/`) replaced by `***`; scheme, host, port and short plain
    segments (`/v2`, `/rpc`) stay."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not parts.hostname:
        return "***"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # an IPv6 address keeps its brackets
    path = "/".join(s if _plain(s) else "***" for s in parts.path.split("/"))
    return (f"{parts.scheme}://{host}{f':{port}' if port else ''}{path}"
            f"{'?***' if parts.query else ''}{'#***' if parts.fragment else ''}")


_SECRET_QUERY = ("pass", "key", "secret", "token")


def database_secrets(url: str) -> list[str]:
    """What a database URL hides: its password and any query value named like a secret (libpq takes
    `?password=`, `?sslpassword=`)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: the whole of it is the secret
        return [url]
    values = [v for k, vs in parsed.query.items() if any(w in k.lower() for w in _SECRET_QUERY)
              for v in ((vs,) if isinstance(vs, str) else vs)]
    return [x for x in (parsed.password, *values) if x]


def shown_database(url: str) -> str:
    """A database URL as a message may show it: user, host, port and database name stay (an operator needs
    them), the password and secret-named query values become ***."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        return "***"
    query = {k: "***" if any(w in k.lower() for w in _SECRET_QUERY) else v for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


def url_secrets(url: str) -> list[str]:
    """What `redact_url` hides in `url`, for the log filter: the URL itself when anything is hidden, and each
    hidden piece long enough to stand on its own (a password, a query value, a key in the path), so that the
    key is hidden too where a library prints the URL in another shape (without its query, percent-decoded)."""
    if redact_url(url) == url:
        return []
    found = [url]
    try:
        parts = urlsplit(url)
        pieces = [parts.password or "", parts.query, parts.fragment, *(v for _, v in parse_qsl(parts.query))]
        if parts.username and not _plain(parts.username):
            pieces.append(parts.username)
        pieces += [s for s in parts.path.split("/") if not _plain(s)]
    except ValueError:
        return found
    return found + [p for p in dict.fromkeys(pieces) if len(p) >= MIN_SECRET_PIECE]


@dataclass(frozen=True)
class WebSettings:
    """The bot's own web pages (connect and signing pages for connected wallets)."""

    host: str = "127.0.0.1"  # INDEXBOT_WEB_HOST
    port: int | None = None  # INDEXBOT_WEB_PORT; 0 = any free port; unset: 8080, or any free port on the embedded devnet
    public_url: str | None = None  # INDEXBOT_PUBLIC_URL, what users open; default http://127.0.0.1:<port>
    signing_link_seconds: int = 600  # INDEXBOT_SIGNING_LINK_SECONDS: how long a trade's signing link works
    metrics_port: int | None = None  # INDEXBOT_METRICS_PORT: /metrics on 127.0.0.1 (web/ops.py); unset: none


@dataclass(frozen=True)
class TelegramLimits:
    """Telegram's flood limits the bot keeps to (bot/frontends/adapters/telegram_limits.py); [telegram] in the TOML file.

    `scale` multiplies every rate (a time-scaled emulator in tests and benches keeps the ratios): 10 means
    300 messages/s overall, 10 a second per private chat, 200 a minute per group.
    """

    per_second: int = 30  # messages a second, all chats together
    per_chat_per_second: int = 1  # per private chat, replies included
    per_chat_burst: int = 3  # per private chat: how many may go at once after a quiet spell (Telegram allows short bursts)
    per_group_per_minute: int = 20  # per group or channel, everything
    scale: float = 1.0  # rate_scale


class Secret:
    """A value that never prints."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class DiscordShards:
    """Which gateway shards of the bot this process holds: `ids` of `count` (all of them when `ids` is None).
    Discord splits the bot's servers among `count` shards by server id; each shard is one gateway connection, and
    every shard must be held by exactly one process of the fleet (DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS)."""

    count: int
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Config:
    home: Path
    chain: str | None  # profile name or path; None = start the embedded devnet
    rpc_urls: tuple[str, ...] = ()  # overrides the profile's RPC URLs
    database: Path | None = None  # INDEXBOT_DB: the SQLite file (default $INDEXBOT_HOME/indexbot.sqlite3)
    database_url: str | None = None  # INDEXBOT_DATABASE_URL: postgresql://… (or sqlite:///…) instead of the file
    database_connections: int = CONNECTIONS  # INDEXBOT_DATABASE_CONNECTIONS: PostgreSQL connections this process opens at most
    telegram_token: Secret | None = None
    telegram_api_url: str | None = None
    discord_token: Secret | None = None
    discord_guild_id: int | None = None
    discord_shards: DiscordShards | None = None  # None: discord.py's one connection, as before sharding
    log_level: str = "INFO"
    master_key: Secret | None = None  # base64 of 32 bytes: encrypts custodial keys (wallets.keystore)
    previous_master_keys: tuple[Secret, ...] = ()  # still open what they sealed, until `indexbot keys rotate`
    limits: Limits = field(default_factory=Limits)
    market: MarketSettings = field(default_factory=MarketSettings)
    trading: TradeSettings = field(default_factory=TradeSettings)
    web: WebSettings = field(default_factory=WebSettings)
    telegram: TelegramLimits = field(default_factory=TelegramLimits)  # [telegram] in the TOML file
    boost: BoostTable = field(default_factory=BoostTable)  # [boost] in the TOML file (bot.points.boost)
    points: PointsConfig = field(default_factory=PointsConfig)  # [points] in the TOML file (bot.points.config)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # [alerts] in the TOML file (bot.delivery.alerts.config)
    announce: AnnounceConfig = field(default_factory=AnnounceConfig)  # [moderators] and [announce] (bot.delivery.announce.config)
    retention: Retention = field(default_factory=Retention)  # [retention]: how long unused rows are kept (bot.delivery.housekeeping)
    discord_invite_url: str | None = None  # the server invite /invite shares on Discord, with the user's code
    failpoint: str | None = None  # INDEXBOT_FAILPOINT: fault tests only (bot.trading.failpoints)
    issuance_watch_seconds: float = 2.0  # [issuance] watch_seconds: how often pending factory orders are checked
    limits_max_open: int = 20  # [orders] max_open: open limit / stop / take-profit orders per user
    transfers_seconds: int = 300  # [portfolio] transfers_seconds: how often transfer detection sweeps every wallet
    profile_override: Path | None = None  # INDEXBOT_PROFILE_OVERRIDE: a TOML layered over the chain profile (bot.chain.profile)
    log_range_blocks: int | None = None  # INDEXBOT_LOG_RANGE_BLOCKS: most blocks per eth_getLogs, over the home profile's
    proxies: tuple[tuple[str, str], ...] = ()  # (name, URL) of each proxy variable set in the environment (PROXY_NAMES)
    prompt_seconds: int = 300  # INDEXBOT_PROMPT_SECONDS: how long a question (an amount, an address, a PIN) waits for its answer
    # Telegram by webhook (bot.frontends.web.telegram_webhook) instead of long polling, when the URL is set
    telegram_webhook_url: str | None = None  # TELEGRAM_WEBHOOK_URL: what Telegram posts to (the TLS proxy's URL)
    telegram_webhook_secret: Secret | None = None  # TELEGRAM_WEBHOOK_SECRET: checked on every webhook request
    telegram_webhook_connections: int = 40  # TELEGRAM_WEBHOOK_MAX_CONNECTIONS: Telegram's parallel posts (1-100)

    @property
    def database_path(self) -> Path:
        return self.database or self.home / "indexbot.sqlite3"

    @property
    def database_where(self) -> str | Path:
        """What `Database.open` takes: the URL when one is set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def database_shown(self) -> str | Path:
        """The database as a message may name it (a URL's password and keys hidden)."""
        return shown_database(self.database_url) if self.database_url else self.database_path

    @property
    def urls(self) -> list[str]:
        """Every URL-valued setting: any of them can hold credentials (userinfo, a key in the query or path)."""
        shown = [self.telegram_api_url, self.web.public_url, self.discord_invite_url, self.telegram_webhook_url]
        return [*self.rpc_urls, *(u for _, u in self.proxies), *(u for u in shown if u)]

    @property
    def secrets(self) -> list[str]:
        """Every secret value, for the log filter."""
        tokens = [s.reveal() for s in (self.telegram_token, self.discord_token, self.master_key, *self.previous_master_keys,
                                       self.telegram_webhook_secret) if s is not None]
        database = database_secrets(self.database_url) if self.database_url else []
        return tokens + database + [x for url in self.urls for x in url_secrets(url)]  # RPC and proxy URLs: API keys

    def redacted(self) -> dict[str, Any]:
        """What `indexbot config` prints: secrets as ***, every URL through `redact_url`."""
        shown: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = "***"
            elif f.name == "previous_master_keys":
                value = ["***"] * len(value)
            elif f.name == "rpc_urls":
                value = tuple(redact_url(u) for u in value)
            elif f.name == "database_url" and value:
                value = shown_database(value)
            elif f.name == "proxies":
                value = {name: redact_url(url) for name, url in value}
            elif isinstance(value, str) and "://" in value:
                value = redact_url(value)
            elif isinstance(value, WebSettings):
                value = {g.name: redact_url(v) if isinstance(v := getattr(value, g.name), str) and "://" in v else v
                         for g in fields(value)}
            elif isinstance(value, (Limits, MarketSettings)):
                value = {g.name: str(getattr(value, g.name)) for g in fields(value)}
            elif value is not None and not isinstance(value, (str, int, tuple)):
                value = str(value)
            shown[f.name] = value
        return shown


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    if env.get(name):
        return Secret(env[name].strip())
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Secret(Path(path).read_text().strip())
        except OSError as exc:
            raise ConfigError(f"{name}_FILE names {path!r}, which cannot be read: {exc.strerror}") from None
    return None


def _master_keys(env: Mapping[str, str]) -> tuple[Secret | None, tuple[Secret, ...]]:
    """INDEXBOT_MASTER_KEY[_FILE], and the previous keys of INDEXBOT_MASTER_KEY_PREVIOUS and/or its _FILE (each
    comma-separated or one per line), every one checked to be base64 of 32 bytes (an error names which)."""
    name = "INDEXBOT_MASTER_KEY_PREVIOUS"
    current = _secret(env, "INDEXBOT_MASTER_KEY")
    texts = [env.get(name, "")]
    if env.get(f"{name}_FILE"):
        try:
            texts.append(Path(env[f"{name}_FILE"]).read_text())
        except OSError as exc:
            raise ConfigError(f"{name}_FILE names {env[f'{name}_FILE']!r}, which cannot be read: {exc.strerror}") from None
    previous = tuple(Secret(part.strip()) for text in texts for part in re.split(r"[,\n]", text) if part.strip())
    for label, key in [("INDEXBOT_MASTER_KEY", current)] + [(f"{name} (key {n} of {len(previous)})", k)
                                                             for n, k in enumerate(previous, 1)]:
        if key is not None:
            try:
                MasterKey.from_base64(key.reveal())
            except MasterKeyError as exc:
                raise ConfigError(f"{label}: {exc} (make one with: openssl rand -base64 32)") from None
    return current, previous


def load_config(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    file_values: dict[str, Any] = {}
    if env.get("INDEXBOT_CONFIG"):
        try:
            with open(env["INDEXBOT_CONFIG"], "rb") as fh:
                file_values = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read INDEXBOT_CONFIG: {exc}") from None
        leaked = [
            k for k in file_values
            if k.upper() in SECRET_NAMES or f"INDEXBOT_{k.upper()}" in SECRET_NAMES or "token" in k.lower() or "key" in k.lower()
        ]
        if leaked:
            raise ConfigError(f"secrets do not belong in the config file ({', '.join(leaked)}); use the environment")

    def pick(env_name: str, key: str) -> Any:
        return env.get(env_name) or file_values.get(key)

    rpc = pick("INDEXBOT_RPC_URLS", "rpc_urls") or ()
    if isinstance(rpc, str):
        rpc = tuple(u.strip() for u in rpc.split(",") if u.strip())
    guild = pick("DISCORD_GUILD_ID", "discord_guild_id")
    limits = Limits(**{k: Decimal(str(v)) for k, v in file_values.get("limits", {}).items()})
    market = MarketSettings(**{k: int(v) for k, v in file_values.get("market", {}).items()})
    db = pick("INDEXBOT_DB", "database")
    master_key, previous_master_keys = _master_keys(env)
    web = _web_settings(pick)
    telegram = _telegram_limits(file_values.get("telegram", {}), env.get("INDEXBOT_TELEGRAM_RATE_SCALE"))
    try:
        boost = parse_boost(file_values.get("boost", {}))
        points = parse_points(file_values.get("points", {}))
        alerts = parse_alerts(file_values.get("alerts", {}))
        announce = parse_announce(file_values.get("moderators", {}), file_values.get("announce", {}))
        retention = parse_retention(file_values.get("retention", {}))
    except (BoostConfigError, PointsConfigError, AnnounceConfigError, AlertsConfigError, RetentionConfigError) as exc:
        raise ConfigError(str(exc)) from None
    return Config(
        home=Path(pick("INDEXBOT_HOME", "home") or ".indexbot"),
        chain=pick("INDEXBOT_CHAIN", "chain") or None,
        rpc_urls=tuple(rpc),
        database=Path(db) if db else None,
        database_url=pick("INDEXBOT_DATABASE_URL", "database_url") or None,
        database_connections=_database_connections(pick("INDEXBOT_DATABASE_CONNECTIONS", "database_connections")),
        telegram_token=_secret(env, "TELEGRAM_BOT_TOKEN"),
        telegram_api_url=pick("TELEGRAM_API_URL", "telegram_api_url") or None,
        discord_token=_secret(env, "DISCORD_BOT_TOKEN"),
        discord_guild_id=int(guild) if guild else None,
        discord_shards=discord_shards(pick("DISCORD_SHARD_COUNT", "discord_shard_count"),
                                      pick("DISCORD_SHARD_IDS", "discord_shard_ids")),
        log_level=str(pick("INDEXBOT_LOG_LEVEL", "log_level") or "INFO").upper(),
        limits=limits,
        market=market,
        master_key=master_key,
        previous_master_keys=previous_master_keys,
        web=web,
        telegram=telegram,
        boost=boost,
        points=points,
        alerts=alerts,
        announce=announce,
        retention=retention,
        discord_invite_url=pick("DISCORD_INVITE_URL", "discord_invite_url") or None,
        failpoint=env.get("INDEXBOT_FAILPOINT") or None,
        issuance_watch_seconds=_positive(file_values.get("issuance", {}).get("watch_seconds", 2.0), "issuance.watch_seconds"),
        limits_max_open=_max_open(file_values.get("orders", {}).get("max_open", MAX_OPEN)),
        transfers_seconds=_transfers_seconds(file_values.get("portfolio", {}).get("transfers_seconds", TRANSFERS_SECONDS)),
        profile_override=_optional_path(pick("INDEXBOT_PROFILE_OVERRIDE", "profile_override")),
        log_range_blocks=_log_range_blocks(pick("INDEXBOT_LOG_RANGE_BLOCKS", "log_range_blocks")),
        proxies=tuple((name, env[name]) for name in PROXY_NAMES if env.get(name)),
        prompt_seconds=_prompt_seconds(pick("INDEXBOT_PROMPT_SECONDS", "prompt_seconds")),
        **_telegram_webhook(env, pick),
    )


def _optional_path(value: Any) -> Path | None:
    return Path(str(value)) if value else None


def discord_shards(count_raw: Any, ids_raw: Any) -> DiscordShards | None:
    """DISCORD_SHARD_COUNT (shards in all, at least 1) and DISCORD_SHARD_IDS ("0,1": the ones this process holds,
    each below the count, none twice); ids without a count are refused, a count alone holds every shard."""
    count_text = "" if count_raw is None else str(count_raw).strip()
    if isinstance(ids_raw, list):  # discord_shard_ids = [0, 1] in the TOML file
        ids_raw = ",".join(str(i) for i in ids_raw)
    ids_text = "" if ids_raw is None else str(ids_raw).strip()
    if not count_text:
        if ids_text:
            raise ConfigError(f"DISCORD_SHARD_IDS={ids_text!r} needs DISCORD_SHARD_COUNT, the number of shards in all")
        return None
    try:
        count = int(count_text)
    except ValueError:
        raise ConfigError(f"DISCORD_SHARD_COUNT must be a whole number of shards, got {count_text!r}") from None
    if count < 1:
        raise ConfigError(f"DISCORD_SHARD_COUNT must be at least 1, got {count}")
    if not ids_text:
        return DiscordShards(count)
    try:
        ids = tuple(int(part) for part in ids_text.split(","))
    except ValueError:
        raise ConfigError(f"DISCORD_SHARD_IDS must be shard numbers separated by commas (e.g. 0,1), got {ids_text!r}") from None
    outside = [i for i in ids if not 0 <= i < count]
    if outside:
        raise ConfigError(f"DISCORD_SHARD_IDS: shard {outside[0]} does not exist; with DISCORD_SHARD_COUNT={count} "
                          f"the shards are 0 to {count - 1}")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(f"DISCORD_SHARD_IDS names shard {repeated[0]} more than once")
    return DiscordShards(count, ids)


PROMPT_SECONDS_RANGE = (30, 24 * 3600)


def _prompt_seconds(raw: Any) -> int:
    """How long a question waits for its answer: 5 minutes unless the operator says otherwise (30 s to a day)."""
    if raw is None or raw == "":
        return 300
    low, high = PROMPT_SECONDS_RANGE
    try:
        value = int(str(raw))
    except ValueError:
        raise ConfigError(f"INDEXBOT_PROMPT_SECONDS must be a whole number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"INDEXBOT_PROMPT_SECONDS must be between {low} and {high}, got {value}")
    return value


def _log_range_blocks(raw: Any) -> int | None:
    """The operator's eth_getLogs range (their provider's cap), or None to keep the profile's."""
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise ConfigError(f"INDEXBOT_LOG_RANGE_BLOCKS must be a whole number of blocks, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"INDEXBOT_LOG_RANGE_BLOCKS must be at least 1, got {value}")
    return value


def _database_connections(raw: Any) -> int:
    """INDEXBOT_DATABASE_CONNECTIONS: a whole number of connections (ASCII digits), 4 to 1000; 30 when unset. The
    fleet's processes together must stay under the server's max_connections (docs/deploy.md)."""
    if raw in (None, ""):
        return CONNECTIONS
    text = str(raw).strip()
    value = int(text) if text.isascii() and text.isdigit() else 0
    if not 4 <= value <= 1000:
        raise ConfigError(f"INDEXBOT_DATABASE_CONNECTIONS must be a whole number from 4 to 1000 (PostgreSQL "
                          f"connections this process opens at most), got {raw!r}")
    return value


MAX_OPEN = 20  # [orders] max_open's default
MAX_OPEN_RANGE = (1, 1000)


def _max_open(raw: Any) -> int:
    """[orders] max_open: open limit / stop / take-profit orders per user, a whole number from 1 to 1000 (TOML's
    integer, or its ASCII digits as a string); 20 when unset."""
    return _whole(raw, "[orders] max_open", MAX_OPEN_RANGE, "open limit, stop and take-profit orders per user")


TRANSFERS_SECONDS = 300  # [portfolio] transfers_seconds' default
TRANSFERS_SECONDS_RANGE = (30, 86_400)


def _transfers_seconds(raw: Any) -> int:
    """[portfolio] transfers_seconds: how often the `portfolio:transfers` job looks for transfers in and out of every
    live wallet, whole seconds from 30 to 86,400 (a day; TOML's integer, or its ASCII digits as a string); 300 when
    unset. The portfolio views and the daily digest look for their user's wallets themselves, whatever it is."""
    return _whole(raw, "[portfolio] transfers_seconds", TRANSFERS_SECONDS_RANGE,
                  "seconds between two sweeps of every wallet for transfers")


def _whole(raw: Any, name: str, bounds: tuple[int, int], meaning: str) -> int:
    """A whole number within `bounds` from the TOML file: an integer, or its ASCII digits as a string (never a bool,
    a float, or digits of another script); else a ConfigError naming the setting, the range, what it means and what
    it got."""
    text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
    value = int(text) if text.isascii() and text.isdigit() else 0
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high} ({meaning}), got {raw!r}")
    return value


def _positive(value: Any, key: str) -> float:
    try:
        number = float(value)  # a polling interval in seconds, not money
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {value!r} is not a number of seconds") from None
    if number <= 0:
        raise ConfigError(f"{key}: must be more than 0 seconds")
    return number


def _telegram_limits(table: Mapping[str, Any], scale_env: str | None) -> TelegramLimits:
    """[telegram] per_second, per_chat_per_second, per_chat_burst, per_group_per_minute, rate_scale
    (INDEXBOT_TELEGRAM_RATE_SCALE)."""
    names = {"per_second": "per_second", "per_chat_per_second": "per_chat_per_second", "per_chat_burst": "per_chat_burst",
             "per_group_per_minute": "per_group_per_minute", "rate_scale": "scale"}
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ConfigError(f"[telegram] does not know {', '.join(unknown)} (known: {', '.join(names)})")
    raw = {names[k]: v for k, v in table.items()}
    if scale_env:
        raw["scale"] = scale_env
    try:
        values: dict[str, Any] = {k: float(str(v)) if k == "scale" else int(str(v)) for k, v in raw.items()}
    except ValueError:
        raise ConfigError(f"[telegram] takes numbers, got {raw}") from None
    if any(v <= 0 for v in values.values()):
        raise ConfigError(f"[telegram] limits must be positive, got {raw}")
    return TelegramLimits(**values)


def _web_settings(pick: Any) -> WebSettings:
    def number(env_name: str, key: str, default: int, low: int, high: int) -> int:
        raw = pick(env_name, key)
        if raw is None or raw == "":
            return default
        try:
            value = int(str(raw))
        except ValueError:
            raise ConfigError(f"{env_name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{env_name} must be between {low} and {high}, got {value}")
        return value

    public = pick("INDEXBOT_PUBLIC_URL", "public_url")
    if public and not str(public).startswith(("http://", "https://")):
        raise ConfigError(f"INDEXBOT_PUBLIC_URL must start with http:// or https://, got {public!r}")
    return WebSettings(
        host=str(pick("INDEXBOT_WEB_HOST", "web_host") or "127.0.0.1"),
        port=None if pick("INDEXBOT_WEB_PORT", "web_port") in (None, "") else number("INDEXBOT_WEB_PORT", "web_port", 0, 0, 65535),
        public_url=str(public).rstrip("/") if public else None,
        signing_link_seconds=number("INDEXBOT_SIGNING_LINK_SECONDS", "signing_link_seconds", 600, 30, 24 * 3600),
        metrics_port=None if pick("INDEXBOT_METRICS_PORT", "metrics_port") in (None, "")
        else number("INDEXBOT_METRICS_PORT", "metrics_port", 0, 0, 65535),
    )


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _telegram_webhook(env: Mapping[str, str], pick: Any) -> dict[str, Any]:
    """TELEGRAM_WEBHOOK_URL, _SECRET (or _SECRET_FILE) and _MAX_CONNECTIONS, checked as Telegram's setWebhook would
    check them, so a typo stops the start-up with a line that says what is valid instead of a silent bot.

    The URL is https (Telegram posts only there), or http on a loopback host for a local Bot API server; its path is
    the route the bot serves, so it must name one. The secret is what Telegram sends back in
    X-Telegram-Bot-Api-Secret-Token: 1-256 of A-Z, a-z, 0-9, _ and -."""
    url = pick("TELEGRAM_WEBHOOK_URL", "telegram_webhook_url") or None
    secret = _secret(env, "TELEGRAM_WEBHOOK_SECRET")
    raw_connections = pick("TELEGRAM_WEBHOOK_MAX_CONNECTIONS", "telegram_webhook_max_connections")
    if url is None:
        if secret is not None:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET is set without TELEGRAM_WEBHOOK_URL: set the URL Telegram posts "
                              "to, or unset the secret to keep long polling")
        return {}
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or not host or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"TELEGRAM_WEBHOOK_URL must be an https URL with a path, without query, fragment or "
                          f"credentials (e.g. https://bot.example.com/telegram), got {redact_url(str(url))!r}")
    if not (parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)):
        raise ConfigError(f"TELEGRAM_WEBHOOK_URL must be https (http only on a loopback host, for a local Bot API "
                          f"server), got {redact_url(str(url))!r}")
    if parts.path.rstrip("/") == "":
        raise ConfigError(f"TELEGRAM_WEBHOOK_URL must name a path the bot serves (e.g. https://bot.example.com/telegram), "
                          f"got {redact_url(str(url))!r}")
    if secret is None:
        raise ConfigError("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET (or _FILE): 1-256 characters of "
                          "A-Z, a-z, 0-9, _ and - (e.g. from: openssl rand -hex 32)")
    if not _WEBHOOK_SECRET.fullmatch(secret.reveal()):
        raise ConfigError(f"TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                          f"(it has {len(secret.reveal())} characters, or others than those)")
    connections = 40
    if raw_connections not in (None, ""):
        try:
            connections = int(str(raw_connections))
        except ValueError:
            connections = 0
        if not 1 <= connections <= 100:
            raise ConfigError(f"TELEGRAM_WEBHOOK_MAX_CONNECTIONS must be a whole number from 1 to 100, got {raw_connections!r}")
    return {"telegram_webhook_url": str(url), "telegram_webhook_secret": secret,
            "telegram_webhook_connections": connections}
