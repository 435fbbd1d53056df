"""Who may announce to everyone, and where every announcement also goes: `[moderators]` and `[announce]`.

```toml
[moderators]
telegram = [123456789]          # Telegram user ids
discord = [940000000000000001]  # Discord user ids
discord_roles = [950000000000000001]  # members with one of these roles moderate their own server

[announce]
telegram_chats = [-1001234567890]  # groups and channels every announcement also goes to
discord_channels = [920000000000000001]
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class AnnounceConfigError(ValueError):
    pass


@dataclass(frozen=True)
class AnnounceConfig:
    telegram_moderators: frozenset[str] = frozenset()
    discord_moderators: frozenset[str] = frozenset()
    discord_roles: frozenset[str] = frozenset()
    telegram_chats: tuple[str, ...] = ()
    discord_channels: tuple[str, ...] = ()

    def is_moderator(self, platform: str, platform_user_id: str) -> bool:
        """A configured moderator: announces to every subscriber on every platform."""
        ids = {"telegram": self.telegram_moderators, "discord": self.discord_moderators}.get(platform, frozenset())
        return platform_user_id in ids

    @property
    def chats(self) -> list[tuple[str, str]]:
        """(platform, chat id) of every configured group and channel."""
        return [("telegram", c) for c in self.telegram_chats] + [("discord", c) for c in self.discord_channels]


def _ids(table: Mapping[str, Any], key: str, section: str) -> tuple[str, ...]:
    raw = table.get(key, [])
    if not isinstance(raw, list):
        raise AnnounceConfigError(f"[{section}] {key} must be a list of ids, got {raw!r}")
    ids = []
    for value in raw:
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.lstrip("-").isdigit()):
            raise AnnounceConfigError(f"[{section}] {key}: {value!r} is not a numeric id")
        ids.append(str(int(text)))
    return tuple(ids)


def parse_announce(moderators: Mapping[str, Any], announce: Mapping[str, Any]) -> AnnounceConfig:
    """The `[moderators]` and `[announce]` tables; unknown keys and non-numeric ids are refused."""
    for section, table, known in (("moderators", moderators, {"telegram", "discord", "discord_roles"}),
                                  ("announce", announce, {"telegram_chats", "discord_channels"})):
        unknown = sorted(set(table) - known)
        if unknown:
            raise AnnounceConfigError(f"[{section}] has unknown keys {unknown}; known: {sorted(known)}")
    return AnnounceConfig(
        telegram_moderators=frozenset(_ids(moderators, "telegram", "moderators")),
        discord_moderators=frozenset(_ids(moderators, "discord", "moderators")),
        discord_roles=frozenset(_ids(moderators, "discord_roles", "moderators")),
        telegram_chats=_ids(announce, "telegram_chats", "announce"),
        discord_channels=_ids(announce, "discord_channels", "announce"),
    )
