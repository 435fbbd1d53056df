"""Telegram Mini App sign-in data (`initData`): checked before the user id in it is trusted.

Telegram hands a Mini App a query string (`auth_date`, `user` as JSON, `hash`, and more). The server checks it
as Telegram documents: the data-check-string is every field but `hash`, `key=value`, sorted by key, joined
with newlines; the secret key is HMAC-SHA256 of the bot token under the key "WebAppData"; `hash` must be the
hex HMAC-SHA256 of the data-check-string under that secret key. Data signed with another bot's token fails the
same way as forged data. `auth_date` older than `max_age` seconds (or more than a minute ahead) is refused.

`check` raises `UserError` with the reason's key (`error.miniapp.*`); it takes strings and numbers and knows
nothing of HTTP or of links: bot.frontends.web.miniapp applies it to a page's requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bot.core.errors import UserError
from bot.core.messages import Count

MAX_AGE = 600  # seconds: the data of a Mini App opened more than 10 minutes ago is refused
MAX_LENGTH = 4096  # Telegram's initData is about 500 characters; anything far longer is not Telegram's
FUTURE_SLACK = 60  # seconds a clock may be ahead


@dataclass(frozen=True)
class InitData:
    """What checked initData vouches for."""

    user_id: int  # the Telegram user who opened the Mini App
    auth_date: int
    hash: str  # the signature: what the replay guard remembers
    language: str | None = None  # the user's Telegram language (`language_code`), if Telegram sent it


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The `hash` Telegram would put on these fields (tests build genuine initData with it)."""
    return hmac.new(secret_key(bot_token), data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def check(raw: str, bot_token: str, now: float, max_age: int = MAX_AGE) -> InitData:
    """The user and moment `raw` vouches for; UserError('error.miniapp.signature') when it is malformed, forged or
    signed for another bot, 'error.miniapp.expired' when it is older than `max_age` seconds."""
    fields = _fields(raw)
    given = fields.get("hash", "")
    if not hmac.compare_digest(sign(fields, bot_token), given.lower()):
        raise UserError("error.miniapp.signature")
    try:
        auth_date = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id, language = user["id"], user.get("language_code")
    except (KeyError, ValueError, TypeError, AttributeError):
        raise UserError("error.miniapp.signature") from None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise UserError("error.miniapp.signature")
    if auth_date + max_age < now or auth_date > now + FUTURE_SLACK:
        raise UserError("error.miniapp.expired", count=Count(max_age // 60))
    return InitData(user_id, auth_date, given.lower(), language if isinstance(language, str) else None)


def _fields(raw: str) -> dict[str, str]:
    if not raw or len(raw) > MAX_LENGTH:
        raise UserError("error.miniapp.signature")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise UserError("error.miniapp.signature") from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields:  # a field twice: not what Telegram signs
        raise UserError("error.miniapp.signature")
    return fields
