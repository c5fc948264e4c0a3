"""The REST client of «Прикрепление онлайн» speaks SAMSON's call (LenchikTs/client, Registry/AttachOnlineService.py,
``sendRequest``): ``POST …/api/AttachMO/fhir/$UpdateTaskStatus`` with ``attach_id``; success is
``{"result": "success"}``, a refusal's text is ``detail``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.egisz._client import ReplyRejected, RestAttachmentUpstream
from bridge.delivery import Upstream, UpstreamConfig

REPLY = {"status": "rejected", "reasonReject_id": 1, "statusComment": "гражданин отозвал заявление",
         "employee": "Сидорова В. В."}


def client(answer: httpx.Response, seen: list[httpx.Request]) -> RestAttachmentUpstream:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    upstream = Upstream(UpstreamConfig("egisz-unit", "http://egisz.test/"), transport=httpx.MockTransport(handle))
    return RestAttachmentUpstream(upstream)


def test_the_reply_is_samsons_call_with_the_columns_in_the_body() -> None:
    seen: list[httpx.Request] = []
    task = {"id": "9f1c", "status": "rejected"}
    got = client(httpx.Response(200, json={"result": "success", "task": task}), seen).send_reply("9f1c", REPLY, "k-1")
    assert got == task and len(seen) == 1
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/api/AttachMO/fhir/$UpdateTaskStatus"
    assert json.loads(request.content) == {"attach_id": "9f1c", **REPLY}
    assert request.headers["Idempotency-Key"] == "k-1"


@pytest.mark.parametrize("answer", [
    httpx.Response(200, json={"result": "error"}),
    httpx.Response(200, json=["success"]),
    httpx.Response(200, text="OK"),
])
def test_a_200_without_result_success_is_not_taken_for_success(answer: httpx.Response) -> None:
    with pytest.raises(ReplyRejected) as refused:
        client(answer, []).send_reply("9f1c", REPLY, "k-2")
    assert refused.value.code == "UNEXPECTED_ANSWER"


@pytest.mark.parametrize(("answer", "code", "detail"), [
    (httpx.Response(409, json={"detail": "Участок полон", "code": "AREA_FULL"}), "AREA_FULL", "Участок полон"),
    (httpx.Response(404, json={"detail": "Task not found"}), "HTTP_404", "Task not found"),
    (httpx.Response(422, json=[1]), "HTTP_422", "ЕГИСЗ отклонила ответ"),
])
def test_a_refusal_keeps_its_code_and_detail(answer: httpx.Response, code: str, detail: Any) -> None:
    with pytest.raises(ReplyRejected) as refused:
        client(answer, []).send_reply("9f1c", REPLY, "k-3")
    assert (refused.value.code, refused.value.detail) == (code, detail)
