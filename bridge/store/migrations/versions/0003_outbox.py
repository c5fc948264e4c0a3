"""outbox: replies committed with the caller's changes, delivered by workers

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("aggregate", sa.String(128), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(64), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox_message"),
        sa.UniqueConstraint("id", name="uq_outbox_message_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_message_idempotency_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_message_due", "outbox_message", ["state", "next_attempt_at", "seq"])
    op.create_index("ix_outbox_message_aggregate", "outbox_message", ["aggregate", "state", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        # A queue table: rows are updated constantly and bursts change it wholesale. Vacuum and
        # analyse it after 1 % of changes (the defaults wait for 20 % / 10 %), so the claim query is
        # planned on current statistics and does not wade through dead index entries.
        op.execute(
            "ALTER TABLE outbox_message SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_threshold = 500, "
            "autovacuum_analyze_threshold = 500)"
        )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_aggregate", table_name="outbox_message")
    op.drop_index("ix_outbox_message_due", table_name="outbox_message")
    op.drop_table("outbox_message")
