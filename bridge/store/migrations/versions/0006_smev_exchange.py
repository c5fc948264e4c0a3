"""the СМЭВ exchange journal: requests sent and messages received (bridge/smev/_journal_schema.py)

Revision ID: smev_0001
Revises: 0005

A revision id of its own (not "0006"): another branch of the core may add its own revision after
0005; ``Store.upgrade`` goes to every head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "smev_0001"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smev_exchange",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(255), nullable=False),
        sa.Column("business_key", sa.String(160), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", sa.LargeBinary(), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),
        sa.Column("answer_message_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_smev_exchange"),
        sa.UniqueConstraint("message_id", name="uq_smev_exchange_message_id"),
    )
    op.create_index("uq_smev_exchange_current", "smev_exchange", ["business_key"], unique=True,
                    sqlite_where=sa.text("retired_at IS NULL"), postgresql_where=sa.text("retired_at IS NULL"))
    op.create_index("ix_smev_exchange_state", "smev_exchange", ["state", "created_at"])
    op.create_table(
        "smev_received",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("exchange_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_smev_received"),
    )
    op.create_index("ix_smev_received_exchange_id", "smev_received", ["exchange_id"])


def downgrade() -> None:
    op.drop_index("ix_smev_received_exchange_id", table_name="smev_received")
    op.drop_table("smev_received")
    op.drop_index("ix_smev_exchange_state", table_name="smev_exchange")
    op.drop_index("uq_smev_exchange_current", table_name="smev_exchange")
    op.drop_table("smev_exchange")
