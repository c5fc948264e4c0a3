"""The outbox table: messages committed with the caller's changes, delivered later by workers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.store._schema import Base

# BIGINT on PostgreSQL (BIGSERIAL); on SQLite only "INTEGER PRIMARY KEY" is the auto-assigned rowid.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class OutboxRow(Base):
    """One message to deliver to an upstream.

    ``seq`` orders messages (per aggregate: older first); ``id`` is the public name.
    While a worker holds a message, ``locked_by``/``locked_until`` are its lease and the
    state stays ``pending``; ``attempts`` counts claims, so it is also the lease's fencing token.
    """

    __tablename__ = "outbox_message"

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(64))
    aggregate: Mapped[str | None] = mapped_column(String(128), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[Any] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("id", name="uq_outbox_message_id"),
        UniqueConstraint("idempotency_key", name="uq_outbox_message_idempotency_key"),
        Index("ix_outbox_message_due", "state", "next_attempt_at", "seq"),
        Index("ix_outbox_message_aggregate", "aggregate", "state", "seq"),
        {"sqlite_autoincrement": True},
    )
