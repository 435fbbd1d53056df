"""Logging set-up: secrets never reach a log line, at any level.

Three layers keep them out:
- third-party loggers (THIRD_PARTY) are capped at INFO whatever the level: at DEBUG, python-telegram-bot logs
  every update and every request payload (an exported key, a PIN), web3 every RPC URL (with its API key);
  the noisiest HTTP loggers (QUIET) are capped at WARNING. The handler drops their records below the cap too,
  so a library that sets a child logger's level itself cannot lift it;
- every configured secret (tokens, the master key, keyed RPC and proxy URLs and the keys inside them) is
  replaced by *** in whatever a record would print, message, traceback and stack alike;
- payloads that can carry secrets are scrubbed by shape, whoever logged them: anything shaped like a private
  key (64 hex digits, with or without 0x), the text of a message or reply in a Bot API payload or a Discord
  event (a message's content, a slash command's option values, an interaction's token), and the
  arguments of the commands that carry a key or a PIN (/pin, /wallet, /withdraw; !pin … on Discord). A transaction hash has a
  key's shape: the hashes of the transactions the bot signed itself (the keccak of the signed bytes, never
  anything a user or a node handed in) are registered with `public_hash` and stay readable, so an operator can
  follow a trade in the log; any other 64-hex string goes.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from bot.storage.private import private_file

# Capped at INFO whatever INDEXBOT_LOG_LEVEL says: their DEBUG lines are request and update payloads.
THIRD_PARTY = ("telegram", "discord", "httpx", "httpcore", "web3", "aiosqlite", "apscheduler", "aiohttp", "urllib3",
               "eth_account", "eth_utils", "hpack", "sqlalchemy", "alembic", "psycopg")
# Capped at WARNING: a line per request at INFO (httpx logs every request URL, which holds the bot token; Alembic
# logs its set-up at every start, SQLAlchemy's engine logger every statement with its parameters).
QUIET = ("httpx", "httpcore", "aiohttp.access", "web3.providers", "discord.gateway", "alembic", "sqlalchemy")

KEY_SHAPE = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9A-Za-z])")
# "text": "..." / 'text': '...' (a Bot API payload or an update, as JSON or a Python repr; a Discord gateway event's
# message `content`, a slash command option's `value`, an interaction's `token`), and form-encoded text=...
TEXT_FIELD = re.compile(r"""(?P<key>(?P<q>["'])(?:text|caption|query|content|value|token)(?P=q)\s*:\s*)"""
                        r"""(?P<v>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
FORM_TEXT = re.compile(r"(?<![A-Za-z_])(text|caption)=[^&\s'\"]*")
SECRET_COMMAND = re.compile(r"([/!](?:pin|withdraw)(?:@\w+)?|[/!]wallet(?:@\w+)?[ \t]+(?:import|export))(?:[ \t]+[^\s'\"\\,}]+)+",
                            re.IGNORECASE)
REDACTED_KEY = "<64 hex redacted>"
PUBLIC_HASHES_KEPT = 65_536  # the most recent transaction hashes the bot signed, shown in logs

# The logging set-up is process-wide (the logging module's handlers are), and so is this registry of what it may
# show: the hashes of transactions this process signed or read back from its own signed rows.
_public: OrderedDict[str, None] = OrderedDict()


def public_hash(tx_hash: str) -> None:
    """Let the hash of a transaction the bot signed (keccak of its signed bytes) through the key-shape scrub."""
    key = tx_hash.lower().removeprefix("0x")
    _public[key] = None
    _public.move_to_end(key)
    while len(_public) > PUBLIC_HASHES_KEPT:
        _public.popitem(last=False)


def _key_shaped(match: re.Match[str]) -> str:
    return match[0] if match[0].lower().removeprefix("0x") in _public else REDACTED_KEY


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the configured `secrets` (longest first) and without anything shaped like a secret."""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = TEXT_FIELD.sub(lambda m: f"{m['key']}{m['v'][0]}***{m['v'][0]}", text)
    text = FORM_TEXT.sub(r"\1=***", text)
    text = SECRET_COMMAND.sub(r"\1 ***", text)
    return KEY_SHAPE.sub(_key_shaped, text)


class RedactSecrets(logging.Filter):
    """On a handler: rewrites each record so that whatever it prints has been through `scrub`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({*self._secrets, *(s for s in secrets if s)}, key=len, reverse=True)  # a URL before its key

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed call (wrong number of arguments): keep its parts, scrubbed
            text = f"{record.msg} {record.args!r}"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = scrub(text, self._secrets), None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self._secrets)
        return True


def redact_more(secrets: Iterable[str]) -> None:
    """Secrets learned after the logging set-up (a chain profile's keyed RPC URLs), hidden from here on by every
    redacting handler."""
    secrets = list(secrets)
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactSecrets):
                found.add(secrets)


class CapThirdParty(logging.Filter):
    """On a handler: drops a third-party record below its cap, whatever level its own logger was given."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= cap(record.name, self._level)


def cap(name: str, level: int) -> int:
    """The lowest level a record of logger `name` is written at, when the bot logs at `level`."""
    def under(prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    if under(QUIET):
        return max(level, logging.WARNING)
    if under(THIRD_PARTY):
        return max(level, logging.INFO)
    return level


def setup_logging(level: int, secrets: Iterable[str], file: Path | None = None) -> None:
    """Log records at `level` and above to stderr, or to `file` (the terminal chat: its conversation is the
    terminal, so warnings go to a file beside the database; rotated at 5 MB, three kept, readable by the
    owner only)."""
    handler: logging.Handler
    if file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        private_file(file)
        handler = logging.handlers.RotatingFileHandler(file, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(CapThirdParty(level))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in (*THIRD_PARTY, *QUIET):
        logging.getLogger(name).setLevel(cap(name, level))
