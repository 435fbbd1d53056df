"""Transfers in the portfolio's ledger: a fill with no intent, seen from a wallet's balances (bot.portfolio.transfers).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04

`fills.intent_id` may be NULL (a transfer in or out that no intent of the bot made); `fills.wallet` names the address
whose holding a fill moved (backfilled from each fill's intent); a transfer is unique per chain, wallet, index and the
block it was seen at (a partial unique index: two workers that see it at that block record it once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHERE = "intent_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("fills") as batch:
        batch.alter_column("intent_id", existing_type=INT, nullable=True)
        batch.add_column(sa.Column("wallet", sa.Text()))
    op.execute("UPDATE fills SET wallet = (SELECT address FROM intents WHERE intents.id = fills.intent_id)")
    op.create_index("fills_by_wallet", "fills", ["wallet", "chain_id", "index_symbol"])
    op.create_index("fills_transfer_once", "fills", ["chain_id", "wallet", "index_symbol", "block"], unique=True,
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("fills_transfer_once", "fills")
    op.drop_index("fills_by_wallet", "fills")
    op.execute("DELETE FROM fills WHERE intent_id IS NULL")
    with op.batch_alter_table("fills") as batch:
        batch.drop_column("wallet")
        batch.alter_column("intent_id", existing_type=INT, nullable=False)
