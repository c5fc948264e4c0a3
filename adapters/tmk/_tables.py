"""The bot's tables (created by the ``max`` migration branch, m002): SQLAlchemy Core handles on them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "tmk_user", metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("chat_id", sa.BigInteger),
    sa.Column("phone", sa.LargeBinary),
    sa.Column("person", sa.LargeBinary),
    sa.Column("person_key", sa.String(64)),
    sa.Column("linked_at", sa.DateTime(timezone=True)),
    sa.Column("unreachable_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

user_patients = sa.Table(
    "tmk_user_patient", metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("patient_key", sa.String(64), primary_key=True),
)

dialogs = sa.Table(
    "tmk_dialog", metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("session", sa.String(16), nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("message_id", sa.String(128)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

bookings = sa.Table(
    "tmk_booking", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("number", sa.String(16), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("patient", sa.LargeBinary, nullable=False),
    sa.Column("patient_key", sa.String(64), nullable=False),
    sa.Column("lpu_id", sa.Integer, nullable=False),
    sa.Column("visit_id", sa.String(64)),
    sa.Column("slot_id", sa.String(64), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("chat", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

seen_updates = sa.Table(
    "tmk_seen_update", metadata,
    sa.Column("key", sa.String(160), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

chat_pool = sa.Table(
    "tmk_chat_pool", metadata,
    sa.Column("chat_id", sa.BigInteger, primary_key=True),
    sa.Column("booking_id", sa.String(36)),
    sa.Column("assigned_at", sa.DateTime(timezone=True)),
)

representations = sa.Table(
    "tmk_representation", metadata,
    sa.Column("representative_key", sa.String(64), primary_key=True),
    sa.Column("patient_key", sa.String(64), primary_key=True),
    sa.Column("patient", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
