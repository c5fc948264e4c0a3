"""index applications by the choice a cancellation refers to

Revision ID: e002
Revises: e001
"""

from __future__ import annotations

from alembic import op

revision = "e002"
down_revision = "e001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_egisz_application_related", "egisz_application", ["related_id"])


def downgrade() -> None:
    op.drop_index("ix_egisz_application_related", table_name="egisz_application")
