"""The core knows nothing of chat: no module outside bot/frontends/adapters imports telegram or discord."""

import ast
from collections.abc import Collection
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


# -- transaction kinds: the trading core dispatches on none, and imports none ---------------------------------

def _contract(name_start: str) -> dict[str, object]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith(name_start))


def _kind_tests(path: Path, kinds: set[str]) -> list[str]:
    """Comparisons that test an intent's kind: `….kind in (…)`, `kind == "buy"`, `intent.kind in STAKE_KINDS`."""

    def is_kind(node: ast.expr) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "kind") or (isinstance(node, ast.Name) and node.id == "kind")

    def names_a_kind(node: ast.expr) -> bool:
        for part in ast.walk(node):
            if isinstance(part, ast.Constant) and part.value in kinds:
                return True
            if isinstance(part, (ast.Name, ast.Attribute)) and getattr(part, "id", getattr(part, "attr", "")).endswith("KINDS"):
                return True
        return False

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_kind(s) for s in sides) and any(names_a_kind(s) for s in sides if not is_kind(s)):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_trading_core_dispatches_on_no_kind(tmp_path: Path) -> None:
    from typing import get_args

    from bot.trading.kinds import Kind

    kinds = set(get_args(Kind))
    core = _contract("The trading core imports no kind")["source_modules"]
    assert isinstance(core, list) and "bot.trading.executor" in core and "bot.trading.follow" in core
    offenders = [hit for module in core for hit in _kind_tests(ROOT / (module.replace(".", "/") + ".py"), kinds)]
    assert offenders == []
    # the check can fail: the dispatch the registry replaced is found
    probe = tmp_path / "probe.py"
    probe.write_text("if intent.kind in ('buy', 'sell'):\n    pass\nif kind == 'withdraw' or desk.kind in STAKE_KINDS:\n    pass\n")
    assert len(_kind_tests(probe, kinds)) == 3


def test_every_kind_has_a_handler_and_unknown_kinds_are_errors() -> None:
    import pytest

    from bot.app import kind_registry
    from bot.trading.kinds import UnknownKind

    kinds = kind_registry()
    assert kinds.missing() == []
    with pytest.raises(UnknownKind):
        kinds.of("teleport")


def _imports_anywhere(path: Path, modules: Collection[str]) -> set[str]:
    """Every module of `modules` a file imports, at the top, inside functions or under TYPE_CHECKING;
    `from package import module` counts as importing the module, not the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found & set(modules)


def test_no_import_circle() -> None:
    """No import circle anywhere in bot, handlers and wallets, counting imports inside functions and for types
    (the trading core and the issuance venue once imported each other through five files)."""
    modules: dict[str, Path] = {}
    for package in ("bot", "handlers", "wallets"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {name: _imports_anywhere(path, modules) - {name} for name, path in modules.items()}
    assert len(graph) > 150 and "bot.trading.executor" in graph["bot.app"]

    def circle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    circles = [c for c in (circle_from(name) for name in graph) if c is not None]
    assert circles == []


def test_import_contracts_hold() -> None:
    import subprocess
    import sys

    linter = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "The trading core imports no kind of transaction" in " ".join(done.stdout.split())


def test_one_clock() -> None:
    """Repositories, the router, the follower and every other module of the bot read the clock they are given
    (the composition root's one clock; tests move it), never time.time(): `time.time` appears only as a default."""
    calls = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "time"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "time"):
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []
