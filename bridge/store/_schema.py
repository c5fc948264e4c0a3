"""Tables of the store. Changes here need an alembic revision in migrations/versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, MetaData, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UpstreamOperation(Base):
    """A non-idempotent upstream operation the bridge started (register, update, reset).

    ``subject`` is a keyed pseudonym (HMAC) of the person's identifier, never the
    identifier itself. While an operation is pending, a repeat of the same request from
    the МИС reuses its idempotency key, so the upstream sees one operation.
    """

    __tablename__ = "upstream_operation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    upstream: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "uq_upstream_operation_pending",
            "upstream",
            "kind",
            "subject",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )


class OneTimeToken(Base):
    """A single-use, expiring token (an OAuth state, a login ticket) and its encrypted payload.

    Only a hash of the token is kept, so the table alone lets nobody redeem anything;
    the payload is encrypted (it may carry personal data for a few seconds).
    """

    __tablename__ = "one_time_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    binding: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
