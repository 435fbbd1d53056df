"""prompts: the question a user was asked and waits to answer, one per user and chat (bot.storage.prompts).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04

A handler may ask for the next value (an amount, an address, a PIN); the user's next plain message in that chat
answers it. The question lives here, not in a process, so it survives a restart and any process of a fleet takes
the answer (one of them: the row is deleted as it is read).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("user_id", INT, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text()),
        sa.Column("created_at", INT, nullable=False),
        sa.Column("expires_at", INT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "chat_id"),
    )
    op.create_index("prompts_by_expiry", "prompts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("prompts_by_expiry", table_name="prompts")
    op.drop_table("prompts")
