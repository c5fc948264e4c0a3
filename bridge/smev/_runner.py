"""The GetResponse runner: one per instance group and kind of information, under the scheduler's leases.

A kind registered with its response's root element is polled with a MessageTypeSelector under a lease of
its own; the kinds registered without one share one GetResponse without a selector (lease
``smev-get-response:any``) — a message's kind is then its request's, from the journal. Each round, for
every poller whose lease this instance holds (``JobRuns.acquire``: free, expired, or ours already), it
takes messages from СМЭВ's response queue until it is empty, and for
each one: a message whose ЭП-СМЭВ fails is acknowledged ``accepted=false`` and counted; one stored
before (СМЭВ redelivers what was not acknowledged; or this instance was killed before its Ack) is
acknowledged again, nothing applied; otherwise it is written to the store — matched to its request
by the original MessageID, in one transaction with the exchange's answer — and only then
acknowledged (``accepted=false`` when it answers nothing we sent). An Ack that fails after the
client's retries leaves the message unacknowledged (СМЭВ redelivers it); the drain goes on to the
messages behind it, passes over that one if it comes round again in the same drain (no message starves
behind one whose Ack keeps failing, though СМЭВ's visibility timeout be shorter than the failing Ack),
and ends if it comes round a third time. The round also
re-sends requests left ``sending`` (their sender died or met a transient failure; same MessageID) and
gives up on requests unanswered for ``dead_after_seconds``. A lease not renewed (the holder killed)
passes to another instance after ``lease_seconds``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from datetime import timedelta
from typing import Any

from lxml import etree

from bridge.errors import DeliveryError, SmevFault
from bridge.observability import get_logger
from bridge.scheduling import JobRuns
from bridge.smev._answers import AnswerRefused, ReceivedResponse
from bridge.smev._exchange import KindOfInformation, SmevExchange
from bridge.smev._metrics import SMEV_ANSWER_AGE, SMEV_DEAD, SMEV_LAST_POLL, SMEV_RECEIVED

__all__ = ["ANY_LEASE", "ResponseRunner", "lease_name"]

_log = get_logger("bridge.smev")
_FINAL_ASYNC = frozenset({"requestIsRejectedBySmev", "cancelled"})
_MAX_PER_ROUND = 200
_FORGET_EVERY = 600.0
ANY_LEASE = "smev-get-response:any"  # GetResponse without a selector, for the kinds registered without one


def lease_name(kind: KindOfInformation) -> str:
    """The job lease of one kind's runner (job_lease.name is 64 characters: a digest of the kind)."""
    digest = hashlib.sha256(f"{kind.kind}#{kind.root_element or ''}".encode()).hexdigest()[:16]
    return f"smev-get-response:{digest}"


