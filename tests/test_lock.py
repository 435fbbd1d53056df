"""requirements.lock (what `make install` installs, hash-checked) agrees with pyproject.toml: every dependency,
the test extra's and the venv's own installers included, is pinned at a version its floor allows, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes)."""
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s\\]+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    venv = [line.split("#")[0].strip() for line in (ROOT / "requirements-venv.in").read_text().splitlines()]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"], *venv] if r]


def test_every_dependency_is_locked_within_its_floor_with_hashes() -> None:
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: run `make lock`"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} breaks {requirement}"
        assert hashes >= 1, f"{name} has no hash"


def test_the_advisory_floors_hold() -> None:
    floors = {canonicalize_name(r.name): r.specifier for r in declared()}
    for name, vulnerable in (("aiohttp", "3.14.2"), ("cryptography", "49.0.0"), ("setuptools", "78.1.0"), ("pip", "25.2")):
        assert not floors[name].contains(vulnerable), f"{name} {vulnerable} (known advisories) is still allowed"


def _recipe(target: str) -> list[str]:
    """The commands of `target`'s rule in the Makefile, continuation lines joined."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match, f"no rule for {target} in the Makefile"
    return [line.strip() for line in match[1].splitlines()]


def test_make_installs_only_what_the_lock_pins_by_hash() -> None:
    """Every package `make install` puts in the venv comes from requirements.lock with --require-hashes; the
    project itself is installed without its dependencies and without a build environment (which would fetch
    setuptools unhashed)."""
    installs = [line for line in _recipe("$(VENV)/.installed") if "pip install" in line]
    assert installs, "make install runs no pip install"
    for line in installs:
        locked_install = "--require-hashes" in line.split() and "-r requirements.lock" in line
        project_only = {"--no-deps", "--no-build-isolation"} <= set(line.split()) and line.endswith("-e .")
        assert locked_install or project_only, f"`{line}` installs something the lock does not check"
    assert any("--require-hashes" in line for line in installs)
