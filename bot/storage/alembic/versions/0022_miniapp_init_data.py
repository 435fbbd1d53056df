"""miniapp_init_data: Telegram Mini App sign-in data already used, so that it is not accepted on another page.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

A row per initData signature (its SHA-256) with the page it was first used on (the SHA-256 of the link token) and
when its auth_date makes it too old anyway (bot.storage.miniapp).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "miniapp_init_data",
        sa.Column("hash", sa.Text(), primary_key=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("used_at", INT, nullable=False),
        sa.Column("expires_at", INT, nullable=False),
    )
    op.create_index("miniapp_init_data_by_expiry", "miniapp_init_data", ["expires_at"])


def downgrade() -> None:
    op.drop_index("miniapp_init_data_by_expiry", table_name="miniapp_init_data")
    op.drop_table("miniapp_init_data")
