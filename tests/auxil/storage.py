"""Databases as older versions of indexbot left them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage import migrate


def legacy_file(path: Path, upto: int) -> None:
    """A database as bot.storage.db built it before Alembic: schema_migrations and the SQL files 1..upto."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        for number, sql in migrate.legacy_migrations():
            if number <= upto:
                conn.executescript(f"BEGIN IMMEDIATE;\n{sql.read_text()}\n"
                                   f"INSERT INTO schema_migrations VALUES ({number}, 0);\nCOMMIT;")
    finally:
        conn.close()
