"""telegram_updates: each Telegram update received by webhook, stored once (its update_id the key) before Telegram is
told 200, and marked handled once processed, so any number of web processes can take Telegram's posts and any worker
can process them exactly once, in order per chat (bot.storage.telegram_updates).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

A new table and a partial index of the updates still waiting per chat; nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WAITING = "handled_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "telegram_updates",
        sa.Column("update_id", INT, autoincrement=False, nullable=False),
        sa.Column("chat_key", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", INT, nullable=False),
        sa.Column("handled_at", INT, nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index("telegram_updates_waiting", "telegram_updates", ["chat_key", "update_id"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index("telegram_updates_waiting", table_name="telegram_updates")
    op.drop_table("telegram_updates")
