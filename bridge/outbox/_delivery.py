"""Recording what the handlers answered: the outcomes of a claimed batch, a group at a time.

A worker calls the handlers of its claimed messages one after another. Writing each outcome in
a transaction of its own made the store's commit the largest single cost of a delivery (one
commit, one flush of the ORM, one round of statements per message). So the outcomes are kept
for a moment and written together, in **one transaction**, once the oldest of them has waited
``window`` seconds, and in any case when the batch is done. Against a fast upstream that is one
commit per claimed batch; against a slow one (calls longer than the window) one commit per
delivery, as before.

No outcome waits for a slow call to end: once a call has run for the window with outcomes waiting
(an upstream gone slow, retrying within its budget), a helper thread of the batch writes them
meanwhile, so none waits more than about twice the window. The two threads take turns on the
batch's connection under one lock; the handler's call itself never touches that connection.

What a group transaction does, in order: mark the delivered messages (one UPDATE for all of them
that returns the ones whose lease still holds), mark the rejected and the retried ones, call each
kind's ``prepare`` (if its handler was registered with one) once with that kind's messages whose
``on_commit`` is to run, then run those ``on_commit`` callbacks, then commit. ``prepare`` is where a
handler loads in one query what every ``on_commit`` of the group will read (an ORM object fetched
per message cost ~0.3 ms of CPU each; one query for twenty, ~0.02 ms each).

Nothing changes in what a message's outcome means:

- A message whose lease was lost is not marked, and its ``on_commit`` does not run.
- If anything in the group fails (an ``on_commit`` raises, the store errs), the whole transaction
  is rolled back and the outcomes are written **one by one** in transactions of their own, as
  without grouping: one failing ``on_commit`` becomes a retry of its own message
  (``on_commit_failed``) and holds no other message back.
- A message is still pending while its outcome waits to be written, so a newer message of the
  same aggregate is not claimed before it (the claim's ordering rule).
- Delivery stays at least once: a worker that dies with outcomes not yet written leaves leases
  that expire, and those messages are delivered again under the same idempotency keys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import tuple_, update
from sqlalchemy.orm import Session

from bridge.observability import get_logger
from bridge.outbox._claim import TABLE, Lease, finish
from bridge.outbox._metrics import DELIVERIES, DELIVERY_SECONDS
from bridge.outbox._types import (
    DEAD,
    DELIVERED,
    PENDING,
    REJECTED,
    Delivered,
    OnCommit,
    OutboxMessage,
    Outcome,
    Rejected,
    Retry,
    clip,
)

_log = get_logger("bridge.outbox")
C = TABLE.c
#: Longest an outcome waits to be written with others (seconds).
RECORD_WINDOW = 0.05
#: Results counted in bridge_outbox_deliveries_total (lease_lost and not_recorded are only logged).
_COUNTED = frozenset(("delivered", "rejected", "retry", "dead"))


@dataclass(frozen=True, slots=True)
class Answered:
    """One message's handler has answered; its outcome is not written yet."""

    lease: Lease
    message: OutboxMessage
    outcome: Outcome
    elapsed: float          # seconds the handler took


#: ``prepare(session, messages)``: load, in the group's transaction, what their ``on_commit`` will read.
Prepare = Callable[[Session, Sequence[OutboxMessage]], None]


@dataclass(frozen=True, slots=True)
class Policy:
    """What recording needs to know of the outbox: the time, when a message is dead, its back-off."""

    now: Callable[[], datetime]
    max_attempts: int
    backoff: Callable[[int], float]


