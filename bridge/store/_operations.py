"""The journal of non-idempotent upstream operations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bridge.store._engine import Store
from bridge.store._schema import UpstreamOperation
from bridge.store._time import as_utc

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(frozen=True, slots=True)
class OperationRecord:
    id: str
    idempotency_key: str
    reused: bool


class OperationJournal:
    def __init__(self, store: Store, reuse_window: timedelta = timedelta(minutes=15)) -> None:
        self._store = store
        self._window = reuse_window

    def pending(self, upstream: str, kind: str, subject: str) -> OperationRecord | None:
        """The operation in flight for the subject (what ``begin`` would reuse), or None."""
        with self._store.session() as session:
            pending = session.scalars(select(UpstreamOperation).where(
                UpstreamOperation.upstream == upstream, UpstreamOperation.kind == kind,
                UpstreamOperation.subject == subject, UpstreamOperation.state == PENDING)).first()
            if pending is None or datetime.now(UTC) - as_utc(pending.created_at) > self._window:
                return None
            return OperationRecord(pending.id, pending.idempotency_key, reused=True)

    def begin(self, upstream: str, kind: str, subject: str) -> OperationRecord:
        """Start an operation, or reuse the pending one for the same subject.

        Two МИС calls for the same person racing each other end up with one pending
        operation: the partial unique index refuses the second insert, which then reads
        the winner's key.
        """
        now = datetime.now(UTC)
        for _ in range(3):
            with self._store.session() as session:
                pending = session.scalars(
                    select(UpstreamOperation).where(
                        UpstreamOperation.upstream == upstream,
                        UpstreamOperation.kind == kind,
                        UpstreamOperation.subject == subject,
                        UpstreamOperation.state == PENDING,
                    )
                ).first()
                if pending is not None:
                    if now - as_utc(pending.created_at) <= self._window:
                        return OperationRecord(pending.id, pending.idempotency_key, reused=True)
                    pending.state = FAILED
                    pending.error_code = "abandoned"
                    pending.updated_at = now
                    session.commit()
                op = UpstreamOperation(
                    id=str(uuid.uuid4()),
                    upstream=upstream,
                    kind=kind,
                    subject=subject,
                    idempotency_key=str(uuid.uuid4()),
                    state=PENDING,
                    created_at=now,
                    updated_at=now,
                )
                session.add(op)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return OperationRecord(op.id, op.idempotency_key, reused=False)
        raise RuntimeError("could not record the upstream operation")  # pragma: no cover

    def finish(self, operation_id: str, succeeded: bool, error_code: str | None = None) -> None:
        with self._store.session() as session:
            session.execute(
                update(UpstreamOperation)
                .where(UpstreamOperation.id == operation_id)
                .values(
                    state=SUCCEEDED if succeeded else FAILED,
                    error_code=error_code,
                    updated_at=datetime.now(UTC),
                )
            )
            session.commit()

    def state_of(self, operation_id: str) -> str | None:
        with self._store.session() as session:
            op = session.get(UpstreamOperation, operation_id)
            return None if op is None else op.state

