"""prompts.page: the link of the page a question may be answered on (a PIN pad in a Telegram Mini App).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04

SHA-256 of the link token (the token itself is only in the user's button); NULL for a question answered in chat only.
Unique, so a page's request finds its one question.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prompts") as batch:
        batch.add_column(sa.Column("page", sa.Text(), nullable=True))
    op.create_index("prompts_by_page", "prompts", ["page"], unique=True)


def downgrade() -> None:
    op.drop_index("prompts_by_page", table_name="prompts")
    with op.batch_alter_table("prompts") as batch:
        batch.drop_column("page")
