"""Proof of reserves: the opt-in `reserves` alert switch, and each index's last seen backing state.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04

alert_settings.reserves is 0 by default (unlike the other switches): holders are told their index's backing fell
short only when they asked. reserve_state keeps, per index token, whether it was short at the last check, so a
crossing is told once and again only after it recovered and fell again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("alert_settings", sa.Column("reserves", INT, nullable=False, server_default=sa.text("0")))
    op.create_table(
        "reserve_state",
        sa.Column("token", sa.Text(), primary_key=True),
        sa.Column("short", INT, nullable=False),
        sa.Column("crossings", INT, nullable=False),
        sa.Column("block", INT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reserve_state")
    with op.batch_alter_table("alert_settings") as batch:
        batch.drop_column("reserves")
