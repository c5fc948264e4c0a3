"""index the СМЭВ messages not yet acknowledged (the bridge_smev_unacknowledged gauge, read at every scrape)

Revision ID: smev_0002
Revises: smev_0001

Without it the gauge counted every received message ever kept (``purge_after_days`` of them): 10⁶ rows
were read at each scrape (docs/performance.md, "Cost as the work grows"). A partial index holds only the
few messages stored and not yet acknowledged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "smev_0002"
down_revision = "smev_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_smev_received_unacknowledged", "smev_received", ["received_at"],
                    sqlite_where=sa.text("acknowledged_at IS NULL"),
                    postgresql_where=sa.text("acknowledged_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_smev_received_unacknowledged", table_name="smev_received")
