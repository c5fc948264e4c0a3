"""Tables of scheduled jobs: who holds a job now (a lease), and what each run did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.store._schema import Base


class JobLease(Base):
    """At most one holder per job name, until ``held_until``; renewed while the job runs."""

    __tablename__ = "job_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobRun(Base):
    """One run of a job: its window, progress (a resumable cursor), outcome and counts."""

    __tablename__ = "job_run"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    trigger: Mapped[str] = mapped_column(String(16))            # schedule, cli, admin, soap
    slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # the schedule's time
    holder: Mapped[str] = mapped_column(String(128))
    window_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    state: Mapped[str] = mapped_column(String(16))              # running, succeeded, failed, interrupted
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    # One run per schedule slot, however many instances wake up for it.
    __table_args__ = (Index("uq_job_run_slot", "name", "slot", unique=True),)
