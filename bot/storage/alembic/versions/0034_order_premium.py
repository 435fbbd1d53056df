"""Limit orders on the premium to NAV: `limit_orders.watch` says what an order's line is.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04

`watch` is 'price' (the line is USD per token: the pool price for a limit buy or sell, NAV per token for a stop or
take-profit; every order made before this revision) or 'premium' (a limit buy or sell whose line is the pool price's
premium to NAV per token, in percent, negative for a discount: `/limit buy MAG7 100 premium -1%`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("limit_orders", sa.Column("watch", sa.Text(), nullable=False, server_default=sa.text("'price'")))


def downgrade() -> None:
    op.drop_column("limit_orders", "watch")  # SQLite's own DROP COLUMN: a batch copy would lose the unnamed CHECKs
