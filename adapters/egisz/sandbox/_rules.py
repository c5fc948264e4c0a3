"""What the sandbox ЕГИСЗ accepts as a reply (docs/egisz-upstream.md, «Reply»).

Two kinds of refusal, as the upstream model says:
- ``ReplyMalformed`` (422 ``{"detail", "field"}``): not a Reply at all: not a JSON object, an
  unknown field, a value of the wrong type or format;
- ``ReplyRefused`` (409 ``{"detail", "code"}``, plus ``field`` for MISSING_FIELD): a well-formed
  Reply that breaks a rule of the task it answers.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

__all__ = [
    "ALLOWED_OUTCOMES",
    "OUTCOME_STATUS",
    "REQUIRED_FIELDS",
    "ReplyMalformed",
    "ReplyRefused",
    "check_reply",
    "validate_reply",
]

OUTCOME_STATUS = {
    "SERVICE_PROVIDED": "completed", "REFUSED": "rejected",
    "CANCEL_APPROVED": "completed", "CANCEL_FAILED": "rejected",
    "DETACHED": "completed",
}
ALLOWED_OUTCOMES = {1: ("SERVICE_PROVIDED", "REFUSED"), 2: ("DETACHED",), 3: ("CANCEL_APPROVED", "CANCEL_FAILED")}
REQUIRED_FIELDS = {
    "SERVICE_PROVIDED": ("comment", "area", "practitioner.name", "practitioner.position"),
    "REFUSED": ("comment", "refusal_reason"),
    "CANCEL_APPROVED": ("comment",),
    "CANCEL_FAILED": ("comment",),
    "DETACHED": ("reply_date", "comment"),
}
_TEXT_LIMITS = {"comment": 2000, "area": 20, "refusal_reason": 1000, "employee": 300}
_PRACTITIONER_LIMITS = {"name": 300, "position": 300}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
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


def _text(value: Any, field: str, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ReplyMalformed(field, f"{field} must be a string")
    if len(value) > limit:
        raise ReplyMalformed(field, f"{field} is longer than {limit} characters")


def validate_reply(body: Any) -> dict[str, Any]:
    """The reply if it is shaped as a Reply; raises ReplyMalformed naming the first bad field."""
    if not isinstance(body, dict):
        raise ReplyMalformed("body", "the reply must be a JSON object")
    allowed = {"status", "outcome", *_TEXT_LIMITS, "practitioner", "reply_date"}
    for key in body:
        if key not in allowed:
            raise ReplyMalformed(str(key), f"unknown field {key!s}")
    if body.get("status") not in ("completed", "rejected"):
        raise ReplyMalformed("status", "status must be 'completed' or 'rejected'")
    if body.get("outcome") not in OUTCOME_STATUS:
        raise ReplyMalformed("outcome", f"outcome must be one of {', '.join(OUTCOME_STATUS)}")
    for field, limit in _TEXT_LIMITS.items():
        _text(body.get(field), field, limit)
    practitioner = body.get("practitioner")
    if practitioner is not None:
        if not isinstance(practitioner, dict):
            raise ReplyMalformed("practitioner", "practitioner must be an object")
        for key in practitioner:
            if key not in _PRACTITIONER_LIMITS:
                raise ReplyMalformed(f"practitioner.{key!s}", f"unknown field practitioner.{key!s}")
        for field, limit in _PRACTITIONER_LIMITS.items():
            _text(practitioner.get(field), f"practitioner.{field}", limit)
    reply_date = body.get("reply_date")
    if reply_date is not None:
        _text(reply_date, "reply_date", 10)
        try:
            if not _DATE.match(reply_date):
                raise ValueError(reply_date)
            date.fromisoformat(reply_date)
        except ValueError:
            raise ReplyMalformed("reply_date", "reply_date must be a date YYYY-MM-DD") from None
    return body


def _filled(body: dict[str, Any], path: str) -> bool:
    value: Any = body
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return isinstance(value, str) and bool(value.strip())


def check_reply(task: dict[str, Any], reopened: bool, reply: dict[str, Any]) -> None:
    """Raise ReplyRefused when a well-formed ``reply`` breaks a rule of ``task`` (docs/egisz-upstream.md).

    ``reopened``: the task is a choice whose cancellation failed, so it takes SERVICE_PROVIDED or
    REFUSED once more even if it is no longer in progress.
    """
    order_type, outcome = int(task["order_type"]), reply["outcome"]
    allowed = ALLOWED_OUTCOMES.get(order_type, ())
    if outcome not in allowed:
        raise ReplyRefused("OUTCOME_NOT_ALLOWED",
                           f"{outcome} does not answer {_TYPE_NAMES.get(order_type, 'this task')}; "
                           f"allowed: {', '.join(allowed)}")
    if reply["status"] != OUTCOME_STATUS[outcome]:
        raise ReplyRefused("STATUS_MISMATCH", f"{outcome} sets the status {OUTCOME_STATUS[outcome]}, "
                                              f"not {reply['status']}")
    if task["status"] != "in-progress" and not (reopened and order_type == 1):
        raise ReplyRefused("ALREADY_ANSWERED", f"the task is already {task['status']}")
    for field in REQUIRED_FIELDS[outcome]:
        if not _filled(reply, field):
            raise ReplyRefused("MISSING_FIELD", f"{outcome} requires {field}", field)
