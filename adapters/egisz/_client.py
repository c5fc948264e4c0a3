"""The adapter boundary to «Прикрепление онлайн», and its REST transport (docs/egisz-upstream.md).

``AttachmentUpstream`` is what the adapter needs: a page of tasks for an MO and a window, and a
reply to one task. A СМЭВ or ЕГИСЗ ИПС transport would implement the same two calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.delivery import Upstream, UpstreamRejected


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


class ReplyRejected(Exception):
    """The upstream refused the reply for good (a rule, a malformed field); ``code`` names which."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class AttachmentUpstream(Protocol):
    def fetch_page(self, mo_oid: str, since: datetime, until: datetime, cursor: str | None,
                   limit: int) -> Page: ...

    def send_reply(self, task_id: str, reply: dict[str, Any], idempotency_key: str) -> dict[str, Any]: ...


class RestAttachmentUpstream:
    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    def fetch_page(self, mo_oid: str, since: datetime, until: datetime, cursor: str | None,
                   limit: int) -> Page:
        params = {"mo": mo_oid, "from": since.isoformat(), "to": until.isoformat(), "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        answer = self._upstream.request("GET", "/api/AttachMO/v1/tasks", params=params).json()
        return Page(items=list(answer.get("items") or []), next_cursor=answer.get("next_cursor"))

    def send_reply(self, task_id: str, reply: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """SAMSON's call (LenchikTs/client, Registry/AttachOnlineService.py): ``POST …/api/AttachMO/fhir/
        $UpdateTaskStatus`` with ``attach_id``; SAMSON's МИС leaves the reply in tables the service
        reads, we have none, so the same columns travel in the body. Success is ``{"result": "success"}``."""
        try:
            response = self._upstream.request(
                "POST", "/api/AttachMO/fhir/$UpdateTaskStatus", json={"attach_id": task_id, **reply},
                idempotency_key=idempotency_key)
        except UpstreamRejected as exc:
            try:
                body = json.loads(exc.body)
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            raise ReplyRejected(str(body.get("code") or f"HTTP_{exc.status_code}"),
                                str(body.get("detail") or "ЕГИСЗ отклонила ответ")[:300]) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("result") != "success":
            # SAMSON: «Возвращен неверный формат ответа!» — not applied as far as we can tell.
            raise ReplyRejected("UNEXPECTED_ANSWER", "ЕГИСЗ ответила без «result: success»")
        task: dict[str, Any] = answer.get("task") or {}
        return task
