"""What the sandbox ЕГИСЗ accepts as a reply (docs/egisz-upstream.md, «Reply»).

A reply is SAMSON's row of ``soc_AttachMO_Task`` (LenchikTs/client, Registry/AttachOnlineService.py):
the FHIR Task ``status`` (``completed`` / ``rejected``), ``statusComment``, a coded refusal
(``reasonReject_id``), the district doctor in separate fields, and — our additions, written down as
assumptions — ``dateCompleted`` and ``employee``. What the reply means follows from the task it
answers and the status, as in SAMSON: there is no separate «outcome» on the wire.

Two kinds of refusal:
- ``ReplyMalformed`` (422 ``{"detail", "field"}``): not a reply at all: not a JSON object, an
  unknown field, a value of the wrong type or format;
- ``ReplyRefused`` (409 ``{"detail", "code"}``, plus ``field`` for MISSING_FIELD): a well-formed
  reply that breaks a rule of the task it answers.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

__all__ = [
    "OUTCOME_STATUS",
    "REQUIRED_FIELDS",
    "ReplyMalformed",
    "ReplyRefused",
    "check_reply",
    "outcome_of",
    "validate_reply",
]

OUTCOME_STATUS = {
    "SERVICE_PROVIDED": "completed", "REFUSED": "rejected",
    "CANCEL_APPROVED": "completed", "CANCEL_FAILED": "rejected",
    "DETACHED": "completed",
}
# (order_type, status) → what the reply means; a detachment cannot be rejected (SAMSON: «Заявление на
# открепление отклонить невозможно, его необходимо выполнить»).
_OUTCOMES = {(1, "completed"): "SERVICE_PROVIDED", (1, "rejected"): "REFUSED", (2, "completed"): "DETACHED",
             (3, "completed"): "CANCEL_APPROVED", (3, "rejected"): "CANCEL_FAILED"}
REQUIRED_FIELDS = {
    "SERVICE_PROVIDED": ("statusComment", "PractitionerArea", "PractitionerSurname", "PractitionerName",
                         "PractitionerSNILS", "PractitionerSpecialityName"),
    "REFUSED": ("statusComment", "reasonReject_id"),
    "CANCEL_APPROVED": ("statusComment",),
    "CANCEL_FAILED": ("statusComment",),
    "DETACHED": ("dateCompleted", "statusComment"),
}
_TEXT_LIMITS = {
    "statusComment": 2000, "PractitionerArea": 20, "PractitionerSurname": 100, "PractitionerName": 100,
    "PractitionerPatronymic": 100, "PractitionerSNILS": 11, "PractitionerSpecialityName": 300,
    "dateCompleted": 10, "employee": 300,
}
REPLY_FIELDS = frozenset({"attach_id", "status", "reasonReject_id", *_TEXT_LIMITS})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SNILS = re.compile(r"^\d{11}$")
_TYPE_NAMES = {1: "a choice of MO", 2: "a detachment", 3: "a cancellation"}


class ReplyMalformed(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail

    def body(self) -> dict[str, str]:
        return {"detail": self.detail, "field": self.field}


class ReplyRefused(Exception):
    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.field = field

    def body(self) -> dict[str, str]:
        answer = {"detail": self.detail, "code": self.code}
        if self.field is not None:
            answer["field"] = self.field
        return answer


def attach_id(body: Any) -> str:
    """The task a ``$UpdateTaskStatus`` body names: ``attach_id``, a string or an integer (SAMSON
    posts its own integer row id); ``"0"`` means «upload every reply waiting to be uploaded»."""
    if not isinstance(body, dict):
        raise ReplyMalformed("body", "the body must be a JSON object")
    value = body.get("attach_id")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, int) and value < 0):
        raise ReplyMalformed("attach_id", "attach_id must be a task id (a string or a non-negative integer)")
    text = str(value).strip()
    if not text or len(text) > 100:
        raise ReplyMalformed("attach_id", "attach_id must be 1..100 characters")
    return text


def validate_reply(body: dict[str, Any]) -> dict[str, Any]:
    """The reply fields of a body shaped as a reply; raises ReplyMalformed naming the first bad field."""
    for key in body:
        if key not in REPLY_FIELDS:
            raise ReplyMalformed(str(key), f"unknown field {key!s}")
    if body.get("status") not in ("completed", "rejected"):
        raise ReplyMalformed("status", "status must be 'completed' or 'rejected'")
    for field, limit in _TEXT_LIMITS.items():
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ReplyMalformed(field, f"{field} must be a string")
        if len(value) > limit:
            raise ReplyMalformed(field, f"{field} is longer than {limit} characters")
    reason = body.get("reasonReject_id")
    if reason is not None and (isinstance(reason, bool) or not isinstance(reason, int) or reason < 1):
        raise ReplyMalformed("reasonReject_id", "reasonReject_id must be a positive integer (a reason code)")
    snils = body.get("PractitionerSNILS")
    if snils and not _SNILS.match(snils):
        raise ReplyMalformed("PractitionerSNILS", "PractitionerSNILS must be 11 digits")
    completed = body.get("dateCompleted")
    if completed is not None:
        try:
            if not _DATE.match(completed):
                raise ValueError(completed)
            date.fromisoformat(completed)
        except ValueError:
            raise ReplyMalformed("dateCompleted", "dateCompleted must be a date YYYY-MM-DD") from None
    return {k: v for k, v in body.items() if k != "attach_id"}


def outcome_of(task: dict[str, Any], status: str) -> str:
    order_type = int(task["order_type"])
    outcome = _OUTCOMES.get((order_type, status))
    if outcome is None:
        raise ReplyRefused("OUTCOME_NOT_ALLOWED",
                           f"{_TYPE_NAMES.get(order_type, 'this task')} cannot be {status}; it must be executed")
    return outcome


def _filled(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    return isinstance(value, int) or (isinstance(value, str) and bool(value.strip()))


def check_reply(task: dict[str, Any], related: dict[str, Any] | None, reopened: bool,
                reply: dict[str, Any]) -> str:
    """The outcome of a well-formed ``reply`` to ``task``, or ReplyRefused when it breaks a rule.

    ``related``: the task a cancellation names. A cancellation of a detachment can only be
    rejected (SAMSON: «Заявление на отмену открепления выполнить нельзя, его можно только отклонить»).
    ``reopened``: the task is a choice whose cancellation failed, so it takes a choice result once
    more even if it is no longer in progress.
    """
    outcome = outcome_of(task, reply["status"])
    if outcome == "CANCEL_APPROVED" and related is not None and int(related["order_type"]) == 2:
        raise ReplyRefused("OUTCOME_NOT_ALLOWED",
                           "a cancellation of a detachment cannot be executed, only rejected")
    if task["status"] != "in-progress" and not (reopened and int(task["order_type"]) == 1):
        raise ReplyRefused("ALREADY_ANSWERED", f"the task is already {task['status']}")
    for field in REQUIRED_FIELDS[outcome]:
        if not _filled(reply, field):
            raise ReplyRefused("MISSING_FIELD", f"{outcome} requires {field}", field)
    return outcome
