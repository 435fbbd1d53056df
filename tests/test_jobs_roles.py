"""`indexbot run --role ...` as an operator types it: on the embedded SQLite only `all` (no engine to share work
through), refused before anything starts; `all` still wants a chat token; a worker alone needs none (it is started
for real on PostgreSQL by tests/test_jobs_snapshot.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from auxil.cli import environment

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INDEXBOT, "run", *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=environment(home, **env))


@pytest.mark.parametrize("roles", ["worker", "web,sender"])
def test_roles_other_than_all_are_refused_on_sqlite(tmp_path: Path, roles: str) -> None:
    out = run(tmp_path, "--role", roles)
    assert out.returncode == 2 and out.stdout == ""
    assert "needs PostgreSQL (INDEXBOT_DATABASE_URL=postgresql://...)" in out.stderr and "use --role all" in out.stderr
    assert not list(tmp_path.rglob("*.sqlite3")) and not list(tmp_path.rglob("anvil.log"))  # nothing was started


def test_all_still_wants_a_token_and_a_worker_alone_does_not(tmp_path: Path, pg_url: str) -> None:
    for roles in ("all",):
        out = run(tmp_path, "--role", roles, INDEXBOT_DATABASE_URL=pg_url, INDEXBOT_CHAIN="/nonexistent/profile.toml")
        assert out.returncode == 2 and "set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN" in out.stderr, out.stderr
    worker = run(tmp_path, "--role", "worker", INDEXBOT_DATABASE_URL=pg_url, INDEXBOT_CHAIN="/nonexistent/profile.toml")
    assert "TELEGRAM_BOT_TOKEN" not in worker.stderr and worker.returncode != 0  # past the token check, to the chain


@pytest.mark.parametrize(("roles", "serves"), [
    ("all", True), ("web", True), ("web,worker", True), ("worker", False), ("sender", False), ("gateway,worker", False),
])
def test_only_the_web_role_takes_the_operators_web_port(tmp_path: Path, roles: str, serves: bool) -> None:
    """Several processes of one machine (the systemd units) share one environment file: only a web process may
    listen on INDEXBOT_WEB_HOST:INDEXBOT_WEB_PORT; the others take a free loopback port and say so when the links
    they write would name it."""
    from bot.cli import _roles
    from bot.roles import without_web as _without_web
    from bot.config import WebSettings, load_config

    config = load_config({"INDEXBOT_HOME": str(tmp_path), "INDEXBOT_WEB_HOST": "0.0.0.0", "INDEXBOT_WEB_PORT": "8101"})
    used = config if "web" in _roles(roles) else _without_web(config)
    assert (used.web == WebSettings(host="0.0.0.0", port=8101)) is serves
    assert serves or (used.web.host, used.web.port) == ("127.0.0.1", 0)
