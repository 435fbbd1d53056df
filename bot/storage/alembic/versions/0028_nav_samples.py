"""NAV samples for /chart: NAV per token, pool price and premium per index token and block, with its tokenset.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04

Recorded by the `charts:nav` job every `alerts.chart_sample_seconds` and pruned past `alerts.chart_keep_days`
(bot.market.history). Decimals are stored as text, never as floats.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "nav_samples",
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("block", INT, nullable=False),
        sa.Column("at", INT, nullable=False),
        sa.Column("nav", sa.Text(), nullable=False),
        sa.Column("pool", sa.Text()),
        sa.Column("premium", sa.Text()),
        sa.Column("tokenset", sa.Text(), nullable=False),
        sa.Column("prices", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("token", "block"),
    )
    op.create_index("nav_samples_by_time", "nav_samples", ["token", "at"])


def downgrade() -> None:
    op.drop_index("nav_samples_by_time", table_name="nav_samples")
    op.drop_table("nav_samples")