class ResponseRunner:
    def __init__(self, exchange: SmevExchange, runs: JobRuns) -> None:
        self.exchange = exchange
        self.runs = runs
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_forget = 0.0
        self._ack_failed = False

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="smev-get-response", daemon=True)
        self._thread.start()

    def stop(self, deadline_seconds: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(deadline_seconds)
            self._thread = None
        for lease, _selector, _covered in self._pollers():
            self.runs.release(lease)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                taken = self.run_once()
            except Exception:  # the runner must outlive a bad round (the store away…): logged, tried again
                _log.exception("smev.runner_error")
                taken = 0
            if not taken:
                self._stopping.wait(self.exchange.settings.get_response_pause_seconds)

    # ------------------------------------------------------------------ one round

    def _pollers(self) -> list[tuple[str, KindOfInformation | None, tuple[str, ...]]]:
        """(lease, selector kind or None, kinds covered): one per kind with a response root element, and one
        GetResponse without a MessageTypeSelector for all the kinds registered without one."""
        kinds = list(self.exchange.kinds.values())
        pollers: list[tuple[str, KindOfInformation | None, tuple[str, ...]]] = [
            (lease_name(kind), kind, (kind.kind,)) for kind in kinds if kind.root_element]
        rootless = tuple(kind.kind for kind in kinds if not kind.root_element)
        if rootless:
            pollers.append((ANY_LEASE, None, rootless))
        return pollers

    def run_once(self) -> int:
        """One round over the pollers whose lease this instance holds; how many messages it took."""
        taken = 0
        held: list[str] = []
        for lease, selector, covered in self._pollers():
            if self._stopping.is_set() or not self.runs.acquire(lease):
                continue
            held.extend(covered)
            taken += self._drain(lease, selector, covered)
        if held:
            self._resend(tuple(held))
            self._expire(tuple(held))
            self._forget()
        return taken

    def _forget(self) -> None:
        """At most every ``_FORGET_EVERY`` seconds: sealed contents past their use, old rows (Journal.forget)."""
        if time.monotonic() < self._next_forget:
            return
        self._next_forget = time.monotonic() + _FORGET_EVERY
        settings = self.exchange.settings
        dropped, deleted = self.exchange.journal.forget(
            self.exchange.clock(), keep=timedelta(seconds=settings.answer_keep_seconds),
            purge_after=timedelta(days=settings.purge_after_days))
        if dropped or deleted:
            _log.info("smev.journal_forget", contents_dropped=dropped, rows_deleted=deleted)

    def _drain(self, lease: str, selector: KindOfInformation | None, covered: tuple[str, ...]) -> int:
        client = self.exchange.client
        taken = calls = 0
        unacknowledged: set[str] = set()  # this drain's messages whose Ack failed
        passed_over: set[str] = set()  # … and that came round again
        while calls < _MAX_PER_ROUND and not self._stopping.is_set():
            calls += 1
            try:
                received = (client.get_response(selector.kind, selector.root_element) if selector is not None
                            else client.get_response())
            except (AnswerRefused, SmevFault, DeliveryError) as exc:  # counted by the client; next round
                _log.warning("smev.get_response_failed", lease=lease, error=type(exc).__name__)
                return taken
            if received is None:
                for kind in covered:
                    SMEV_LAST_POLL.labels(kind).set(time.time())
                return taken
            if received.message_id in passed_over:
                return taken  # round twice: the node cycles through messages it cannot take Acks for
            if received.message_id in unacknowledged:
                # Its Ack failed in this drain and the node's visibility timeout passed since. Handed out again it is
                # hidden again: not tried now, so that the messages behind it get their turn; the next round tries.
                passed_over.add(received.message_id)
                continue
            taken += 1
            self._ack_failed = False
            self.handle(selector or self._kind_of(received), received)
            self.runs.renew(lease)
            if self._ack_failed:  # hidden at the node now: the drain goes on to the messages behind it
                unacknowledged.add(received.message_id)
        return taken

    def _kind_of(self, received: ReceivedResponse) -> KindOfInformation:
        """The kind of the request a message answers (from the journal); ``unknown`` for a stranger."""
        record = None if received.original_message_id is None else self.exchange.journal.find(
            received.original_message_id)
        if record is not None and record.kind in self.exchange.kinds:
            return self.exchange.kinds[record.kind]
        return KindOfInformation("unknown")

    def handle(self, kind: KindOfInformation, received: ReceivedResponse) -> str:
        """Store, then acknowledge one message; the outcome counted."""
        journal, now = self.exchange.journal, self.exchange.clock()
        if received.refused is not None:
            self._ack(kind, received, accepted=False)
            return self._count(kind, "refused", received)
        before = journal.received(received.message_id)
        if before is not None:
            if self._ack(kind, received, accepted=before.accepted):
                journal.acknowledged(received.message_id, self.exchange.clock())
            return self._count(kind, "redelivered", received)
        final, answer, status = self._read(kind, received)
        stored = journal.store(
            message_id=received.message_id, original_message_id=received.original_message_id, kind=kind.kind,
            now=now, answer=None if answer is None else self.exchange.seal_answer(answer), status=status, final=final)
        if stored.outcome == "answer":
            self.exchange.watch.nudge()  # a call parked on it in this process hears now, not at the next poll
        self.after_store(received.message_id)
        if self._ack(kind, received, accepted=stored.accepted):
            journal.acknowledged(received.message_id, self.exchange.clock())
        if stored.outcome in ("answer", "late") and stored.exchange is not None:
            age = stored.exchange.answer_age_seconds
            if age is not None:
                SMEV_ANSWER_AGE.labels(kind.kind).observe(age)
        return self._count(kind, stored.outcome, received)

    def _ack(self, kind: KindOfInformation, received: ReceivedResponse, *, accepted: bool) -> bool:
        """Ack one message; False when the Ack failed after the client's retries. The message is then left
        unacknowledged — stored already, if it was to be — and СМЭВ hands it out again after its visibility
        timeout, when it is found in the journal and acknowledged, never applied twice. The drain goes on to
        the messages behind it (``_drain``)."""
        try:
            self.exchange.client.ack(received.message_id, accepted=accepted)
        except (AnswerRefused, SmevFault, DeliveryError) as exc:  # counted by the client and the upstream
            _log.warning("smev.ack_failed", kind=kind.kind, message_id=received.message_id, error=type(exc).__name__)
            self._ack_failed = True
            return False
        return True

    def after_store(self, message_id: str) -> None:
        """Between storing a message and its Ack (a hook for tests that kill the process just there)."""

    @staticmethod
    def _read(kind: KindOfInformation, received: ReceivedResponse) -> tuple[bool, dict[str, Any] | None, str | None]:
        """(final?, the answer to seal, a status word for the journal)."""
        base: dict[str, Any] = {"message_id": received.message_id, "content": None, "rejected": False,
                                "status_code": None, "description": None}
        if received.content is not None:
            final = kind.is_final is None or bool(kind.is_final(received.content))
            return final, {**base, "content": etree.tostring(received.content, encoding="unicode")}, (
                None if final else "interim")
        if received.rejections:
            code, description = received.rejections[0]
            return True, {**base, "rejected": True, "status_code": code or None,
                          "description": description or None}, "rejected"
        if received.async_status is not None:
            if received.async_status in _FINAL_ASYNC:
                fault = received.async_fault
                return True, {**base, "rejected": True, "status_code": received.async_status,
                              "description": None if fault is None else fault.fault}, received.async_status
            return False, None, received.async_status
        if received.status_code is not None:
            return False, None, f"status {received.status_code}"
        return False, None, None  # pragma: no cover - read_get_response refuses anything else

    def _count(self, kind: KindOfInformation, outcome: str, received: ReceivedResponse) -> str:
        SMEV_RECEIVED.labels(kind.kind, outcome).inc()
        log = _log.warning if outcome in ("refused", "unmatched", "late", "extra") else _log.info
        log("smev.received", kind=kind.kind, outcome=outcome, message_id=received.message_id,
            original_message_id=received.original_message_id, problem=received.refused)
        return outcome

    # ------------------------------------------------------------------ housekeeping

    def _resend(self, kinds: tuple[str, ...]) -> None:
        for exchange_id in self.exchange.journal.to_send(self.exchange.clock(), kinds):
            with contextlib.suppress(SmevFault):  # made dead, counted and logged by send_pending
                self.exchange.send_pending(exchange_id)

    def _expire(self, kinds: tuple[str, ...]) -> None:
        dead_after = timedelta(seconds=self.exchange.settings.dead_after_seconds)
        for record in self.exchange.journal.expire(self.exchange.clock(), dead_after, kinds):
            SMEV_DEAD.labels(record.kind, "no-answer").inc()
            _log.error("smev.no_answer", kind=record.kind, exchange=record.id, message_id=record.message_id)
