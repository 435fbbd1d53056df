"""The portfolio's ledger: one row per filled buy or sell, written once when its intent is mined.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04

Amounts are base units (the `Amount` type: TEXT on SQLite, NUMERIC(78,0) on PostgreSQL); prices and USD values are
Decimal texts. `intent_id` is unique: a fill is recorded once, however often its outcome is settled.
issuance_orders.fill_tx keeps a factory fill's transaction, so a fill a crash kept from the ledger is recorded at the next start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Text().with_variant(sa.Numeric(78, 0), "postgresql")


def upgrade() -> None:
    op.create_table(
        "fills",
        sa.Column("id", INT, primary_key=True, autoincrement=True),
        sa.Column("intent_id", INT, sa.ForeignKey("intents.id"), nullable=False, unique=True),
        sa.Column("user_id", INT, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("chain_id", INT, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("index_symbol", sa.Text(), nullable=False),
        sa.Column("paid_symbol", sa.Text(), nullable=False),
        sa.Column("paid_units", AMOUNT, nullable=False),
        sa.Column("paid_decimals", INT, nullable=False),
        sa.Column("received_symbol", sa.Text(), nullable=False),
        sa.Column("received_units", AMOUNT, nullable=False),
        sa.Column("received_decimals", INT, nullable=False),
        sa.Column("price_usd", sa.Text(), nullable=False),
        sa.Column("pool_fee", INT, nullable=False),
        sa.Column("gas_usd", sa.Text(), nullable=False),
        sa.Column("btc_usd", sa.Text()),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("block", INT, nullable=False),
        sa.Column("filled_at", INT, nullable=False),
    )
    op.create_index("fills_by_user", "fills", ["user_id", "id"])
    op.add_column("issuance_orders", sa.Column("fill_tx", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("issuance_orders") as batch:
        batch.drop_column("fill_tx")
    op.drop_index("fills_by_user", "fills")
    op.drop_table("fills")
