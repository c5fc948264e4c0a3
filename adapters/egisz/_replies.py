"""Replies to applications: seed 002 §5's rules, the outbox, and the acknowledgement.

A reply that passes the rules is queued in the outbox in the same transaction that marks the
application as awaiting delivery; the status moves only when ЕГИСЗ acknowledges. A reply ЕГИСЗ
refuses keeps its reason on the card.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.egisz._applications import Applications, add_history
from adapters.egisz._client import AttachmentUpstream, ReplyRejected
from adapters.egisz._model import (
    ALLOWED_OUTCOMES,
    CANCEL_ERROR,
    CANCELLED,
    CANCELLING,
    REFUSAL_REASONS,
    REFUSED,
    SERVICE_PROVIDED,
    ApplicationType,
    Outcome,
)
from adapters.egisz._schema import Application
from bridge.delivery import UpstreamUnavailable
from bridge.errors import InvalidField, RuleViolation
from bridge.identifiers import snils_checksum_ok
from bridge.outbox import Delivered, Outbox, OutboxMessage, Rejected, Retry
from bridge.store import Store

KIND = "egisz.reply"
REPLIES = Counter("bridge_egisz_replies_total", "Replies to applications by outcome and result "
                  "(queued, acknowledged, refused by ЕГИСЗ).", ["outcome", "result"])
_FINAL = (SERVICE_PROVIDED, REFUSED, CANCELLED)
_LOADED = "egisz.replies.applications"


@dataclass(frozen=True, slots=True)
class Doctor:
    """The district doctor of «Услуга оказана», as SAMSON sends it: separate name parts, SNILS, specialty."""

    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    snils: str | None = None
    specialty: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    comment: str | None = None
    district: str | None = None
    doctor: Doctor = Doctor()
    refusal_reason_code: int | None = None
    reply_date: str | None = None        # ДД.ММ.ГГГГ (detachment)
    employee: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    duplicate: bool
    status: int


def _required(value: str | None, field: str, rule: str) -> str:
    if value is None or not value.strip():
        raise RuleViolation(rule, f"поле {field} обязательно")
    return value.strip()


def _reply_date(value: str) -> str:
    try:
        return datetime.strptime(value, "%d.%m.%Y").date().isoformat()
    except ValueError:
        raise InvalidField("ReplyDate", "ожидается существующая дата в формате ДД.ММ.ГГГГ") from None


def check(application: Application, reply: Reply,
          related_type: ApplicationType | None = None) -> tuple[str, dict[str, Any]]:
    """Seed 002's rules: the task to answer upstream and the reply body, or a RuleViolation.

    ``related_type``: for a cancellation, the type of the application it cancels. A cancellation
    of a detachment can only be refused (SAMSON: «Заявление на отмену открепления выполнить нельзя,
    его можно только отклонить»), and that answer is final.
    """
    kind = ApplicationType(application.type)
    employee = _required(reply.employee, "Employee", "EmployeeRequired")
    comment = _required(reply.comment, "Comment", "CommentRequired")
    allowed = ALLOWED_OUTCOMES[kind]
    target = application.id
    cancels_detachment = kind is ApplicationType.CANCELLATION and related_type is ApplicationType.DETACHMENT
    if application.status in _FINAL or (cancels_detachment and application.status == CANCEL_ERROR):
        raise RuleViolation("AlreadyAnswered", "на заявление уже дан окончательный ответ")
    if cancels_detachment:
        allowed = (Outcome.CANCEL_FAILED,)
        if reply.outcome is Outcome.CANCEL_APPROVED:
            raise RuleViolation("OutcomeNotAllowed",
                                "отмену заявления об откреплении выполнить нельзя, можно только отклонить: "
                                "CANCEL_FAILED")
    elif kind is ApplicationType.CANCELLATION and application.status == CANCEL_ERROR:
        # After «Ошибка отмены» the next reply is the choice-of-MO result, for the original choice.
        allowed = ALLOWED_OUTCOMES[ApplicationType.CHOICE]
        target = application.related_id or application.id
    elif kind is ApplicationType.CHOICE and application.status == CANCELLING:
        raise RuleViolation("CancellationPending", "по заявлению получена отмена: сначала ответьте на отмену")
    elif kind is ApplicationType.CHOICE and application.status == CANCEL_ERROR:
        raise RuleViolation("AnswerThroughCancellation",
                            "после ошибки отмены ответ на выбор МО даётся в заявлении об отмене")
    if reply.outcome not in allowed:
        names = ", ".join(o.value for o in allowed)
        raise RuleViolation("OutcomeNotAllowed", f"для «{kind.label}» допустимы: {names}")
    # SAMSON's columns of soc_AttachMO_Task (docs/egisz-upstream.md, «Reply»).
    body: dict[str, Any] = {"status": reply.outcome.upstream_status, "statusComment": comment,
                            "employee": employee}
    if reply.outcome is Outcome.SERVICE_PROVIDED:
        doctor = reply.doctor
        body["PractitionerArea"] = _required(reply.district, "DistrictNumber", "DistrictRequired")
        body["PractitionerSurname"] = _required(doctor.last_name, "DoctorLastName", "DoctorRequired")
        body["PractitionerName"] = _required(doctor.first_name, "DoctorFirstName", "DoctorRequired")
        if doctor.middle_name and doctor.middle_name.strip():
            body["PractitionerPatronymic"] = doctor.middle_name.strip()
        body["PractitionerSNILS"] = _snils(_required(doctor.snils, "DoctorSnils", "DoctorRequired"))
        body["PractitionerSpecialityName"] = _required(doctor.specialty, "DoctorSpecialty", "DoctorRequired")
    elif reply.outcome is Outcome.REFUSED:
        if reply.refusal_reason_code is None:
            raise RuleViolation("RefusalReasonRequired", "поле RefusalReasonCode обязательно")
        if reply.refusal_reason_code < 1:
            raise InvalidField("RefusalReasonCode", "ожидается код причины отказа (целое число от 1)")
        body["reasonReject_id"] = reply.refusal_reason_code
    elif reply.outcome is Outcome.DETACHED:
        body["dateCompleted"] = _reply_date(_required(reply.reply_date, "ReplyDate", "ReplyDateRequired"))
    return target, body


def _snils(value: str) -> str:
    digits = value.replace("-", "").replace(" ", "")
    if not snils_checksum_ok(digits):
        raise InvalidField("DoctorSnils", "ожидается СНИЛС врача: 11 цифр с верной контрольной суммой")
    return digits


class Replies:
    def __init__(self, store: Store, outbox: Outbox, applications: Applications, upstream: AttachmentUpstream) -> None:
        self._store = store
        self._outbox = outbox
        self._applications = applications
        self._upstream = upstream
        outbox.register(KIND, self.deliver, prepare=self._load_applications)

    def submit(self, mo_oids: tuple[str, ...], application_id: str, reply: Reply) -> Receipt:
        with self._store.session() as session:
            application = self._applications.get(session, mo_oids, application_id, for_update=True)
            key = reply.idempotency_key or _derived_key(application_id, reply)
            earlier = self._outbox.find(key)
            if earlier is not None:
                # The same reply again (a МИС retry after a timeout), delivered or not: a no-op.
                if earlier.payload.get("application_id") != application_id:
                    raise RuleViolation("IdempotencyKeyReused",
                                        "этот IdempotencyKey уже использован для другого заявления")
                return Receipt(earlier.id, True, application.status)
            if application.reply_pending:
                pending = self._outbox.get(application.reply_pending)
                if pending is not None and pending.idempotency_key == key:
                    return Receipt(pending.id, True, application.status)
                if pending is not None and pending.state == "pending":
                    raise RuleViolation("ReplyPending", "предыдущий ответ ещё доставляется в ЕГИСЗ")
            related = session.get(Application, application.related_id) if application.related_id else None
            target, body = check(application, reply, ApplicationType(related.type) if related is not None else None)
            payload = {"application_id": application_id, "task_id": target, "outcome": reply.outcome.value,
                       "reply": body}
            queued = self._outbox.enqueue(session, kind=KIND, payload=payload, idempotency_key=key,
                                          aggregate=application_id)
            if not queued.duplicate:
                application.reply_pending = queued.id
                application.updated_at = datetime.now(UTC)
                add_history(session, application_id, application.status, body["employee"],
                            f"ответ «{reply.outcome.label}» отправляется в ЕГИСЗ")
            session.commit()
            REPLIES.labels(reply.outcome.value, "queued").inc()
            return Receipt(queued.id, queued.duplicate, application.status)

    # --- delivery (outbox handler) -------------------------------------------------------------

    def deliver(self, message: OutboxMessage) -> Delivered | Rejected | Retry:
        payload = message.payload
        try:
            self._upstream.send_reply(payload["task_id"], payload["reply"], message.idempotency_key)
        except ReplyRejected as exc:
            refusal = exc  # `exc` is unbound once the except block ends; the callback runs later
            return Rejected(refusal.code, refusal.detail, on_commit=lambda s: self._refused(s, message, refusal))
        except UpstreamUnavailable as exc:
            return Retry(f"ЕГИСЗ недоступна ({type(exc).__name__})")
        return Delivered(on_commit=lambda s: self._acknowledged(s, message))

    @staticmethod
    def _load_applications(session: Session, messages: Sequence[OutboxMessage]) -> None:
        """The applications (and those they relate to) that a group's acknowledgements update, in
        one query each, kept in the session so that ``session.get`` finds them without a query."""
        ids = {message.payload["application_id"] for message in messages}
        loaded = {a.id: a for a in session.scalars(select(Application).where(Application.id.in_(ids)))}
        related = {a.related_id for a in loaded.values() if a.related_id} - loaded.keys()
        if related:
            loaded.update({a.id: a for a in session.scalars(select(Application).where(Application.id.in_(related)))})
        # The session's identity map holds objects weakly: this keeps them for the callbacks.
        session.info[_LOADED] = loaded

    def _acknowledged(self, session: Session, message: OutboxMessage) -> None:
        payload = message.payload
        reply = payload["reply"]
        outcome = Outcome(payload.get("outcome") or reply["outcome"])
        application = session.get(Application, payload["application_id"])
        if application is None:
            return
        now = datetime.now(UTC)
        card = dict(application.card)
        card.update({k: v for k, v in _card_fields(reply).items() if v is not None or k == "LastReplyError"})
        card["ReplyOutcome"] = outcome.value
        if application.type == ApplicationType.CANCELLATION.value and outcome in (
                Outcome.CANCEL_APPROVED, Outcome.CANCEL_FAILED):
            card["CancelResult"] = outcome.label
        application.card, application.status = card, outcome.status
        application.reply_pending, application.updated_at = None, now
        add_history(session, application.id, outcome.status, reply["employee"],
                    f"ЕГИСЗ приняла ответ «{outcome.label}»")
        related = session.get(Application, application.related_id) if application.related_id else None
        if related is not None and related.type != ApplicationType.DETACHMENT.value:
            # A cancellation of a detachment leaves the detachment as it is: it must still be executed.
            follow = {Outcome.CANCEL_APPROVED: CANCELLED, Outcome.CANCEL_FAILED: CANCEL_ERROR}.get(
                outcome, outcome.status)
            related.status, related.updated_at = follow, now
            add_history(session, related.id, follow, reply["employee"], f"по отмене: «{outcome.label}»")
        REPLIES.labels(outcome.value, "acknowledged").inc()

    def _refused(self, session: Session, message: OutboxMessage, exc: ReplyRejected) -> None:
        application = session.get(Application, message.payload["application_id"])
        if application is None:
            return
        card = dict(application.card)
        card["LastReplyError"] = {"Code": exc.code, "Detail": exc.detail, "At": datetime.now(UTC).isoformat()}
        application.card, application.reply_pending = card, None
        add_history(session, application.id, application.status, "ЕГИСЗ",
                    f"ЕГИСЗ отклонила ответ: {exc.code}")
        REPLIES.labels(message.payload.get("outcome") or message.payload["reply"]["outcome"], "refused").inc()


def _card_fields(reply: dict[str, Any]) -> dict[str, Any]:
    """The card's reply fields from an acknowledged reply body (SAMSON's column names)."""
    doctor = [reply.get(k) for k in ("PractitionerSurname", "PractitionerName", "PractitionerPatronymic")]
    code = reply.get("reasonReject_id")
    completed = reply.get("dateCompleted")
    return {
        "ReplyComment": reply.get("statusComment"), "DistrictNumber": reply.get("PractitionerArea"),
        "DoctorLastName": doctor[0], "DoctorFirstName": doctor[1], "DoctorMiddleName": doctor[2],
        "DoctorName": " ".join(p for p in doctor if p) or None,
        "DoctorSnils": reply.get("PractitionerSNILS"), "DoctorSpecialty": reply.get("PractitionerSpecialityName"),
        "DoctorPosition": reply.get("PractitionerSpecialityName"),
        "RefusalReasonCode": code, "RefusalReason": REFUSAL_REASONS.get(code) if isinstance(code, int) else None,
        "ReplyDate": completed, "RespondingEmployee": reply.get("employee"), "LastReplyError": None,
    }


def _derived_key(application_id: str, reply: Reply) -> str:
    fields = {k: v for k, v in asdict(reply).items() if k != "idempotency_key"}
    fields["outcome"] = reply.outcome.value
    canonical = json.dumps({"application": application_id, **fields}, sort_keys=True, ensure_ascii=False)
    return "egisz-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
