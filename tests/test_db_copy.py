"""`indexbot db copy --to URL` as an operator moving an installation to PostgreSQL runs it: every row arrives exactly
(keys' ciphertext, 256-bit amounts, times), the copy checks itself row by row, a second copy into the filled target
is refused and changes nothing, and bad input is answered with what was wrong."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from auxil.cli import environment
from auxil.storage import MAX_256, installation
from sqlalchemy import func, insert, select

from bot.storage import copy as copying
from bot.storage.copy import CopyRefused, copy_database
from bot.storage.db import Database
from bot.storage.schema import metadata, users, wallets

INDEXBOT = str(Path(sys.executable).with_name("indexbot"))


async def every_row(where: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    db = await Database.open(where)
    try:
        shown = {}
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            shown[table.name] = [tuple(r) for r in await db.fetch_all(select(table).order_by(*order))]
        return shown
    finally:
        await db.close()


def db_copy(home: Path, source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INDEXBOT, "db", "copy", *args], capture_output=True, text=True, timeout=120,
                          env=environment(home, INDEXBOT_DB=str(source)))


@pytest.fixture(params=["postgresql", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.sqlite3'}"
    return str(request.getfixturevalue("pg_empty_url"))


async def test_every_row_arrives_exactly_and_a_second_copy_is_refused(tmp_path: Path, target: str) -> None:
    source = tmp_path / "bot.sqlite3"
    await installation(source)
    out = await asyncio.to_thread(db_copy, tmp_path / "home", source, "--to", target)
    assert out.returncode == 0, out.stderr
    assert "  users: 3 row(s) copied and checked" in out.stdout
    assert "  intent_txs: 1 row(s) copied and checked" in out.stdout
    assert "db copy: 11 row(s) in" in out.stdout and "checked row by row" in out.stdout

    before, after = await every_row(source), await every_row(target)
    assert after == before  # read independently of the copy's own check
    assert after["lock_events"][0][-1] == MAX_256 - 1 and isinstance(after["lock_events"][0][-1], int)
    assert after["wallets"][0][list(wallets.c.keys()).index("encrypted_key")] == bytes(range(60))

    db = await Database.open(target)  # new rows take ids after the copied ones
    try:
        async with db.transaction() as tx:
            new_id = await tx.scalar(insert(users).values(platform="discord", platform_user_id="9", created_at=1,
                                                          last_seen_at=1).returning(users.c.id))
        assert new_id == 4
    finally:
        await db.close()

    again = await asyncio.to_thread(db_copy, tmp_path / "home", source, "--to", target)
    assert again.returncode == 1 and re.search(r"the target already holds rows \(table \w+\)", again.stderr), again
    assert "nothing was changed" in again.stderr
    assert len((await every_row(target))["users"]) == 4  # the 3 copied and the 1 added: nothing more


async def test_a_row_that_differs_after_the_copy_leaves_the_target_empty(tmp_path: Path, pg_empty_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy's own check is real: a target that reads back one value changed (a driver or type fault) stops
    the copy, names the table and the row, and nothing stays in the target."""
    source_path = tmp_path / "bot.sqlite3"
    await installation(source_path)
    source, target = await Database.open(source_path), await Database.open(pg_empty_url)
    reads = copying._rows

    async def flawed(conn: Any, table: Any) -> list[tuple[Any, ...]]:
        rows = await reads(conn, table)
        if table.name == "dca_plans" and conn.dialect.name == "postgresql":
            rows[0] = tuple(MAX_256 - 1 if v == MAX_256 else v for v in rows[0])
        return rows

    monkeypatch.setattr(copying, "_rows", flawed)
    try:
        with pytest.raises(CopyRefused, match=r"table dca_plans: row 1 of 1 differs .* the target was left empty"):
            await copy_database(source, target)
        for table in metadata.sorted_tables:
            assert await target.scalar(select(func.count()).select_from(table)) == 0, table.name
    finally:
        await source.close()
        await target.close()


@pytest.mark.parametrize(("args", "code", "says"), [
    (("--to", "mysql://root@127.0.0.1/x"), 2, "unsupported database URL scheme 'mysql'"),
    (("--to", "postgresql://operator:s3cret-pw@127.0.0.1:1/indexbot"), 1, "could not reach the target database"),
    ((), 2, "the following arguments are required: --to"),
])
async def test_bad_input_is_answered_and_changes_nothing(tmp_path: Path, args: tuple[str, ...], code: int,
                                                         says: str) -> None:
    source = tmp_path / "bot.sqlite3"
    await installation(source)
    rows = await every_row(source)
    out = await asyncio.to_thread(db_copy, tmp_path / "home", source, *args)
    assert out.returncode == code and says in out.stderr, out
    assert "s3cret-pw" not in out.stderr + out.stdout and "Traceback" not in out.stderr
    assert await every_row(source) == rows


def test_a_missing_source_is_named(tmp_path: Path) -> None:
    out = db_copy(tmp_path / "home", tmp_path / "nowhere.sqlite3", "--to", f"sqlite:///{tmp_path / 't.sqlite3'}")
    assert out.returncode == 2 and f"there is no database at {tmp_path / 'nowhere.sqlite3'}" in out.stderr, out
    assert not (tmp_path / "t.sqlite3").exists() and not (tmp_path / "nowhere.sqlite3").exists()


def db_backup(home: Path, source: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INDEXBOT, "db", "backup", *args], capture_output=True, text=True, timeout=120,
                          env=environment(home, INDEXBOT_DB=str(source), **env))


@pytest.mark.parametrize(("case", "code", "says"), [
    ("exists", 2, "exists already: nothing was written"),
    ("postgresql", 2, "the database is PostgreSQL: back it up with pg_dump"),
    ("no source", 2, "there is no database at"),
])
async def test_a_backup_never_overwrites_and_says_what_to_use_instead(tmp_path: Path, case: str, code: int,
                                                                      says: str) -> None:
    source, to = tmp_path / "bot.sqlite3", tmp_path / "backup.sqlite3"
    await installation(source)
    env = {}
    if case == "exists":
        to.write_bytes(b"an older backup")
    elif case == "postgresql":
        env["INDEXBOT_DATABASE_URL"] = "postgresql://operator:pw@127.0.0.1:1/indexbot"
    else:
        source = tmp_path / "nowhere.sqlite3"
    out = await asyncio.to_thread(db_backup, tmp_path / "home", source, "--to", str(to), **env)
    assert out.returncode == code and says in out.stderr, out
    assert to.read_bytes() == b"an older backup" if case == "exists" else not to.exists()
