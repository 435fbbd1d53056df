"""Long answers in pieces a platform accepts: Telegram's 4,096 characters a message, Discord's 2,000.

Cut on line boundaries so no line (and so no markup, which the catalogs keep within a line) is split; a single
line longer than the limit is cut at the limit.
"""

from __future__ import annotations

TELEGRAM_MAX_CHARS = 4096
DISCORD_MAX_CHARS = 2000


def split_lines(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut after whole lines where it can be; one piece when it fits."""
    lines = [line[i : i + limit] for line in text.split("\n") for i in range(0, max(len(line), 1), limit)]
    parts = [""]
    for line in lines:
        if parts[-1] and len(parts[-1]) + 1 + len(line) > limit:
            parts.append(line)
        else:
            parts[-1] = f"{parts[-1]}\n{line}" if parts[-1] else line
    return parts
