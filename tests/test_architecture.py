"""The core knows nothing of chat: no module outside bot/adapters imports telegram or discord."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ["bot", "handlers", "wallets", "devnet"]
PLATFORMS = {"telegram", "discord"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_and_handlers_import_no_chat_platform() -> None:
    offenders = []
    scanned = 0
    for package in CORE:
        for path in (ROOT / package).rglob("*.py"):
            if "adapters" in path.parts:
                continue
            scanned += 1
            if _imports(path) & PLATFORMS:
                offenders.append(str(path.relative_to(ROOT)))
    assert scanned > 15
    assert offenders == []


def test_handlers_hold_no_sql() -> None:
    for path in (ROOT / "handlers").rglob("*.py"):
        text = path.read_text().upper()
        assert "SELECT " not in text and "INSERT " not in text and "UPDATE " not in text, path
