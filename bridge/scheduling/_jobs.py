"""Leases and runs of jobs, in the store.

A lease (one row per job) says who may run the job now; the holder renews it while working and
loses it if it stops renewing (crashed, killed), so another instance can take over. A run records
the job's window and a resumable cursor: an interrupted run is resumed, not started again.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bridge.store import Store, as_utc
from bridge.store._jobs_schema import JobLease, JobRun

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"


class JobAlreadyRunning(Exception):
    """Another instance (or thread) holds the job's lease."""


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    name: str
    trigger: str
    holder: str
    slot: datetime | None
    state: str
    window_from: datetime | None
    window_to: datetime | None
    cursor: str | None
    processed: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: JobRun) -> RunRecord:
        return cls(row.id, row.name, row.trigger, row.holder, _aware(row.slot), row.state, _aware(row.window_from),
                   _aware(row.window_to),
                   row.cursor, row.processed, row.error, _aware(row.started_at) or row.started_at,
                   _aware(row.finished_at))


class JobRuns:
    @property
    def lease_seconds(self) -> float:
        return self._lease.total_seconds()

    def __init__(self, store: Store, holder: str, lease_seconds: float = 60.0) -> None:
        self._store = store
        self.holder = holder
        self._lease = timedelta(seconds=lease_seconds)

    # --- leases -------------------------------------------------------------------------------

    def acquire(self, name: str) -> bool:
        now = datetime.now(UTC)
        with self._store.session() as session:
            if session.get(JobLease, name) is None:
                session.add(JobLease(name=name, holder=None, held_until=None))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
            taken = _rowcount(session.execute(
                update(JobLease)
                .where(JobLease.name == name)
                .where((JobLease.holder.is_(None)) | (JobLease.held_until < now) | (JobLease.holder == self.holder))
                .values(holder=self.holder, held_until=now + self._lease)
            ))
            session.commit()
        return bool(taken)

    def renew(self, name: str) -> bool:
        now = datetime.now(UTC)
        with self._store.session() as session:
            kept = _rowcount(session.execute(
                update(JobLease).where(JobLease.name == name, JobLease.holder == self.holder)
                .values(held_until=now + self._lease)
            ))
            session.commit()
        return bool(kept)

    def release(self, name: str) -> None:
        with self._store.session() as session:
            session.execute(
                update(JobLease).where(JobLease.name == name, JobLease.holder == self.holder)
                .values(holder=None, held_until=None)
            )
            session.commit()

    # --- runs ---------------------------------------------------------------------------------

    def start(self, name: str, trigger: str, window: tuple[datetime | None, datetime | None],
              slot: datetime | None = None) -> RunRecord | None:
        """A new run (None when this schedule slot already has one), or the interrupted one to resume."""
        with self._store.session() as session:
            unfinished = session.scalars(
                select(JobRun).where(JobRun.name == name, JobRun.state.in_((RUNNING, INTERRUPTED)))
                .order_by(JobRun.started_at.desc())
            ).first()
            if unfinished is not None and (trigger == "schedule" or _same_window(unfinished, window)):
                # The lease is ours, so whoever was running it is gone: carry on where it stopped.
                unfinished.state, unfinished.holder = RUNNING, self.holder
                session.commit()
                return RunRecord.of(unfinished)
            run = JobRun(id=str(uuid.uuid4()), name=name, trigger=trigger, slot=slot, holder=self.holder,
                         window_from=window[0], window_to=window[1], state=RUNNING, processed=0,
                         started_at=datetime.now(UTC))
            session.add(run)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return None
            return RunRecord.of(run)

    def progress(self, run_id: str, cursor: str | None, processed: int) -> None:
        with self._store.session() as session:
            session.execute(update(JobRun).where(JobRun.id == run_id).values(cursor=cursor, processed=processed))
            session.commit()

    def finish(self, run_id: str, state: str, error: str | None = None) -> None:
        with self._store.session() as session:
            session.execute(update(JobRun).where(JobRun.id == run_id).values(
                state=state, error=(error or None) and error[:500], finished_at=datetime.now(UTC)))
            session.commit()

    def get(self, run_id: str) -> RunRecord | None:
        with self._store.session() as session:
            row = session.get(JobRun, run_id)
            return None if row is None else RunRecord.of(row)

    def last_success(self, name: str) -> RunRecord | None:
        with self._store.session() as session:
            row = session.scalars(
                select(JobRun).where(JobRun.name == name, JobRun.state == SUCCEEDED)
                .order_by(JobRun.window_to.desc(), JobRun.finished_at.desc())
            ).first()
            return None if row is None else RunRecord.of(row)

    def recent(self, name: str, limit: int = 20) -> list[RunRecord]:
        with self._store.session() as session:
            rows = session.scalars(
                select(JobRun).where(JobRun.name == name).order_by(JobRun.started_at.desc()).limit(limit))
            return [RunRecord.of(row) for row in rows]


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _same_window(run: JobRun, window: tuple[datetime | None, datetime | None]) -> bool:
    return (_aware(run.window_from), _aware(run.window_to)) == (window[0], window[1])


@dataclass
class JobContext:
    """What a job sees while it runs: its window, where to resume, and how to report progress."""

    run: RunRecord
    runs: JobRuns
    stopping: threading.Event

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        return self.run.window_from, self.run.window_to

    @property
    def cursor(self) -> str | None:
        return self.run.cursor

    def heartbeat(self, cursor: str | None, processed: int) -> None:
        """Record progress and keep the lease; raises JobAlreadyRunning if the lease was lost."""
        self.runs.progress(self.run.id, cursor, processed)
        if not self.runs.renew(self.run.name):
            raise JobAlreadyRunning(self.run.name)
