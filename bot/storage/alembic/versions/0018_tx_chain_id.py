"""intent_txs.chain_id becomes NOT NULL (filled from its intent where a row lacks it): the unique index
one_tx_per_nonce on (chain_id, address, nonce), live rows only, then holds for every row. With a NULL chain id two
rows of one address and nonce never conflict (NULLs are distinct in a unique index on both engines), so two workers
could store the same nonce twice; nonces are per (chain, address), so the chain id is part of the key.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

Every insert of intent_txs already fills chain_id from its intent (bot.storage.intents); the backfill is for rows
written before legacy 0010 added the column by a path that missed it. PostgreSQL: UPDATE, then SET NOT NULL (one
scan of the table under its lock). SQLite cannot change a column's nullability: the table is copied (batch mode)
from the frozen definition below, its indexes made again (no reflection, as in 0017).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

LIVE = "state NOT IN ('replaced', 'dropped')"
BACKFILL = ("UPDATE intent_txs SET chain_id = (SELECT intents.chain_id FROM intents WHERE intents.id = intent_txs.intent_id)"
            " WHERE chain_id IS NULL")


def _sqlite_txs(chain_id_nullable: bool) -> sa.Table:
    """intent_txs as 0016 built it on SQLite, with `chain_id` nullable or not."""
    txs = sa.Table(
        "intent_txs", sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("intent_id", sa.Integer(), sa.ForeignKey("intents.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Integer()),
        sa.Column("raw_tx", sa.LargeBinary()),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("max_fee", sa.Integer()),
        sa.Column("priority_fee", sa.Integer()),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("replaced_by", sa.Text()),
        sa.Column("block", sa.Integer()),
        sa.Column("signed_at", sa.REAL(), nullable=False),
        sa.Column("sent_at", sa.REAL()),
        sa.Column("chain_id", sa.Integer(), nullable=chain_id_nullable),
        sa.UniqueConstraint("tx_hash"),
    )
    sa.Index("one_tx_per_nonce", txs.c.chain_id, txs.c.address, txs.c.nonce, unique=True, sqlite_where=sa.text(LIVE))
    sa.Index("txs_of_intent", txs.c.intent_id, txs.c.step)
    return txs


def _change(nullable: bool) -> None:
    txs = _sqlite_txs(not nullable)
    sa.Table("intents", txs.metadata, sa.Column("id", sa.Integer(), primary_key=True))  # the FK's target
    with op.batch_alter_table("intent_txs", copy_from=txs, recreate="always") as batch:
        batch.alter_column("chain_id", nullable=nullable, existing_type=sa.Integer())


def upgrade() -> None:
    op.execute(BACKFILL)
    if op.get_context().dialect.name == "postgresql":
        op.alter_column("intent_txs", "chain_id", nullable=False, existing_type=sa.BigInteger())
    else:
        _change(nullable=False)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.alter_column("intent_txs", "chain_id", nullable=True, existing_type=sa.BigInteger())
    else:
        _change(nullable=True)
