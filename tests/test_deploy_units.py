"""deploy/: the systemd units and the TLS reverse proxy's configuration that docs/deploy.md installs, checked as
systemd reads them (`systemd-analyze verify`, where the machine has it) and against the bot's own roles and ports."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.roles import parse_roles

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
CADDYFILE = ROOT / "deploy" / "Caddyfile"
INSTALLED_AT = "/opt/indexbot"  # where docs/deploy.md puts the checkout and its venv


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",), comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def services() -> list[Path]:
    return sorted(UNITS.glob("indexbot-*@.service"))


def test_every_role_has_a_unit_and_every_unit_runs_one_role() -> None:
    seen = set()
    for path in services():
        start = unit(path)["Service"]["ExecStart"]
        match = re.fullmatch(rf"{INSTALLED_AT}/\.venv/bin/indexbot run --role (\S+)", start)
        assert match is not None, f"{path.name}: {start}"
        roles = parse_roles(match.group(1))
        assert path.name == f"indexbot-{match.group(1)}@.service" and len(roles) == 1
        seen |= roles
    assert seen == set(parse_roles("all"))


def test_units_keep_secrets_out_of_the_unit_and_the_state_private() -> None:
    for path in services():
        service = unit(path)["Service"]
        assert service["EnvironmentFile"] == "/etc/indexbot/indexbot.env"  # the tokens and keys: never in a unit
        assert service["User"] == "indexbot" and service["UMask"] == "0077" and service["StateDirectoryMode"] == "0700"
        assert service["Restart"] == "always" and service["NoNewPrivileges"] == "yes"
        assert "TOKEN" not in path.read_text() and "MASTER_KEY" not in path.read_text()


def test_the_proxy_sends_to_the_web_ports_the_target_starts() -> None:
    wanted = unit(UNITS / "indexbot.target")["Unit"]["Wants"].split()
    web_ports = {name.split("@")[1].removesuffix(".service") for name in wanted if name.startswith("indexbot-web@")}
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", CADDYFILE.read_text())
    assert upstreams is not None and web_ports
    assert {u.rsplit(":", 1)[1] for u in upstreams.group(1).split()} == web_ports
    assert "health_uri /healthz" in CADDYFILE.read_text()
    web = unit(UNITS / "indexbot-web@.service")["Service"]["Environment"]
    assert "INDEXBOT_WEB_HOST=127.0.0.1" in web and "INDEXBOT_WEB_PORT=%i" in web  # only the proxy reaches them
    for name in wanted:
        assert (UNITS / re.sub(r"@[^.]+\.", "@.", name)).exists(), name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not on this machine")
def test_systemd_reads_the_units_without_a_complaint(tmp_path: Path) -> None:
    """`systemd-analyze verify` on each unit, installed at this checkout instead of /opt/indexbot (it checks that
    ExecStart's program exists) and with the environment file in place."""
    for path in [*UNITS.glob("*.service"), UNITS / "indexbot.target"]:
        text = path.read_text().replace(INSTALLED_AT, str(ROOT))
        (tmp_path / path.name).write_text(text)
    instances = [str(tmp_path / p.name.replace("@.", "@1.")) for p in services()]
    done = subprocess.run(["systemd-analyze", "verify", *instances, str(tmp_path / "indexbot.target")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if "indexbot" in line and str(tmp_path) in line
                  or "Failed" in line or "Unknown" in line]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr
