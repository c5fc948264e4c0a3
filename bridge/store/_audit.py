"""The audit journal (seed 003): who called what, on which objects, when, and how it ended.

Never the personal data itself: the client's configured name, the service and operation, the ids
the call named (application ids, visit ids…), the outcome and fault code, the request id. Entries
are written by a background thread in small batches (a SOAP call does not wait for the journal);
a process killed outright loses at most the last ``flush_seconds`` of entries, a stopped one none.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bridge.observability import get_logger
from bridge.store._engine import Store
from bridge.store._time import as_utc

_log = get_logger("bridge.audit")
_BATCH = 1000  # entries per INSERT … VALUES statement
_meta = sa.MetaData()
audit_table = sa.Table(
    "audit_entry", _meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("face", sa.String(16), nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("objects", sa.String(500)),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("faultcode", sa.String(64)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("remote", sa.String(64)),
)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    client: str
    face: str
    service: str
    operation: str
    objects: str | None
    outcome: str
    faultcode: str | None
    request_id: str | None
    remote: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


class AuditJournal:
    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 flush_seconds: float = 0.2) -> None:
        self._store = store
        self._clock = clock
        self._flush = flush_seconds
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=100_000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, *, client: str, face: str, service: str, operation: str, outcome: str,
               objects: str | None = None, faultcode: str | None = None, request_id: str | None = None,
               remote: str | None = None) -> None:
        row = {"at": self._clock(), "client": client[:64], "face": face[:16], "service": service[:64],
               "operation": operation[:64], "objects": (objects or None) and objects[:500], "outcome": outcome[:16],
               "faultcode": faultcode and faultcode[:64], "request_id": request_id and request_id[:64],
               "remote": remote and remote[:64]}
        self._ensure_writer()
        try:
            self._queue.put_nowait(row)
        except queue.Full:          # the store is away for long: write in the caller rather than lose it
            self._write([row])

    def flush(self) -> None:
        """Write everything queued now (tests, shutdown)."""
        rows = []
        while True:
            try:
                row = self._queue.get_nowait()
            except queue.Empty:
                break
            if row is not None:
                rows.append(row)
        if rows:
            self._write(rows)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
            self._thread = None
        self.flush()

    def search(self, *, client: str | None = None, service: str | None = None, operation: str | None = None,
               outcome: str | None = None, object_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        c = audit_table.c
        query = sa.select(audit_table).order_by(c.at.desc(), c.id.desc()).limit(limit)
        for column, value in ((c.client, client), (c.service, service), (c.operation, operation), (c.outcome, outcome)):
            if value is not None:
                query = query.where(column == value)
        if object_id is not None:
            query = query.where(c.objects.like(f"%{object_id}%"))
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at < until)
        with self._store.engine.connect() as db:
            rows = db.execute(query).all()
        return [AuditEntry(as_utc(r.at), r.client, r.face, r.service, r.operation, r.objects, r.outcome,
                           r.faultcode, r.request_id, r.remote) for r in rows]

    def purge(self, older_than: timedelta) -> int:
        with self._store.engine.begin() as db:
            return int(db.execute(audit_table.delete().where(audit_table.c.at < self._clock() - older_than)).rowcount)

    # --- the writer ---------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        """One transaction per ``flush_seconds`` at most: the first entry waits that long for others.

        Writing each entry as it came cost a transaction per SOAP call whenever calls were not
        arriving together (~0.2 ms of CPU each on SQLite, a round trip on PostgreSQL); the
        journal promises no more than that window, so the writer sleeps through it and then
        takes everything queued, and is not woken once per entry.
        """
        while True:
            try:
                first = self._queue.get(timeout=self._flush)
            except queue.Empty:
                continue
            if first is None:
                return
            time.sleep(self._flush)
            rows = [first]
            while True:
                try:
                    row = self._queue.get_nowait()
                except queue.Empty:
                    break
                if row is None:
                    self._write_batches(rows)
                    return
                rows.append(row)
            self._write_batches(rows)

    def _write_batches(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), _BATCH):
            self._write(rows[start:start + _BATCH])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self._store.engine.begin() as db:
                db.execute(audit_table.insert(), rows)
        except Exception:  # the journal must not take the bridge down; the failure is logged
            _log.exception("audit.write_failed", entries=len(rows))
