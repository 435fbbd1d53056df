"""send_pace: the next free moment to send to a platform, overall and per chat, shared by every process of a fleet.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

Telegram's limits are the bot's, not a process's (bot.storage.send_pace). A row per key ('telegram' overall,
'telegram:<chat>' per chat) holds its theoretical arrival time (GCRA) in epoch seconds. The rows are pacing state
only, rebuilt by the next message: on PostgreSQL the table is UNLOGGED (no WAL, emptied after a crash). SQLite, one
process, never uses it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

REAL = sa.Float().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "send_pace",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("tat", REAL, nullable=False),
        sa.Column("spacing", REAL, nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE send_pace SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("send_pace")
