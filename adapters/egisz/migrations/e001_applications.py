"""ЕГИСЗ attachment applications and their status history

Revision ID: e001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e001"
down_revision = None
branch_labels = ("egisz",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "egisz_application",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("mo_oid", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("attachment_type", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("related_id", sa.String(64), nullable=True),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("patient_guid", sa.String(64), nullable=True),
        sa.Column("snils", sa.String(11), nullable=True),
        sa.Column("upstream_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("reply_pending", sa.String(36), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_egisz_application"),
    )
    op.create_index("ix_egisz_application_search", "egisz_application", ["mo_oid", "applied_on"])
    op.create_index("ix_egisz_application_snils", "egisz_application", ["snils"])
    op.create_index("ix_egisz_application_patient", "egisz_application", ["patient_guid"])
    op.create_index("ix_egisz_application_unanswered", "egisz_application", ["status", "applied_on"])
    op.create_table(
        "egisz_status_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["egisz_application.id"],
                                name="fk_egisz_status_change_application_id"),
        sa.PrimaryKeyConstraint("id", name="pk_egisz_status_change"),
    )
    op.create_index("ix_egisz_status_change_application_id", "egisz_status_change", ["application_id"])


def downgrade() -> None:
    op.drop_table("egisz_status_change")
    op.drop_table("egisz_application")
