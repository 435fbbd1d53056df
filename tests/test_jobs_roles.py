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
