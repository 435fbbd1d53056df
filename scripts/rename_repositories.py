"""One naming scheme for the storage repositories: each class that reads and writes a table is `<Thing>Rows`
(as AlertSettingsRows, OutboxRows, OrderRows, AnnouncementRows, PriceAlertRows, RebalanceRows and PurgeRows
already were). Re-runnable and idempotent: it renames Python NAME tokens (and whole words in comments) by the
table below in every .py file of the project, so it can be run again on a merged tree.

    python scripts/rename_repositories.py [root]
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

RENAMES = {
    "Users": "UserRows",
    "Buttons": "ButtonRows",
    "Wallets": "WalletRows",
    "Pins": "PinRows",
    "SealedKeys": "SealedKeyRows",
    "Settings": "SettingsRows",
    "PendingDeletions": "PendingDeletionRows",
    "DcaPlans": "DcaPlanRows",
    "ConnectedAddresses": "ConnectedAddressRows",
    "ConnectLinks": "ConnectLinkRows",
    "SigningLinks": "SigningLinkRows",
    "CooldownWatches": "CooldownWatchRows",
    "LastFreshPrices": "LastFreshPriceRows",
    "Intents": "IntentRows",
}
PACKAGES = ("bot", "handlers", "wallets", "tests", "bench", "devnet", "scripts")
_QUOTED = re.compile(r"(?<=`)(" + "|".join(RENAMES) + r")\b")  # `Users` or `Users.seen` in a comment


def rename(source: str) -> str:
    """The source with every NAME token in RENAMES renamed (never an attribute of something else, such as
    `discord.Intents`), and those names quoted in comments; strings untouched."""
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # (row, start col, end col, new text)
    previous = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        dotted = previous is not None and previous.type == tokenize.OP and previous.string == "."
        if tok.type == tokenize.NAME and tok.string in RENAMES and not dotted:
            edits.append((tok.start[0], tok.start[1], tok.end[1], RENAMES[tok.string]))
        elif tok.type == tokenize.COMMENT and _QUOTED.search(tok.string):
            edits.append((tok.start[0], tok.start[1], tok.end[1], _QUOTED.sub(lambda m: RENAMES[m.group(1)], tok.string)))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = tok
    for row, start, end, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


def main(root: Path) -> int:
    changed = 0
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.resolve() == Path(__file__).resolve():
                continue
            before = path.read_text()
            after = rename(before)
            if after != before:
                path.write_text(after)
                changed += 1
    print(f"rename_repositories: {changed} files changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
