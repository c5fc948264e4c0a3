"""upstream operation journal

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_operation",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("upstream", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_upstream_operation"),
        sa.UniqueConstraint("idempotency_key", name="uq_upstream_operation_idempotency_key"),
    )
    op.create_index(
        "uq_upstream_operation_pending",
        "upstream_operation",
        ["upstream", "kind", "subject"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_upstream_operation_pending", table_name="upstream_operation")
    op.drop_table("upstream_operation")
