"""user_settings.buy_presets: the amounts the Buy screen offers, a setting per user.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

Comma-separated USDC amounts as the user set them under Settings (e.g. "25,50,100,250"); NULL keeps the defaults.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_settings", sa.Column("buy_presets", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_column("buy_presets")
