"""docs/deploy.md as an operator follows it: every `sh` block runs, in order, in one shell, against a real
PostgreSQL and an installation's SQLite file, and leaves what the page says it leaves."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
from auxil.cli import environment
from auxil.storage import MAX_256, installation
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.storage.db import Database
from bot.storage.schema import dca_plans, users

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deploy.md"
BLOCK = re.compile(r"^```sh( settings)?\n(.*?)^```$", re.S | re.M)


def blocks() -> tuple[str, list[str]]:
    """The settings block and the others, in the page's order."""
    found = BLOCK.findall(DOC.read_text())
    settings = [body for tag, body in found if tag]
    assert len(settings) == 1, "docs/deploy.md needs exactly one ```sh settings block"
    return settings[0], [body for tag, body in found if not tag]


def test_the_page_has_its_commands() -> None:
    settings, steps = blocks()
    assert "export PGHOST=" in settings and "INDEXBOT_HOME=" in settings and "CHECKOUT=" in settings
    joined = "\n".join(steps)
    for command in ("createdb", "indexbot config", "indexbot db copy --to", "indexbot db backup --to", "pg_dump",
                    "pg_restore", "caddy adapt"):
        assert command in joined, command


async def test_every_command_of_the_page_runs_and_does_what_it_says(tmp_path: Path, pg_server_url: str) -> None:
    server = make_url(pg_server_url)
    db_name = f"indexbot_doc_{secrets.token_hex(4)}"
    home = tmp_path / "home"
    await installation(home / "indexbot.sqlite3")  # the installation being moved
    settings, steps = blocks()
    ours = (f"export PGHOST={server.host} PGPORT={server.port or 5432} PGUSER={server.username}\n"
            f"export DB={db_name}\nexport INDEXBOT_HOME={home}\nexport CHECKOUT={ROOT}\n")
    env = environment(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # indexbot, as installed
    script = "set -euo pipefail\n" + ours + "\n".join(steps)
    try:
        out = await asyncio.to_thread(subprocess.run, ["bash", "-c", script], capture_output=True, text=True,
                                      timeout=180, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f'"database_url": "postgresql://{server.username}@{server.host}:{server.port or 5432}/{db_name}"' in out.stdout
        assert "db copy: 11 row(s) in" in out.stdout
        backups = sorted((home / "backups").iterdir(), key=lambda p: p.suffix)
        assert [p.suffix for p in backups] == [".dump", ".sqlite3"], backups
        assert backups[1].stat().st_mode & 0o777 == 0o600
        for where in (backups[1], server.set(database=db_name).render_as_string(False),
                      server.set(database=f"{db_name}_restored").render_as_string(False)):
            db = await Database.open(where)  # the backup, the moved database and the restored dump hold the rows
            try:
                assert len(await db.fetch_all(select(users))) == 3, where
                assert await db.scalar(select(dca_plans.c.usdc_units)) == MAX_256, where
            finally:
                await db.close()
    finally:
        with psycopg.connect(server.set(database="postgres").render_as_string(False), autocommit=True) as conn:
            for name in (db_name, f"{db_name}_restored"):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
