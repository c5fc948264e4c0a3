"""The delivery path's ``retry_answer`` hook: a 2xx answer that is really "not now" is retried like a 429."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import httpx
import pytest

from bridge.delivery import (
    RetryAnswer,
    RetryPolicy,
    Timeouts,
    Upstream,
    UpstreamBusy,
    UpstreamConfig,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bridge.metrics import UPSTREAM_ATTEMPTS, UPSTREAM_REQUESTS

_names = itertools.count()


def make(handler: Callable[[httpx.Request], httpx.Response], **overrides: object) -> Upstream:
    fields: dict[str, object] = {
        "retry": RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.005, jitter=0.001),
        **overrides,
    }
    config = UpstreamConfig(name=f"refusals{next(_names)}", base_url="http://upstream.test",
                            timeouts=Timeouts(connect=0.5, read=0.5), **fields)  # type: ignore[arg-type]
    return Upstream(config, transport=httpx.MockTransport(handler))


def answers(*bodies: object) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """Answer each request with the next body (HTTP 200), or raise it when it is an exception."""
    seen: list[httpx.Request] = []
    queue = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(body, Exception):
            raise body
        return httpx.Response(200, json=body)

    return handler, seen


def vk_refusal(response: httpx.Response) -> RetryAnswer | None:
    """VK-style: ``{"error": {"error_code": 6}}`` with HTTP 200 is "too many requests", 10 an internal error."""
    error = json.loads(response.content).get("error")
    if error is None:
        return None
    code = error["error_code"]
    if code == 6:
        return RetryAnswer(f"VK error {code}", status=429, retry_after=error.get("wait"))
    if code == 10:
        return RetryAnswer(f"VK error {code}", status=500)
    return None


TOO_MANY = {"error": {"error_code": 6, "error_msg": "Too many requests per second"}}
INTERNAL = {"error": {"error_code": 10, "error_msg": "Internal server error"}}


def test_a_refusal_is_retried_and_counted_like_a_429_until_the_answer() -> None:
    handler, seen = answers(TOO_MANY, TOO_MANY, {"response": {"chat_id": 1}})
    upstream = make(handler)
    answer = upstream.request("POST", "/method/x", data={"a": "1"}, retry_answer=vk_refusal)
    assert answer.json() == {"response": {"chat_id": 1}}
    assert len(seen) == 3, "a refusal means not processed: retried even for a POST without a key"
    assert UPSTREAM_ATTEMPTS.labels(upstream.name, "/method/x", "429")._value.get() == 2
    assert UPSTREAM_ATTEMPTS.labels(upstream.name, "/method/x", "200")._value.get() == 1
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/method/x", "200")._value.get() == 1


def test_the_budget_spent_on_refusals_raises_upstream_refused_counted_as_429() -> None:
    handler, seen = answers(TOO_MANY)
    upstream = make(handler)
    with pytest.raises(UpstreamBusy) as info:
        upstream.request("POST", "/method/x", data={}, retry_answer=vk_refusal)
    assert isinstance(info.value, UpstreamUnavailable)
    assert (info.value.status_code, info.value.reason) == (429, "VK error 6")
    assert "VK error 6" in str(info.value) and len(seen) == 4
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/method/x", "429")._value.get() == 1
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/method/x", "200")._value.get() == 0


def test_the_wait_the_hook_asks_for_is_honoured() -> None:
    handler, seen = answers({"error": {"error_code": 6, "wait": 0.5}}, {"response": 1})
    started = time.monotonic()
    make(handler).request("GET", "/method/x", retry_answer=vk_refusal)
    assert time.monotonic() - started >= 0.45 and len(seen) == 2


def test_a_refusal_counted_as_500_is_retried_only_for_idempotent_calls() -> None:
    handler, seen = answers(INTERNAL, {"response": 1})
    with pytest.raises(UpstreamBusy) as info:
        make(handler).request("POST", "/method/x", data={}, retry_answer=vk_refusal)
    assert info.value.status_code == 500 and len(seen) == 1
    handler, seen = answers(INTERNAL, {"response": 1})
    make(handler).request("POST", "/method/x", data={}, idempotency_key="k", retry_answer=vk_refusal)
    assert len(seen) == 2


def test_without_the_hook_the_same_answer_is_an_answer_and_failures_stay_as_they_were() -> None:
    handler, seen = answers(TOO_MANY)
    assert make(handler).request("POST", "/method/x", data={}).json() == TOO_MANY
    handler, seen = answers(httpx.ReadTimeout("slow"), {"response": 1})
    with pytest.raises(UpstreamTimeout):
        make(handler).request("POST", "/method/x", data={}, retry_answer=vk_refusal)
    assert len(seen) == 1, "the hook does not make an ambiguous failure of a POST retryable"


def test_refusals_spent_open_the_circuit_like_other_unavailability() -> None:
    handler, _ = answers(TOO_MANY)
    upstream = make(handler, circuit_fail_max=1, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(UpstreamBusy):
        upstream.request("POST", "/method/x", data={}, retry_answer=vk_refusal)
    assert upstream.circuit_state == "open"


def test_a_refusal_must_name_a_status_worth_retrying() -> None:
    with pytest.raises(ValueError, match="not 400"):
        RetryAnswer("bad", status=400)
