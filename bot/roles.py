"""What one `indexbot run` process does in a fleet: `--role web|worker|sender|gateway|all` (comma-separated).

    gateway  takes updates from the platforms' connections: Telegram long polling (no webhook set), the Discord
             gateway (its shards)
    web      the HTTP server: the connect and signing pages, /healthz and /readyz, the Telegram webhook
    worker   does the work: updates taken from the job engine one chat at a time, timed jobs, trade follow-ups
    sender   the outbox sender: at most one active in a fleet (a PostgreSQL advisory lock), the others stand by
    all      every role in one process: the embedded default, and a small deployment

On the embedded default (SQLite, one process) only `all` makes sense: there is no engine to hand work to.
"""

from __future__ import annotations

from typing import Final

ROLES: Final = ("web", "worker", "sender", "gateway")
ALL: Final = frozenset(ROLES)


class RoleError(ValueError):
    """`--role` named something that is not a role."""


def parse_roles(text: str) -> frozenset[str]:
    """`web,worker` -> {"web", "worker"}; `all` -> every role. Unknown or empty names are refused with the valid ones."""
    names = [name.strip().lower() for name in text.split(",")]
    if names == ["all"]:
        return ALL
    unknown = [name for name in names if name not in ROLES]
    if unknown or not names:
        raise RoleError(f"unknown role {', '.join(repr(n) for n in unknown) or repr(text)}: "
                        f"use all, or any of {', '.join(ROLES)} separated by commas")
    return frozenset(names)
