"""INTERIM (issue 17): the legacy numbered SQL migrations on SQLite, until the Alembic runner lands."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


async def upgrade(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        rows = await driver.execute_fetchall("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        current = int(next(iter(rows))[0])
        for number, path in migrations():
            if number > current:
                await driver.executescript(
                    f"BEGIN IMMEDIATE;\n{path.read_text()}\n"
                    f"INSERT INTO schema_migrations VALUES ({number}, CAST(strftime('%s','now') AS INTEGER));\nCOMMIT;")
