"""The adapter's own tables (alembic branch "egisz" in adapters/egisz/migrations)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class EgiszBase(DeclarativeBase):
    metadata = MetaData(naming_convention={"ix": "ix_%(column_0_label)s", "pk": "pk_%(table_name)s",
                                           "fk": "fk_%(table_name)s_%(column_0_name)s"})


class Application(EgiszBase):
    """An attachment application as the МИС sees it: searchable columns and the full card (JSON)."""

    __tablename__ = "egisz_application"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mo_oid: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    attachment_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    related_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    applied_on: Mapped[date] = mapped_column(Date)
    patient_guid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    snils: Mapped[str | None] = mapped_column(String(11), nullable=True)
    upstream_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    card: Mapped[dict[str, object]] = mapped_column(JSON)
    reply_pending: Mapped[str | None] = mapped_column(String(36), nullable=True)   # the outbox message in flight
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_egisz_application_search", "mo_oid", "applied_on"),
        Index("ix_egisz_application_snils", "snils"),
        Index("ix_egisz_application_patient", "patient_guid"),
        Index("ix_egisz_application_unanswered", "status", "applied_on"),
        Index("ix_egisz_application_related", "related_id"),
    )


class StatusChange(EgiszBase):
    """Every change of an application's status, with when and who."""

    __tablename__ = "egisz_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("egisz_application.id"), index=True)
    status: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
