"""Each test helper is defined once: in tests/auxil/ (or, for fixtures, tests/conftest.py), and imported by every
test that uses it. Two checks read the test files' code (no test runs):

- no function or class is copied into a second file, under its name or another (the same body and parameters);
- no test file defines again a name that tests/auxil/ or the conftest provides, except the few names below that
  mean something else on another layer, and a module's own fixture overriding a conftest fixture (pytest's way
  to give one module's tests, say, a bot configured otherwise).
"""

from __future__ import annotations

import ast
import copy
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
AUXIL = TESTS / "auxil"

# Names a test file may define although tests/auxil/ has a helper of that name, because they are another thing.
SAME_NAME_OTHER_THING = {
    "ask": "test_telegram_fairness.py: a private Telegram chat's line through the emulator, with a longer wait",
    "say": "test_announce.py: a router request carrying a platform's standing; test_secret_messages.py: a Telegram "
           "line whose own message id the test needs",
    "press": "a Telegram press (test_telegram_fairness.py), a press on a connected-wallet quote by message "
             "(test_connected_browser.py), a moderator's press with standing (test_announce.py)",
    "request": "test_announce.py: requests with a platform's standing (admin, roles) and its community ids",
    "view": "test_devnet_protocol.py: a view by full function signature (overloaded functions)",
    "settled": "each waits for something else to settle: an intent, an outbox message, the whole outbox",
    "Recorder": "the connected-wallet files' notice recorders keep other fields of what was sent",
}

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def definitions(path: Path) -> list[Definition]:
    """The top-level functions and classes of a file, tests themselves left out."""
    tree = ast.parse(path.read_text(), str(path))
    return [node for node in tree.body if isinstance(node, Definition) and not node.name.startswith("test_")]


def provided(path: Path) -> set[str]:
    """The public names a helper module defines or binds at its top level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, Definition):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(e.id for e in (target.elts if isinstance(target, ast.Tuple) else [target])
                              if isinstance(e, ast.Name))
    return {name for name in names if not name.startswith("_")}


def is_fixture(node: Definition) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)


def shape(node: Definition) -> str:
    """What a definition does, whatever its name, docstring, annotations and defaults: its parameters and body."""
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        body = body[1:]
    if isinstance(node, ast.ClassDef):
        params = ast.dump(ast.Tuple(node.bases, ast.Load()))
    else:  # the parameters' names, whatever their annotations and defaults
        arguments = node.args
        params = repr([a.arg for a in (*arguments.posonlyargs, *arguments.args, arguments.vararg, *arguments.kwonlyargs,
                                      arguments.kwarg) if a is not None])
    return params + ast.dump(ast.Module(copy.deepcopy(body), []))


def helper_files() -> list[Path]:
    return sorted(TESTS.glob("*.py")) + sorted(AUXIL.glob("*.py"))


def test_no_helper_is_copied_into_a_second_file() -> None:
    places: dict[str, list[str]] = defaultdict(list)
    for path in helper_files():
        for node in definitions(path):
            places[shape(node)].append(f"{path.relative_to(TESTS)}:{node.lineno} {node.name}")
    copies = [where for where in places.values() if len({w.split(":")[0] for w in where}) > 1]
    assert not copies, f"the same helper in several files (keep one in tests/auxil/ and import it): {copies}"


def test_no_test_file_defines_again_what_auxil_or_the_conftest_provides() -> None:
    shared = {name: f"auxil/{path.name}" for path in sorted(AUXIL.glob("*.py")) for name in provided(path)}
    shared |= {node.name: "conftest.py" for node in definitions(TESTS / "conftest.py")}
    again = [
        f"{path.name}:{node.lineno} {node.name} (see {shared[node.name]})"
        for path in sorted(TESTS.glob("*.py")) if path.name != "conftest.py"
        for node in definitions(path)
        if node.name in shared and node.name not in SAME_NAME_OTHER_THING
        and not (is_fixture(node) and shared[node.name] == "conftest.py")
    ]
    assert not again, f"defined again instead of imported from tests/auxil/ or the conftest: {again}"


def test_the_allowed_names_are_still_needed() -> None:
    """An allowance whose reason is gone goes too: each name is still both shared and defined in a test file."""
    shared = {name for path in AUXIL.glob("*.py") for name in provided(path)}
    local = {node.name for path in TESTS.glob("*.py") for node in definitions(path)}
    assert set(SAME_NAME_OTHER_THING) <= shared & local, set(SAME_NAME_OTHER_THING) - (shared & local)
