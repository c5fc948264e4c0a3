"""Sferum client against the sandbox Sferum in-process, through the one delivery path."""

from __future__ import annotations

import io
import itertools
import time
import warnings
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from adapters.sferum import (
    DEFAULT_API_VERSION,
    ChatUser,
    SferumApiError,
    SferumClient,
    SferumRequestInvalid,
    normalise_phone,
)
from adapters.sferum.sandbox import SferumWorld, create_sferum_sandbox
from bridge.delivery import RetryPolicy, Upstream, UpstreamBusy, UpstreamConfig, UpstreamTimeout
from bridge.metrics import UPSTREAM_ATTEMPTS
from bridge.observability import configure_logging

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "sferum-secret-token-0123456789"
DOCTOR = "+7 916 123-45-67"
PATIENT = "8 (916) 765-43-21"
PHONE_DIGITS = ("9161234567", "9167654321")
_names = itertools.count()


class Recorder(httpx.BaseTransport):
    """Passes requests to the sandbox and keeps them; can lose the answer of chosen methods once processed."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.lose_answer_of: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        method = request.url.path.rsplit("/", 1)[-1]
        if self.lose_answer_of.get(method, 0) > 0:
            self.lose_answer_of[method] -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def forms(self) -> list[dict[str, list[str]]]:
        return [parse_qs(r.content.decode()) for r in self.requests]


@pytest.fixture
def world() -> SferumWorld:
    return SferumWorld(token=TOKEN)


@pytest.fixture
def sandbox(world: SferumWorld) -> Iterator[TestClient]:
    with TestClient(create_sferum_sandbox(world)) as client:
        yield client


@pytest.fixture
def wire(sandbox: TestClient) -> Recorder:
    return Recorder(sandbox._transport)


def _client(wire: Recorder, token: str = TOKEN, attempts: int = 3) -> SferumClient:
    config = UpstreamConfig(name=f"sferum{next(_names)}", base_url="http://testserver",
                            retry=RetryPolicy(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.02,
                                              max_retry_after=2.0))
    return SferumClient(Upstream(config, transport=wire), token)


@pytest.fixture
def sferum(wire: Recorder) -> SferumClient:
    return _client(wire)


def _script(sandbox: TestClient, *codes: int) -> None:
    assert sandbox.post("/_sandbox/sferum/errors", json={"codes": list(codes)}).status_code == 200


def test_create_chat_add_doctor_and_patient_start_call(sandbox: TestClient, sferum: SferumClient,
                                                       wire: Recorder) -> None:
    chat = sferum.create_chat("ТМК 2026-02-05 10:00 врач Иванов С.Б. - пациент Петров А.В.")
    assert chat.chat_id > 0 and chat.invite_link.startswith("https://")
    added = sferum.add_chat_users(chat.chat_id, [ChatUser.doctor(DOCTOR), ChatUser.patient(PATIENT)])
    assert added.queued == ("79161234567", "79167654321") and added.failed == () and added.all_queued
    call = sferum.call_start(chat.chat_id)
    assert call.chat_id == chat.chat_id and call.join_link.startswith("https://") and call.call_id

    seen = sandbox.get(f"/_sandbox/sferum/chats/{chat.chat_id}").json()
    assert seen["type"] == "telemedicine" and seen["title"].startswith("ТМК")
    assert seen["members"] == [
        {"phone": "79161234567", "chat_role": "teacher", "member_role": "admin"},
        {"phone": "79167654321", "chat_role": "student", "member_role": "member"},
    ]
    assert [c["call_id"] for c in seen["calls"]] == [call.call_id]
    # the wire: form-encoded POSTs to /method/<name>, token and v in the body, never in the URL
    assert [r.url.path for r in wire.requests] == [
        "/method/educationSchool.createChat", "/method/educationSchool.addChatUsers",
        "/method/educationSchool.callStart"]
    for request, form in zip(wire.requests, wire.forms(), strict=True):
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert form["access_token"] == [TOKEN] and form["v"] == [DEFAULT_API_VERSION]
        assert TOKEN not in str(request.url)
    assert wire.forms()[0]["type"] == ["telemedicine"]


def test_users_already_in_the_chat_are_fine_and_a_phone_without_account_fails(
        sandbox: TestClient, sferum: SferumClient) -> None:
    chat = sferum.create_chat("ТМК")
    sferum.add_chat_users(chat.chat_id, [ChatUser.doctor(DOCTOR)])
    sandbox.post("/_sandbox/sferum/phones/unknown", json={"phones": [PATIENT]})
    added = sferum.add_chat_users(chat.chat_id, [ChatUser.doctor(DOCTOR), ChatUser.patient(PATIENT)])
    assert (added.queued, added.failed) == (("79161234567",), ("79167654321",))
    assert not added.all_queued and "916" not in repr(added)
    assert len(sandbox.get(f"/_sandbox/sferum/chats/{chat.chat_id}").json()["members"]) == 1


def test_wrong_token_is_error_5_without_the_token(wire: Recorder) -> None:
    with pytest.raises(SferumApiError) as caught:
        _client(wire, token="wrong-token-42").create_chat("ТМК")
    assert caught.value.code == 5 and "authorization failed" in caught.value.message
    assert "wrong-token-42" not in str(caught.value) and "wrong-token-42" not in repr(_client(wire, "wrong-token-42"))
    assert len(wire.requests) == 1, "not retried"


@pytest.mark.parametrize("phone", ["+7 916 123-45", "9161234567", "+1 916 123 45 67", "8916123456a", ""])
def test_bad_phone_refused_before_sending(sferum: SferumClient, wire: Recorder, phone: str) -> None:
    with pytest.raises(SferumRequestInvalid) as caught:
        sferum.add_chat_users(1, [ChatUser.doctor(DOCTOR), ChatUser.patient(phone)])
    assert caught.value.field == "users[1].phone"
    assert (phone and phone not in str(caught.value)) or not phone
    assert wire.requests == []


def test_phone_forms_normalised_and_repeats_refused(sferum: SferumClient, wire: Recorder) -> None:
    for form in ("+79161234567", "+7 (916) 123-45-67", "8 916 123 45 67", "79161234567"):
        assert normalise_phone(form) == "79161234567"
    with pytest.raises(SferumRequestInvalid, match=r"users\[1\].phone: repeats users\[0\]"):
        sferum.add_chat_users(1, [ChatUser.doctor(DOCTOR), ChatUser.patient("89161234567")])
    with pytest.raises(SferumRequestInvalid, match="chat_role"):
        sferum.add_chat_users(1, [ChatUser(DOCTOR, "nurse", "admin")])  # type: ignore[arg-type]
    with pytest.raises(SferumRequestInvalid, match="chat_title"):
        sferum.create_chat("  ")
    assert wire.requests == []


def test_error_6_too_many_per_second_is_retried_after_a_second(sandbox: TestClient, sferum: SferumClient,
                                                               wire: Recorder, world: SferumWorld) -> None:
    chat = sferum.create_chat("ТМК")
    fills = [sandbox.post("/method/educationSchool.callStart", data={"access_token": TOKEN, "chat_id": chat.chat_id})
             for _ in range(world.rate_limit)]  # fill the sliding second
    refused = sandbox.post("/method/educationSchool.callStart", data={"access_token": TOKEN, "chat_id": "1"})
    assert refused.status_code == 200 and refused.json()["error"]["error_code"] == 6
    assert all(p["key"] != "access_token" for p in refused.json()["error"]["request_params"])
    started = time.monotonic()
    call = sferum.call_start(chat.chat_id)  # 6 → waits a second → succeeds
    assert time.monotonic() - started >= 0.9 and call.chat_id == chat.chat_id
    assert len(wire.requests) == 3  # createChat, the refused callStart, the one answered
    upstream = sferum._upstream.name
    assert UPSTREAM_ATTEMPTS.labels(upstream, "/method/educationSchool.callStart", "429")._value.get() == 1
    accepted = sum("response" in fill.json() for fill in fills)
    assert len(sandbox.get(f"/_sandbox/sferum/chats/{chat.chat_id}").json()["calls"]) == accepted + 1


def test_errors_9_and_29_are_retried_and_create_chat_made_once(sandbox: TestClient, sferum: SferumClient,
                                                               wire: Recorder) -> None:
    _script(sandbox, 9, 29)
    chat = sferum.create_chat("ТМК")
    assert len(wire.requests) == 3
    assert [c["chat_id"] for c in sandbox.get("/_sandbox/sferum/chats").json()] == [chat.chat_id]


def test_retry_budget_spent_on_refusals_is_upstream_unavailable(sandbox: TestClient, sferum: SferumClient,
                                                                wire: Recorder) -> None:
    _script(sandbox, 29, 9, 29)
    with pytest.raises(UpstreamBusy) as caught:
        sferum.create_chat("ТМК")
    assert caught.value.reason == "VK error 29" and caught.value.status_code == 429
    assert len(wire.requests) == 3 and sandbox.get("/_sandbox/sferum/chats").json() == []


def test_non_transient_errors_are_typed_and_not_retried(sandbox: TestClient, sferum: SferumClient,
                                                        wire: Recorder) -> None:
    _script(sandbox, 14)
    with pytest.raises(SferumApiError) as caught:
        sferum.create_chat("ТМК")
    assert (caught.value.code, caught.value.method) == (14, "educationSchool.createChat")
    with pytest.raises(SferumApiError) as caught:
        sferum.add_chat_users(999, [ChatUser.patient(PATIENT)])
    assert caught.value.code == 100 and caught.value.message.endswith(": chat_id")
    assert all(d not in str(caught.value) for d in PHONE_DIGITS), "the echoed request_params stay out"
    assert len(wire.requests) == 2


def test_internal_error_10_retried_only_where_a_repeat_is_harmless(sandbox: TestClient, sferum: SferumClient,
                                                                   wire: Recorder) -> None:
    chat = sferum.create_chat("ТМК")
    _script(sandbox, 10)
    assert sferum.add_chat_users(chat.chat_id, [ChatUser.patient(PATIENT)]).all_queued
    assert len(wire.requests) == 3
    _script(sandbox, 10)
    with pytest.raises(UpstreamBusy) as caught:
        sferum.create_chat("ТМК")
    assert caught.value.status_code == 500 and len(wire.requests) == 4


def test_create_chat_not_repeated_after_a_lost_answer_but_add_users_is(sandbox: TestClient, sferum: SferumClient,
                                                                        wire: Recorder) -> None:
    wire.lose_answer_of["educationSchool.createChat"] = 1
    with pytest.raises(UpstreamTimeout):
        sferum.create_chat("ТМК")
    chats = sandbox.get("/_sandbox/sferum/chats").json()
    assert len(chats) == 1 and len(wire.requests) == 1, "processed once, never repeated"
    wire.lose_answer_of["educationSchool.addChatUsers"] = 1
    added = sferum.add_chat_users(chats[0]["chat_id"], [ChatUser.doctor(DOCTOR)])
    assert added.queued == ("79161234567",) and len(wire.requests) == 3


def test_neither_token_nor_phone_in_logs(sandbox: TestClient, sferum: SferumClient) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    chat = sferum.create_chat("ТМК")
    sandbox.post("/_sandbox/sferum/phones/unknown", json={"phones": [PATIENT]})
    _script(sandbox, 6)
    sferum.add_chat_users(chat.chat_id, [ChatUser.doctor(DOCTOR), ChatUser.patient(PATIENT)])
    with pytest.raises(SferumApiError):
        sferum.add_chat_users(chat.chat_id + 1, [ChatUser.doctor(DOCTOR)])
    output = stream.getvalue()
    assert "upstream.attempt" in output and "sferum.refused" in output and "sferum.users_not_added" in output
    assert '"refused": "VK error 6"' in output
    assert TOKEN not in output and all(d not in output for d in PHONE_DIGITS)
    assert TOKEN not in repr(sferum)
