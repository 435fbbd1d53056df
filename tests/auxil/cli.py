"""`indexbot` run as a process: the environment a test gives it, and numbers read from what it printed."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from decimal import Decimal
from pathlib import Path

from bot.config import Config
from auxil.postgres import PROCESS_CONNECTIONS


def environment(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any INDEXBOT_/TELEGRAM_/DISCORD_ setting, with `home` as the bot's home,
    its web pages on a free port, at most PROCESS_CONNECTIONS PostgreSQL connections, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    env.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", INDEXBOT_DATABASE_CONNECTIONS=str(PROCESS_CONNECTIONS),
               **extra)
    return env


def database_env(config: Config) -> dict[str, str]:
    """The variables that give a process the database of the bot `config` describes: its SQLite file, or its URL
    when the test runs the bots on PostgreSQL (INDEXBOT_TEST_ENGINE)."""
    if config.database_url:
        return {"INDEXBOT_DATABASE_URL": config.database_url}
    return {"INDEXBOT_DB": str(config.database_path)}


def number(pattern: str, text: str) -> Decimal:
    """The number `pattern`'s first group finds in `text` (thousands separators dropped)."""
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return Decimal(found.group(1).replace(",", ""))


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports free now (bound together, then released: each process started after binds its own)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def stderr_until(proc: subprocess.Popen[str], text: str, timeout: float = 90.0) -> list[str]:
    """`proc`'s stderr lines, read until one holds `text`; a process that exits first fails, with what it said."""
    assert proc.stderr is not None
    seen: list[str] = []
    while not any(text in line for line in seen):
        line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), timeout)
        assert line, "".join(seen)  # it exited instead
        seen.append(line)
    return seen
