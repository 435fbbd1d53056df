"""quote_messages: the message showing each live quote, edited to say it expired when it falls due.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quote_messages",
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("message_ref", sa.Text(), nullable=False),
        sa.Column("intent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("intents.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("due_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("platform", "chat_id", "message_ref"),
    )
    op.create_index("quote_messages_by_due", "quote_messages", ["due_at"])


def downgrade() -> None:
    op.drop_index("quote_messages_by_due", table_name="quote_messages")
    op.drop_table("quote_messages")
