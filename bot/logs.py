"""Logging set-up: secrets never reach a log line.

Telegram puts the bot token in every request URL, and HTTP client libraries log URLs. Two layers keep it
out: noisy HTTP loggers are raised to WARNING, and a filter on the handler replaces every configured secret
with *** in whatever a record would print, whichever library emitted it.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterable
from pathlib import Path

QUIET = ("httpx", "httpcore", "aiohttp.access", "web3.providers", "discord.gateway")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            text = text.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = text, None
        return True


def setup_logging(level: int, secrets: Iterable[str], file: Path | None = None) -> None:
    """Log records at `level` and above to stderr, or to `file` (the terminal chat: its conversation is the
    terminal, so warnings go to a file beside the database; rotated at 5 MB, three kept)."""
    handler: logging.Handler
    if file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(file, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
