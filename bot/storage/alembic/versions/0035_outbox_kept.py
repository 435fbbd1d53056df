"""The outbox's kept messages: a user's messages their private chat refused, found by user.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04

A Discord member whose DMs are closed to the bot misses what the outbox sends them unprompted (a trade's outcome
after the interaction's 15 minutes, an order filled overnight, alerts): those rows end 'blocked', and are shown to
them as ephemeral follow-ups the next time they use the bot (bot/frontends/adapters/discord_kept.py). Every
interaction looks for them, so they are found by an index of their own, small since partial.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("outbox_kept", "outbox", ["user_id", "id"], unique=False, sqlite_where=sa.text("state = 'blocked'"),
                    postgresql_where=sa.text("state = 'blocked'"))


def downgrade() -> None:
    op.drop_index("outbox_kept", table_name="outbox")
