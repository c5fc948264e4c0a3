"""MAX bot: the shared rate-limit slot (one row per bot)

Revision ID: m001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m001"
down_revision = None
branch_labels = ("max",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "max_rate_slot",
        sa.Column("bucket", sa.String(64), nullable=False),
        sa.Column("next_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name="pk_max_rate_slot"),
    )


def downgrade() -> None:
    op.drop_table("max_rate_slot")
