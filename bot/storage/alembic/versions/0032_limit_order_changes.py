"""Limit orders carry a change number, so a process's order watch reads only the rows changed since its last read.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04

`limit_orders.changed` is the number of the order's latest move into or out of `open` (set, cancelled, claimed,
expired), taken from the one row of `limit_order_clock` (made by the first change) in the same transaction: that row stays locked until the
transaction ends, so on PostgreSQL numbers commit in their order and a reader that sees number n sees every number
below it. Orders already there keep 0: a watch's first read takes every open row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "limit_order_clock",
        sa.Column("id", INT, primary_key=True, autoincrement=False),  # the one row: 1
        sa.Column("n", INT, nullable=False),
        sa.CheckConstraint("id = 1"),
    )
    op.add_column("limit_orders", sa.Column("changed", INT, nullable=False, server_default=sa.text("0")))
    op.create_index("limit_orders_changed", "limit_orders", ["changed"])


def downgrade() -> None:
    op.drop_index("limit_orders_changed", "limit_orders")
    op.drop_column("limit_orders", "changed")  # SQLite's own DROP COLUMN: a batch copy would lose the unnamed CHECKs
    op.drop_table("limit_order_clock")
