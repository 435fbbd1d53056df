"""discord_interactions: Discord interactions a gateway process acknowledged and handed to a worker.

Revision ID: 0020
Revises: 0018 (0019 belongs to another branch of issue 17; this one runs alone until they are merged)
Create Date: 2026-12-03

A row holds an interaction's token (its credential to answer, valid 15 minutes) until a worker takes it; the row
itself stays until the token would have expired, so a second delivery of the same interaction is recognised.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discord_interactions",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("token", sa.Text()),
        sa.Column("ask", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("taken_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    )
    op.create_index("discord_interactions_by_age", "discord_interactions", ["received_at"])


def downgrade() -> None:
    op.drop_index("discord_interactions_by_age", table_name="discord_interactions")
    op.drop_table("discord_interactions")
