"""dca_plans.usdc_units becomes an Amount: exact text on SQLite (its INTEGER stops at 2**63-1), NUMERIC(78,0) on
PostgreSQL, like every other column of token amounts in base units.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

SQLite cannot change a column's type: the table is copied (batch mode) from the frozen definition below, each
value CAST to TEXT on the way (no reflection: SQLAlchemy's reflection would lose the unnamed CHECKs).
bot.storage.migrate turns foreign keys off around it (dca_runs refers to the table being replaced) and runs
PRAGMA foreign_key_check after.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _sqlite_plans(usdc_units: sa.types.TypeEngine[Any]) -> sa.Table:
    """dca_plans as 0016 built it on SQLite, with `usdc_units` of the given type."""
    plans = sa.Table(
        "dca_plans", sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("usdc_units", usdc_units, nullable=False),
        sa.Column("cadence", sa.Text(), nullable=False),
        sa.Column("at_minute", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer()),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.CheckConstraint("cadence IN ('daily', 'weekly')"),
        sa.CheckConstraint("state IN ('active', 'paused', 'cancelled')"),
    )
    sa.Index("dca_by_user", plans.c.user_id)
    return plans



def _change(old: sa.types.TypeEngine[Any], new: sa.types.TypeEngine[Any]) -> None:
    plans = _sqlite_plans(old)
    sa.Table("users", plans.metadata, sa.Column("id", sa.Integer(), primary_key=True))  # the FK's target
    with op.batch_alter_table("dca_plans", copy_from=plans, recreate="always") as batch:
        batch.alter_column("usdc_units", type_=new, existing_type=old, existing_nullable=False)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.alter_column("dca_plans", "usdc_units", type_=sa.Numeric(78, 0), existing_type=sa.BigInteger(),
                        existing_nullable=False, postgresql_using="usdc_units::numeric(78, 0)")
    else:
        _change(sa.Integer(), sa.Text())


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.alter_column("dca_plans", "usdc_units", type_=sa.BigInteger(), existing_type=sa.Numeric(78, 0),
                        existing_nullable=False, postgresql_using="usdc_units::bigint")
    else:
        _change(sa.Text(), sa.Integer())
