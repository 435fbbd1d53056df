"""Orders that act by themselves (/limit, /stop, /takeprofit): one row per order, until it fills, fails, expires or
is cancelled.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04

`amount` is a Decimal text: USDC for a limit buy, else a percent of the holding. `state` moves open → firing →
filled / failed, or open → cancelled / expired, by compare-and-set; `intent_id` is the one execution intent of the
order's one trigger (set before it is signed), so a restart between trigger and confirmation never trades twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "limit_orders",
        sa.Column("id", INT, primary_key=True, autoincrement=True),
        sa.Column("user_id", INT, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("trail", sa.Text()),
        sa.Column("peak", sa.Text()),
        sa.Column("state", sa.Text(), nullable=False, server_default=sa.text("'open'")),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("created_at", INT, nullable=False),
        sa.Column("expires_at", INT),
        sa.Column("trigger_block", INT),
        sa.Column("trigger_value", sa.Text()),
        sa.Column("intent_id", INT, sa.ForeignKey("intents.id")),
        sa.Column("outcome", sa.Text()),
        sa.Column("told", INT, nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint("kind IN ('buy', 'sell', 'stop', 'takeprofit')"),
        sa.CheckConstraint("state IN ('open', 'firing', 'filled', 'failed', 'cancelled', 'expired')"),
    )
    op.create_index("limit_orders_open", "limit_orders", ["state"])
    op.create_index("limit_orders_by_user", "limit_orders", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("limit_orders_by_user", "limit_orders")
    op.drop_index("limit_orders_open", "limit_orders")
    op.drop_table("limit_orders")
