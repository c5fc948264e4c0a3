"""ТМК bot: linked users, dialog state, bookings, seen updates, the MAX chat pool, representatives

Revision ID: m002
Revises: m001

Written when the bot lived in adapters/max; it keeps its id and its place after the MAX client's m001
(adapters/max/migrations) because deployed stores record m002 in alembic_version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m002"
down_revision = "m001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tmk_user",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("phone", sa.LargeBinary(), nullable=True),          # sealed {"phone": "7…"}
        sa.Column("person", sa.LargeBinary(), nullable=True),         # sealed ЕСИА person + children
        sa.Column("person_key", sa.String(64), nullable=True),        # pseudonym of the person's SNILS
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_tmk_user"),
    )
    op.create_index("ix_tmk_user_person_key", "tmk_user", ["person_key"])
    op.create_table(   # whom a linked user may act for by ЕСИА: themself and their children
        "tmk_user_patient",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "patient_key", name="pk_tmk_user_patient"),
    )
    op.create_index("ix_tmk_user_patient_key", "tmk_user_patient", ["patient_key"])
    op.create_table(
        "tmk_dialog",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("session", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_tmk_dialog"),
    )
    op.create_table(
        "tmk_booking",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("patient", sa.LargeBinary(), nullable=False),       # sealed: names, birth date, SNILS
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("lpu_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.String(64), nullable=True),
        sa.Column("slot_id", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),              # MO, doctor, speciality, goal (no patient data)
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("chat", sa.JSON(), nullable=True),                  # {platform, chat_id, link}
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tmk_booking"),
        sa.UniqueConstraint("number", name="uq_tmk_booking_number"),
    )
    op.create_index("ix_tmk_booking_user", "tmk_booking", ["user_id", "start_at"])
    op.create_index("ix_tmk_booking_visit", "tmk_booking", ["lpu_id", "visit_id"])
    op.create_table(
        "tmk_seen_update",
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_tmk_seen_update"),
    )
    op.create_table(
        "tmk_chat_pool",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.String(36), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("chat_id", name="pk_tmk_chat_pool"),
        sa.UniqueConstraint("booking_id", name="uq_tmk_chat_pool_booking"),
    )
    op.create_table(
        "tmk_representation",
        sa.Column("representative_key", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("patient", sa.LargeBinary(), nullable=False),       # sealed: names, birth date, SNILS
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("representative_key", "patient_key", name="pk_tmk_representation"),
    )


def downgrade() -> None:
    for table in ("tmk_representation", "tmk_chat_pool", "tmk_seen_update", "tmk_booking", "tmk_dialog",
                  "tmk_user_patient", "tmk_user"):
        op.drop_table(table)
