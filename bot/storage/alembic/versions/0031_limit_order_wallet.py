"""limit_orders.address: the wallet an order was set for, so it never trades from another one; request_key: the
Confirm that set a connected wallet's order, so a second press sets nothing more.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04

A custodial wallet's order was allowed by its PIN, a connected wallet's by the user's Confirm (it is signed when it
triggers). A trigger that finds the user trading from another address (a wallet connected or disconnected since)
fails the order rather than trade from a wallet the order was not set for. NULL: an order set before this
migration, when only custodial wallets could set one. `request_key` is the random key of the order summary's Confirm
button (NULL for an order set with a PIN): the user's orders are read under a lock on the user, so a press seen twice
finds the order it set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("limit_orders", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("limit_orders", sa.Column("request_key", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose its unnamed CHECK constraints.
    op.drop_column("limit_orders", "request_key")
    op.drop_column("limit_orders", "address")
