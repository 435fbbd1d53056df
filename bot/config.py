"""Configuration: environment variables, optionally layered over a TOML file named by INDEXBOT_CONFIG.

Tokens are secrets: they come only from the environment (TELEGRAM_BOT_TOKEN) or from a file the environment
names (TELEGRAM_BOT_TOKEN_FILE), never from the TOML file, and `redacted()` (what `indexbot config` prints)
never shows them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.market import MarketSettings
from bot.services import Limits

SECRET_NAMES = ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN")


class ConfigError(ValueError):
    pass


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
class Config:
    home: Path
    chain: str | None  # profile name or path; None = start the embedded devnet
    rpc_urls: tuple[str, ...] = ()  # overrides the profile's RPC URLs
    database: Path | None = None
    telegram_token: Secret | None = None
    telegram_api_url: str | None = None
    discord_token: Secret | None = None
    discord_guild_id: int | None = None
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)
    market: MarketSettings = field(default_factory=MarketSettings)

    @property
    def database_path(self) -> Path:
        return self.database or self.home / "indexbot.sqlite3"

    def redacted(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = "***"
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


def load_config(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    file_values: dict[str, Any] = {}
    if env.get("INDEXBOT_CONFIG"):
        try:
            with open(env["INDEXBOT_CONFIG"], "rb") as fh:
                file_values = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read INDEXBOT_CONFIG: {exc}") from None
        leaked = [k for k in file_values if k.upper() in SECRET_NAMES or "token" in k.lower()]
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
    return Config(
        home=Path(pick("INDEXBOT_HOME", "home") or ".indexbot"),
        chain=pick("INDEXBOT_CHAIN", "chain") or None,
        rpc_urls=tuple(rpc),
        database=Path(db) if db else None,
        telegram_token=_secret(env, "TELEGRAM_BOT_TOKEN"),
        telegram_api_url=pick("TELEGRAM_API_URL", "telegram_api_url") or None,
        discord_token=_secret(env, "DISCORD_BOT_TOKEN"),
        discord_guild_id=int(guild) if guild else None,
        log_level=str(pick("INDEXBOT_LOG_LEVEL", "log_level") or "INFO").upper(),
        limits=limits,
        market=market,
    )
