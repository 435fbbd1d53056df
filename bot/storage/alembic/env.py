"""Alembic's environment for bot.storage.migrate: online only, on the connection migrate passes in.

`config.attributes["connection"]` holds a SQLAlchemy (sync) Connection, in a transaction migrate manages
(Alembic's cookbook, "sharing a connection"). SQLite alters tables in batch mode (a copy of the table), since
its ALTER TABLE cannot change a column.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.storage.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise RuntimeError("migrations run through bot.storage.migrate.upgrade(engine), on a connection it passes in")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
