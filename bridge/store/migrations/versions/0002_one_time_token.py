"""single-use tokens: OAuth states and login tickets

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "one_time_token",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("binding", sa.String(64), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_one_time_token"),
    )
    op.create_index("ix_one_time_token_expires_at", "one_time_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_one_time_token_expires_at", table_name="one_time_token")
    op.drop_table("one_time_token")
