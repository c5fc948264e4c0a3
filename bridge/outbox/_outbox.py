"""The outbox: replies committed to the store first, then delivered by workers with retries.

A caller adds a message inside its own transaction (``enqueue`` with its session), so the reply
and the caller's own changes commit together or not at all. Workers claim due messages under a
lease, call the handler registered for the message's kind, and record the outcome:

    pending ──claim (lease)──▶ handler ──▶ Delivered ─▶ delivered   (on_commit in the same transaction)
                                      ├──▶ Rejected  ─▶ rejected    (for good; reason kept)
                                      └──▶ Retry / exception ─▶ pending after a back-off,
                                                                  or dead after max_attempts

Delivery is at least once: a worker that dies mid-delivery leaves a lease that expires, and the
message is delivered again. Handlers send the message's idempotency key (``Idempotency-Key``)
so the upstream recognises the repeat; that is what makes the effect happen once.
The core names no upstream: handlers (in adapters) know where a kind of message goes.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bridge.errors import DeliveryError
from bridge.observability import get_logger
from bridge.outbox._claim import COLUMNS, TABLE, Lease, aware, claim, release, to_message
from bridge.outbox._delivery import RECORD_WINDOW, Answered, Policy, Prepare, Recorder
from bridge.outbox._metrics import OutboxCollector, register_collector, unregister_collector
from bridge.outbox._types import (
    DEAD,
    DELIVERED,
    PENDING,
    REPLAYABLE,
    STATES,
    Delivered,
    Enqueued,
    OutboxMessage,
    OutboxStats,
    Outcome,
    Rejected,
    Retry,
)
from bridge.outbox._workers import WorkerPool
from bridge.store import Store

_log = get_logger("bridge.outbox")
C = TABLE.c
Handler = Callable[[OutboxMessage], Outcome]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Messages to upstreams, kept in the store until an upstream acknowledges them.

    ``clock`` is injectable for tests; every instance of the bridge sharing one store should
    run on the same (real) time. ``lease_seconds`` must exceed the longest a handler may take
    (the upstream's whole retry budget); a worker hands back what it claimed but has not started
    once half of the lease is gone. Outcomes are written a group at a time, a group waiting at most
    ``record_window`` seconds (bridge/outbox/_delivery.py); 0 writes each on its own.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 12,
        backoff_initial: float = 1.0,
        backoff_max: float = 300.0,
        lease_seconds: float = 60.0,
        record_window: float = RECORD_WINDOW,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lease_seconds <= 0 or backoff_initial < 0 or backoff_max < backoff_initial:
            raise ValueError("need lease_seconds > 0 and 0 <= backoff_initial <= backoff_max")
        self._store = store
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.lease_seconds = lease_seconds
        self.record_window = record_window
        self._clock = clock
        self._handlers: dict[str, Handler] = {}
        self._prepares: dict[str, Prepare] = {}
        self._random = random.Random()
        self._random_lock = threading.Lock()

    # -- adding ---------------------------------------------------------------------------------

    def enqueue(
        self, session: Session, *, kind: str, payload: dict[str, Any], idempotency_key: str,
        aggregate: str | None = None, not_before: datetime | None = None,
    ) -> Enqueued:
        """Add a message in the caller's transaction (the caller commits or rolls back).

        A second message with the same ``idempotency_key`` adds nothing and returns the first one's
        id with ``duplicate=True``; a unique constraint keeps that true for concurrent callers
        (one of them waits for the other's commit on PostgreSQL).
        """
        _check_text("kind", kind, 64)
        _check_text("idempotency_key", idempotency_key, 128)
        if aggregate is not None:
            _check_text("aggregate", aggregate, 128)
        try:
            json.dumps(payload)
        except (TypeError, ValueError):
            raise TypeError("outbox payload must be a JSON-serialisable dict") from None
        now = self._now()
        # A scheduled message joins the queue when it falls due: created_at is then not_before, so
        # the oldest-pending age (and its alert) counts from the due time, not from the booking.
        due = now if not_before is None else max(now, not_before)
        message_id = str(uuid.uuid4())
        values = {
            "id": message_id, "kind": kind, "aggregate": aggregate, "idempotency_key": idempotency_key,
            "payload": payload, "state": PENDING, "attempts": 0, "next_attempt_at": due,
            "created_at": due, "updated_at": now,
        }
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - the store supports these two
            raise RuntimeError(f"the outbox does not support {dialect}")
        added = session.execute(
            insert(TABLE).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(C.id)
        ).scalar()
        if added is not None:
            return Enqueued(str(added), duplicate=False)
        first = session.execute(select(C.id).where(C.idempotency_key == idempotency_key)).scalar_one()
        return Enqueued(str(first), duplicate=True)

    # -- delivering -----------------------------------------------------------------------------

    def register(self, kind: str, handler: Handler, prepare: Prepare | None = None) -> None:
        """Deliver messages of ``kind`` with ``handler``. Only registered kinds are claimed.

        ``prepare(session, messages)``, if given, is called in the transaction that records a group
        of outcomes, once, before the ``on_commit`` callbacks of those ``messages`` run: the place
        to load in one query what each ``on_commit`` would otherwise fetch on its own. It is called
        whenever ``on_commit`` callbacks of ``kind`` run: with one message when outcomes are
        written one by one. If it raises, the group's outcomes are written one by one.
        """
        _check_text("kind", kind, 64)
        self._handlers[kind] = handler
        if prepare is None:
            self._prepares.pop(kind, None)
        else:
            self._prepares[kind] = prepare

    def run_once(self, worker_id: str, batch: int = 50) -> int:
        """Claim up to ``batch`` due messages, deliver them, return how many were processed."""
        return self._run(worker_id, batch, lambda: True)

    def start(self, workers: int = 2, poll_interval: float = 0.2, batch: int = 20) -> WorkerPool:
        """Threads delivering until ``WorkerPool.stop``."""
        return WorkerPool(self._run, workers, poll_interval, batch)

    def _run(self, worker_id: str, batch: int, may_continue: Callable[[], bool]) -> int:
        kinds = sorted(self._handlers)
        if not kinds or batch < 1:
            return 0
        _check_text("worker_id", worker_id, 64)
        now = self._now()
        # One connection for the batch: a session per transaction, no pool check-out (and ping) each time.
        with self._store.engine.connect() as connection:

            def sessions() -> Session:
                return Session(bind=connection, expire_on_commit=False)

            with sessions() as session:
                claimed = claim(session, worker=worker_id, now=now, lease_seconds=self.lease_seconds,
                                kinds=kinds, batch=batch)
                session.commit()
            hand_back_at = now + timedelta(seconds=self.lease_seconds / 2)
            processed = 0
            unstarted: list[Lease] = []
            with Recorder(sessions, Policy(self._now, self.max_attempts, self.backoff), self.record_window,
                          self._prepares) as recorder:
                for index, (lease, message) in enumerate(claimed):
                    if not may_continue() or self._now() >= hand_back_at:
                        unstarted = [held for held, _ in claimed[index:]]
                        break
                    started = time.perf_counter()
                    if lease.attempts > self.max_attempts:  # the last attempt's worker died: do not loop on a killer
                        outcome: Outcome = Retry("no worker finished the last attempt (its lease expired)",
                                                 code="lease_expired")
                    else:
                        with recorder.calling():
                            outcome = self._call(message)
                    recorder.add(Answered(lease, message, outcome, time.perf_counter() - started))
                    processed += 1
            if unstarted:   # after the outcomes are written
                self._release(sessions, unstarted)
        return processed

    def _release(self, sessions: Callable[[], Session], leases: list[Lease]) -> None:
        try:
            with sessions() as session:
                release(session, leases, self._now())
                session.commit()
        except Exception as exc:  # their leases expire instead
            _log.warning("outbox.release_failed", count=len(leases), error=type(exc).__name__)

    def _call(self, message: OutboxMessage) -> Outcome:
        handler = self._handlers[message.kind]
        try:
            outcome = handler(message)
        except DeliveryError as exc:  # its text names upstream and endpoint template only
            return Retry(str(exc), code=type(exc).__name__)
        except Exception as exc:  # never the text: it may carry personal data
            return Retry(type(exc).__name__, code=type(exc).__name__)
        if not isinstance(outcome, (Delivered, Rejected, Retry)):
            return Retry(f"handler returned {type(outcome).__name__}, not an Outcome", code="bad_outcome")
        return outcome

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` tries: doubling from backoff_initial, capped,
        with up to a quarter taken off at random so retries of many messages spread out."""
        base = min(self.backoff_max, self.backoff_initial * 2.0 ** min(max(attempts - 1, 0), 60))
        with self._random_lock:
            return base * (1.0 - 0.25 * self._random.random())

    # -- looking and mending --------------------------------------------------------------------

    def list(self, state: str | None = None, kind: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Messages in queue order (oldest first), optionally of one state and kind."""
        if state is not None:
            _check_state(state, STATES)
        query = select(*COLUMNS).order_by(C.seq).limit(max(1, min(limit, 10_000)))
        if state is not None:
            query = query.where(C.state == state)
        if kind is not None:
            query = query.where(C.kind == kind)
        with self._store.session() as session:
            return [to_message(row) for row in session.execute(query)]

    def get(self, message_id: str) -> OutboxMessage | None:
        with self._store.session() as session:
            row = session.execute(select(*COLUMNS).where(C.id == message_id)).first()
        return None if row is None else to_message(row)

    def find(self, idempotency_key: str) -> OutboxMessage | None:
        """The message enqueued under ``idempotency_key``, whatever its state (delivered included)."""
        with self._store.session() as session:
            row = session.execute(select(*COLUMNS).where(C.idempotency_key == idempotency_key)).first()
        return None if row is None else to_message(row)

    def replay(self, message_id: str) -> bool:
        """A dead or rejected message goes back to pending, due now, attempts reset. False otherwise."""
        with self._store.session() as session:
            result = session.execute(
                update(TABLE).where(C.id == message_id, C.state.in_(REPLAYABLE)).values(**self._fresh())
            )
            session.commit()
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def replay_many(
        self, state: str = DEAD, kind: str | None = None, progress: Callable[[int, int], None] | None = None,
        chunk: int = 500,
    ) -> int:
        """Replay every message in ``state`` (dead or rejected), of ``kind`` if given; progress(done, total)."""
        _check_state(state, REPLAYABLE)
        where = [C.state == state] + ([C.kind == kind] if kind is not None else [])
        with self._store.session() as session:
            total = int(session.execute(select(func.count()).select_from(TABLE).where(*where)).scalar_one())
        done, after = 0, -1
        if progress is not None:
            progress(0, total)
        while True:
            with self._store.session() as session:
                seqs = list(session.scalars(
                    select(C.seq).where(*where, C.seq > after).order_by(C.seq).limit(chunk)
                ))
                if not seqs:
                    break
                result = session.execute(update(TABLE).where(C.seq.in_(seqs), *where).values(**self._fresh()))
                session.commit()
            done += int(getattr(result, "rowcount", 0) or 0)
            after = seqs[-1]
            if progress is not None:
                progress(done, max(total, done))
        return done

    def drop(self, message_id: str) -> bool:
        """Delete a dead or rejected message (ops decided it is not to be delivered). False otherwise."""
        with self._store.session() as session:
            result = session.execute(delete(TABLE).where(C.id == message_id, C.state.in_(REPLAYABLE)))
            session.commit()
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def purge(self, older_than: timedelta) -> int:
        """Delete delivered messages delivered more than ``older_than`` ago (the table stays small)."""
        cutoff = self._now() - older_than
        with self._store.session() as session:
            result = session.execute(delete(TABLE).where(C.state == DELIVERED, C.delivered_at < cutoff))
            session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    def overdue(self, kind: str, older_than: timedelta) -> int:
        """Pending messages of ``kind`` due more than ``older_than`` ago (not yet delivered)."""
        cutoff = self._now() - older_than
        with self._store.session() as session:
            return int(session.execute(select(func.count()).select_from(TABLE).where(
                C.kind == kind, C.state == PENDING, C.created_at < cutoff)).scalar_one())

    def stats(self, *, delivered: bool = True) -> OutboxStats:
        """Messages by state; ``delivered=False`` leaves out the delivered ones (the scrape's reading: they
        only grow until the purge, and counting them reads the whole history — 10⁶ rows at every scrape)."""
        now = self._now()
        states = STATES if delivered else tuple(state for state in STATES if state != DELIVERED)
        with self._store.session() as session:
            counts = dict.fromkeys(states, 0)
            for state, count in session.execute(
                    select(C.state, func.count()).where(C.state.in_(states)).group_by(C.state)):
                counts[str(state)] = int(count)
            leased = session.execute(
                select(func.count()).select_from(TABLE).where(C.state == PENDING, C.locked_until > now)
            ).scalar_one()
            oldest = session.execute(
                select(func.min(C.created_at)).where(C.state == PENDING, C.created_at <= now)).scalar()
        age = None if oldest is None else max(0.0, (now - aware(oldest)).total_seconds())
        return OutboxStats(counts=counts, leased=int(leased), oldest_pending_age_seconds=age)

    def register_metrics(self) -> None:
        """Export queue sizes (read at scrape time) on the default registry; replaces an earlier outbox's."""
        register_collector(OutboxCollector(partial(self.stats, delivered=False)))

    @staticmethod
    def unregister_metrics() -> None:
        unregister_collector()

    # -- helpers --------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return aware(self._clock())

    def _fresh(self) -> dict[str, Any]:
        now = self._now()
        return {"state": PENDING, "attempts": 0, "next_attempt_at": now, "locked_by": None, "locked_until": None,
                "delivered_at": None, "updated_at": now}


def _check_text(name: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"outbox {name} must be a non-empty string of at most {limit} characters")


def _check_state(state: str, allowed: tuple[str, ...]) -> None:
    if state not in allowed:
        raise ValueError(f"state must be one of {', '.join(allowed)}")
