"""What every face of the ЕГИСЗ adapter does (SOAP, CLI, admin API), for one МИС client's MOs."""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.egisz._applications import Applications, SearchCriteria, status_label
from adapters.egisz._intake import JOB, parse_window
from adapters.egisz._model import RELATION_CODES, RELATIONS, ApplicationType, Outcome
from adapters.egisz._replies import Doctor, Replies, Reply
from bridge.errors import Conflict, InvalidField
from bridge.outbox import Outbox
from bridge.scheduling import JobAlreadyRunning, Scheduler
from bridge.soap import current_caller
from bridge.store import Store


class Attachments:
    def __init__(self, store: Store, applications: Applications, replies: Replies, outbox: Outbox,
                 scheduler: Scheduler, mo_oids: tuple[str, ...]) -> None:
        self._store = store
        self._applications = applications
        self._replies = replies
        self._outbox = outbox
        self._scheduler = scheduler
        self.mo_oids = mo_oids

    def _mos(self) -> tuple[str, ...]:
        """The MOs of this call: those configured, narrowed to the calling МИС client's own (docs/security.md).
        A client never sees or answers another MO's application: to it, such an id does not exist."""
        allowed = current_caller().mos
        return self.mo_oids if allowed is None else tuple(m for m in self.mo_oids if m in allowed)

    def search(self, since: date, until: date, *, patient_guid: str | None = None, snils: str | None = None,
               type: str | None = None, attachment_type: str | None = None,
               status: int | None = None) -> list[dict[str, Any]]:
        criteria = SearchCriteria(since, until, patient_guid, snils, ApplicationType(type) if type else None,
                                  attachment_type, status)
        with self._store.session() as session:
            found = self._applications.search(session, self._mos(), criteria)
            return [{
                "Id": a.id,
                "FullName": " ".join(str(p) for p in (a.card.get("LastName"), a.card.get("FirstName"),
                                                      a.card.get("MiddleName")) if p),
                "Snils": a.snils, "AttachmentType": a.attachment_type,
                "ApplicationDate": a.applied_on.strftime("%d.%m.%Y"), "ApplicationType": a.type,
                "Status": a.status, "StatusName": status_label(a.status),
            } for a in found]

    def card(self, application_id: str) -> dict[str, Any]:
        if not application_id:
            raise InvalidField("Id", "обязательное поле не заполнено")
        with self._store.session() as session:
            a = self._applications.get(session, self._mos(), application_id)
            history = self._applications.history(session, a.id)
            pending = self._outbox.get(a.reply_pending) if a.reply_pending else None
            card = {k: v for k, v in a.card.items() if k != "DataWarnings"}
            card.update({
                "Id": a.id, "ApplicationType": a.type, "AttachmentType": a.attachment_type, "Status": a.status,
                "StatusName": status_label(a.status), "RelatedApplicationId": a.related_id,
                "RelationName": RELATIONS.get(RELATION_CODES.get(str(a.card.get("Relation")), ""), None),
                "RelatedApplicationType": self._applications.type_of(session, a.related_id),
                "ReplyPending": pending is not None and pending.state == "pending",
                "ReplyDeliveryFailed": pending is not None and pending.state == "dead",
                "DataWarnings": a.card.get("DataWarnings"),
                "History": [{"Status": h.status, "StatusName": status_label(h.status), "At": h.at,
                             "Author": h.author, "Note": h.note} for h in history],
            })
            return card

    def reply(self, application_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        try:
            outcome = Outcome(fields["Outcome"])
        except (KeyError, ValueError):
            raise InvalidField("Outcome", "допустимы: " + ", ".join(o.value for o in Outcome)) from None
        doctor = Doctor(last_name=fields.get("DoctorLastName"), first_name=fields.get("DoctorFirstName"),
                        middle_name=fields.get("DoctorMiddleName"), snils=fields.get("DoctorSnils"),
                        specialty=fields.get("DoctorSpecialty"))
        reply = Reply(outcome=outcome, comment=fields.get("Comment"), district=fields.get("DistrictNumber"),
                      doctor=doctor, refusal_reason_code=fields.get("RefusalReasonCode"),
                      reply_date=fields.get("ReplyDate"), employee=fields.get("Employee"),
                      idempotency_key=fields.get("IdempotencyKey"))
        receipt = self._replies.submit(self._mos(), application_id, reply)
        return {"MessageId": receipt.message_id, "Duplicate": receipt.duplicate, "Status": receipt.status,
                "Message": "такой ответ уже принят" if receipt.duplicate else "ответ принят и отправляется в ЕГИСЗ"}

    def run_intake(self, since: str | None, until: str | None, trigger: str) -> dict[str, Any]:
        window = parse_window(since, until)
        if window[0] is not None and window[1] is not None and window[1] <= window[0]:
            raise InvalidField("PeriodTo", "конец периода раньше начала")
        job = self._scheduler.job(JOB)
        default = job.window(self._scheduler.runs, self._scheduler.now())
        try:
            run = self._scheduler.run_now(JOB, trigger, (window[0] or default[0], window[1] or default[1]))
        except JobAlreadyRunning:
            raise Conflict("IntakeRunning", "приём заявлений уже идёт на одном из экземпляров шлюза") from None
        return {"RunId": run.id, "State": run.state, "Processed": run.processed, "WindowFrom": run.window_from,
                "WindowTo": run.window_to, "Error": run.error}
