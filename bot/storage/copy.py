"""`indexbot db copy --to postgresql://…`: an installation's data moved to another database, checked row by row.

The source is read in one snapshot (a single read transaction: SQLite's WAL and PostgreSQL's REPEATABLE READ
both give one), so a bot that keeps running meanwhile is copied as it stood when the copy began; what it writes
later is not copied (docs/deploy.md: stop the bot, copy, point it at the new database). The target is brought to
the same schema revision by the migrations and must hold no rows: nothing is ever merged into existing data.
Tables are copied parents first (foreign keys), then every row is read back from the target and compared with
the source's, table by table in primary-key order; PostgreSQL's id sequences are moved past the copied ids.
A difference stops the copy with the table and the first row that differs, and the target's rows are removed
(one transaction: the target is left as empty as it was found).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.db import Database
from bot.storage.schema import metadata

BATCH = 1000


class CopyRefused(Exception):
    """The copy cannot start or did not check out: nothing is left in the target."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def _tables() -> Sequence[Table]:
    return metadata.sorted_tables  # parents before children


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.columns)


async def _snapshot(conn: AsyncConnection, dialect: str) -> None:
    if dialect == "sqlite":
        await conn.exec_driver_sql("BEGIN")  # deferred: the snapshot is taken at the first read
    else:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


async def _rows(conn: AsyncConnection, table: Table) -> list[tuple[Any, ...]]:
    result = await conn.execute(select(table).order_by(*_order(table)))
    return [tuple(_plain(v) for v in row) for row in result]


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


async def copy_database(source: Database, target: Database,
                        progress: Callable[[Copied], Awaitable[None] | None] = lambda c: None) -> list[Copied]:
    """Copy every table of the schema from `source` into the empty `target` and check it row by row."""
    if source.dialect == target.dialect == "sqlite" and source.engine.url.database == target.engine.url.database:
        raise CopyRefused("the source and the target are the same database")
    async with target.engine.connect() as probe:
        for table in _tables():
            if (await probe.execute(select(func.count()).select_from(table))).scalar():
                raise CopyRefused(f"the target already holds rows (table {table.name}): copy only into an empty "
                                  "database, nothing was changed")
    done: list[Copied] = []
    async with source.engine.connect() as src:
        await _snapshot(src, source.dialect)
        async with target.engine.begin() as dst:
            for table in _tables():
                rows = await _rows(src, table)
                names = [c.name for c in table.columns]
                for start in range(0, len(rows), BATCH):
                    await dst.execute(table.insert(), [dict(zip(names, r)) for r in rows[start:start + BATCH]])
                if target.dialect == "postgresql":
                    await _move_sequences(dst, table)
                copied = await _rows(dst, table)
                if copied != rows:
                    _refuse(table, rows, copied)
                done.append(Copied(table.name, len(rows)))
                shown = progress(done[-1])
                if shown is not None:
                    await shown
        await src.rollback()
    return done


async def _move_sequences(dst: AsyncConnection, table: Table) -> None:
    """Ids were copied as they were: the next id PostgreSQL hands out must come after the highest."""
    for column in table.primary_key.columns:
        if column.autoincrement is True or (column.autoincrement == "auto" and len(table.primary_key.columns) == 1
                                            and column.type.python_type is int):
            sequence = (await dst.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                          {"t": table.name, "c": column.name})).scalar()
            if sequence:
                highest = (await dst.execute(select(func.max(column)))).scalar() or 0
                await dst.execute(text("SELECT setval(:s, :n, false)"), {"s": sequence, "n": highest + 1})


def _refuse(table: Table, rows: list[tuple[Any, ...]],
                  copied: list[tuple[Any, ...]]) -> NoReturn:
    """Raised inside the target's transaction: leaving it rolls every copied row back."""
    first = next((i for i, (a, b) in enumerate(zip(rows, copied)) if a != b), min(len(rows), len(copied)))
    raise CopyRefused(f"table {table.name}: row {first + 1} of {len(rows)} differs after the copy "
                      f"({len(copied)} rows read back); the target was left empty")