class Recorder:
    """Collects the answered messages of one claimed batch and writes their outcomes in groups.

    Use it as a context manager around the batch, each handler's call inside :meth:`calling`:
    leaving the ``with`` writes what is still waiting and ends the helper thread, if one was started.
    """

    def __init__(self, sessions: Callable[[], Session], policy: Policy, window: float = RECORD_WINDOW,
                 prepares: Mapping[str, Prepare] | None = None) -> None:
        self._sessions = sessions
        self._policy = policy
        self._window = window
        self._prepares = prepares or {}
        self._waiting: list[Answered] = []
        self._oldest = 0.0
        self._lock = threading.Lock()                     # the waiting list and the batch's connection
        self._changed = threading.Condition(self._lock)
        self._in_call = False
        self._closed = False
        self._helper: threading.Thread | None = None
        self._helper_idle = False
        self._call_started = 0.0

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def add(self, answered: Answered) -> None:
        """Keep one outcome; write the group once its oldest outcome has waited ``window``, or at
        once after a call that took longer than that (a slow upstream: the next call would be too)."""
        DELIVERY_SECONDS.labels(answered.message.kind).observe(answered.elapsed)
        with self._lock:
            now = time.monotonic()
            if not self._waiting:
                self._oldest = now
            self._waiting.append(answered)
            if now - self._oldest >= self._window or answered.elapsed >= self._window:
                self._flush()

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Around one handler's call: if outcomes are waiting and this call runs for the window, the
        helper thread writes them without waiting for the call to end."""
        with self._lock:
            self._in_call = True
            self._call_started = time.monotonic()
            if self._waiting:
                if self._helper is None:
                    self._helper = threading.Thread(target=self._write_during_calls, name="outbox-recorder",
                                                    daemon=True)
                    self._helper.start()
                elif self._helper_idle:         # a helper waiting on a timer wakes by itself
                    self._changed.notify()
        try:
            yield
        finally:
            with self._lock:
                self._in_call = False

    def close(self) -> None:
        """Write what is waiting; end the helper thread."""
        with self._lock:
            self._closed = True
            self._changed.notify()
            helper = self._helper
        if helper is not None:
            helper.join()
        with self._lock:
            self._flush()

    def _write_during_calls(self) -> None:
        # It writes only once the call under way has itself run for the window: against a fast
        # upstream the worker writes every group and this thread only wakes about once a window
        # (its cost: docs/performance.md, the fourth round). calling() wakes it only from the
        # untimed wait.
        with self._lock:
            while not self._closed:
                if not (self._in_call and self._waiting):
                    self._helper_idle = True
                    self._changed.wait()
                    self._helper_idle = False
                    continue
                due = max(self._oldest, self._call_started) + self._window - time.monotonic()
                if due > 0:
                    self._changed.wait(due)
                else:
                    self._flush()

    def _flush(self) -> None:
        """Write every outcome kept so far (the lock held)."""
        group, self._waiting = self._waiting, []
        if not group:
            return
        try:
            results = self._write_group(group)
        except Exception as exc:
            _log.info("outbox.group_failed", count=len(group), error=type(exc).__name__)
            results = [self._write_one(answered) for answered in group]
        for answered, result in zip(group, results, strict=True):
            _report(answered, result)

    # -- one transaction for the group ------------------------------------------------------------

    def _write_group(self, group: Sequence[Answered]) -> list[str]:
        now = self._policy.now()
        with self._sessions() as session:
            delivered = [a.lease for a in group if isinstance(a.outcome, Delivered)]
            held = _mark_delivered(session, delivered, now) if delivered else set()
            results: list[str] = []
            for answered in group:
                outcome, lease = answered.outcome, answered.lease
                if isinstance(outcome, Delivered):
                    result = DELIVERED if lease.seq in held else "lease_lost"
                elif isinstance(outcome, Rejected):
                    marked = finish(session, lease, now=now, state=REJECTED, code=_code(outcome.code),
                                    error=clip(outcome.reason))
                    result = REJECTED if marked else "lease_lost"
                else:
                    result = self._mark_retry(session, lease, outcome, now)
                results.append(result)
            callbacks: list[tuple[OutboxMessage, OnCommit]] = []
            for answered, result in zip(group, results, strict=True):
                outcome = answered.outcome
                if result in (DELIVERED, REJECTED) and not isinstance(outcome, Retry) and outcome.on_commit:
                    callbacks.append((answered.message, outcome.on_commit))
            self._prepare(session, [message for message, _ in callbacks])
            for _, on_commit in callbacks:
                on_commit(session)
            session.commit()
        return results

    # -- one transaction per message (without grouping, and when a group fails) ----------------

    def _write_one(self, answered: Answered) -> str:
        outcome, lease = answered.outcome, answered.lease
        try:
            if isinstance(outcome, (Delivered, Rejected)):
                try:
                    return self._write_final(answered, outcome)
                except _OnCommitFailed as failed:
                    outcome = Retry(f"on_commit raised {failed.error}", code="on_commit_failed")
            with self._sessions() as session:
                result = self._mark_retry(session, lease, outcome, self._policy.now())
                session.commit()
            return result
        except Exception as exc:  # the store failed: the lease expires and the message is delivered again
            _log.warning("outbox.record_failed", id=answered.message.id, kind=answered.message.kind,
                         error=type(exc).__name__)
            return "not_recorded"

    def _prepare(self, session: Session, messages: Sequence[OutboxMessage]) -> None:
        """Each kind's ``prepare``, once, with that kind's messages (in group order)."""
        if not self._prepares or not messages:
            return
        by_kind: dict[str, list[OutboxMessage]] = {}
        for message in messages:
            if message.kind in self._prepares:
                by_kind.setdefault(message.kind, []).append(message)
        for kind, of_kind in by_kind.items():
            self._prepares[kind](session, of_kind)

    def _write_final(self, answered: Answered, outcome: Delivered | Rejected) -> str:
        with self._sessions() as session:
            state = DELIVERED if isinstance(outcome, Delivered) else REJECTED
            code = _code(outcome.code) if isinstance(outcome, Rejected) else None
            error = clip(outcome.reason) if isinstance(outcome, Rejected) else None
            if not finish(session, answered.lease, now=self._policy.now(), state=state, code=code, error=error):
                session.rollback()
                return "lease_lost"
            if outcome.on_commit is not None:
                try:
                    self._prepare(session, [answered.message])
                    outcome.on_commit(session)
                except Exception as exc:
                    # The caller's changes failed: nothing is committed, so deliver again later
                    # (the upstream sees the same idempotency key).
                    session.rollback()
                    raise _OnCommitFailed(type(exc).__name__) from exc
            session.commit()
            return state

    def _mark_retry(self, session: Session, lease: Lease, outcome: Retry, now: datetime) -> str:
        dead = lease.attempts >= self._policy.max_attempts
        held = finish(
            session, lease, now=now, state=DEAD if dead else PENDING,
            next_attempt_at=now + timedelta(seconds=self._policy.backoff(lease.attempts)),
            code=_code(outcome.code), error=clip(outcome.reason),
        )
        if not held:
            return "lease_lost"
        return "dead" if dead else "retry"


class _OnCommitFailed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _mark_delivered(session: Session, leases: Sequence[Lease], now: datetime) -> set[int]:
    """Mark delivered every message whose lease still holds, in one statement; their seqs."""
    keys = [(lease.seq, lease.worker, lease.attempts) for lease in leases]
    statement = (
        update(TABLE)
        .where(tuple_(C.seq, C.locked_by, C.attempts).in_(keys), C.state == PENDING)
        .values(state=DELIVERED, locked_by=None, locked_until=None, updated_at=now, delivered_at=now)
        .returning(C.seq)
    )
    return {int(seq) for seq in session.scalars(statement)}


def _report(answered: Answered, result: str) -> None:
    message, outcome = answered.message, answered.outcome
    if result in _COUNTED:
        DELIVERIES.labels(message.kind, result).inc()
    fields: dict[str, Any] = {
        "id": message.id, "kind": message.kind, "attempt": answered.lease.attempts, "outcome": result,
        "error_code": None if isinstance(outcome, Delivered) else outcome.code,
        "elapsed_ms": round(answered.elapsed * 1000, 1),
    }
    _log.info("outbox.delivery", **fields)


def _code(code: str) -> str:
    return code[:64]
