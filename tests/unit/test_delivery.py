"""The delivery path: retries only what is safe, honours Retry-After, breaks the circuit."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import httpx
import pytest

from bridge.delivery import (
    CircuitOpen,
    RetryPolicy,
    Timeouts,
    Upstream,
    UpstreamConfig,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    parse_retry_after,
)
from bridge.metrics import UPSTREAM_ATTEMPTS, UPSTREAM_REQUESTS

_names = itertools.count()


def make(handler: Callable[[httpx.Request], httpx.Response], **overrides: object) -> Upstream:
    fields: dict[str, object] = {
        "retry": RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.005, jitter=0.001),
        **overrides,
    }
    config = UpstreamConfig(
        name=f"test{next(_names)}",
        base_url="http://upstream.test",
        timeouts=Timeouts(connect=0.5, read=0.5),
        **fields,  # type: ignore[arg-type]
    )
    return Upstream(config, transport=httpx.MockTransport(handler))


def sequence(*answers: object) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    return handler, seen


def test_transient_status_is_retried_until_success() -> None:
    handler, seen = sequence(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": 1}))
    upstream = make(handler)
    assert upstream.request("GET", "/x").json() == {"ok": 1}
    assert len(seen) == 3
    assert UPSTREAM_ATTEMPTS.labels(upstream.name, "/x", "503")._value.get() == 1
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/x", "200")._value.get() == 1


def test_client_error_is_not_retried_and_keeps_the_body() -> None:
    handler, seen = sequence(httpx.Response(400, json={"code": "REG-002"}))
    with pytest.raises(UpstreamRejected) as info:
        make(handler).request("GET", "/x")
    assert len(seen) == 1
    assert info.value.status_code == 400
    assert b"REG-002" in info.value.body


def test_post_without_idempotency_key_is_not_retried_after_a_timeout() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"), httpx.Response(200))
    with pytest.raises(UpstreamTimeout):
        make(handler).request("POST", "/register", json={})
    assert len(seen) == 1


def test_post_with_idempotency_key_is_retried_with_the_same_key() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.Response(200))
    make(handler).request("POST", "/register", json={}, idempotency_key="k-1")
    assert len(seen) == 3
    assert {r.headers["Idempotency-Key"] for r in seen} == {"k-1"}


def test_post_the_caller_declares_idempotent_is_retried_without_a_key() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"), httpx.Response(502), httpx.Response(200))
    make(handler).request("POST", "/members", json={}, idempotent=True)
    assert len(seen) == 3
    assert all("Idempotency-Key" not in r.headers for r in seen)


def test_connect_errors_are_retried_even_for_post() -> None:
    handler, seen = sequence(httpx.ConnectError("refused"), httpx.Response(200))
    make(handler).request("POST", "/register", json={})
    assert len(seen) == 2


def test_500_and_502_are_not_retried_for_a_non_idempotent_post_but_503_is() -> None:
    for status in (500, 502):
        handler, seen = sequence(httpx.Response(status))
        with pytest.raises(UpstreamServerError):
            make(handler).request("POST", "/register", json={})
        assert len(seen) == 1
    handler, seen = sequence(httpx.Response(503), httpx.Response(200))
    make(handler).request("POST", "/register", json={})
    assert len(seen) == 2


def test_retry_after_is_honoured() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200))
    started = time.monotonic()
    make(handler).request("GET", "/x")
    assert time.monotonic() - started >= 0.95
    assert len(seen) == 2


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retries_stop_at_max_attempts() -> None:
    handler, seen = sequence(httpx.Response(503))
    with pytest.raises(UpstreamServerError) as info:
        make(handler).request("GET", "/x")
    assert info.value.status_code == 503
    assert len(seen) == 4


def test_circuit_opens_after_repeated_failures_and_stops_calling() -> None:
    handler, seen = sequence(httpx.Response(500))
    upstream = make(handler, circuit_fail_max=2, circuit_reset_seconds=60)
    for _ in range(2):
        with pytest.raises(UpstreamServerError):
            upstream.request("GET", "/x")
    calls = len(seen)
    with pytest.raises(CircuitOpen):
        upstream.request("GET", "/x")
    assert len(seen) == calls, "an open circuit must not call the upstream"
    assert upstream.circuit_state == "open"


def test_client_errors_do_not_open_the_circuit() -> None:
    handler, _ = sequence(httpx.Response(404))
    upstream = make(handler, circuit_fail_max=2)
    for _ in range(5):
        with pytest.raises(UpstreamRejected):
            upstream.request("GET", "/x")
    assert upstream.circuit_state == "closed"


def test_circuit_half_opens_after_the_reset_time_and_closes_on_success() -> None:
    handler, _ = sequence(httpx.Response(500), httpx.Response(500), httpx.Response(200))
    upstream = make(handler, circuit_fail_max=1, circuit_reset_seconds=0.2,
                    retry=RetryPolicy(max_attempts=1))
    with pytest.raises(UpstreamServerError):
        upstream.request("GET", "/x")
    with pytest.raises(CircuitOpen):
        upstream.request("GET", "/x")
    time.sleep(0.25)
    with pytest.raises(UpstreamServerError):
        upstream.request("GET", "/x")  # the trial call fails: open again
    time.sleep(0.25)
    assert upstream.request("GET", "/x").status_code == 200
    assert upstream.circuit_state == "closed"


def test_path_parameters_are_quoted_and_the_endpoint_template_is_the_label() -> None:
    handler, seen = sequence(httpx.Response(200))
    upstream = make(handler)
    upstream.request("GET", "/requests/{id}", path_params={"id": "a/b c"})
    assert seen[0].url.raw_path == b"/requests/a%2Fb%20c"
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/requests/{id}", "200")._value.get() == 1


def test_calls_to_one_upstream_run_concurrently() -> None:
    """The breaker must not serialise calls (pybreaker's lock did: one call at a time)."""
    import threading

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.3)
        return httpx.Response(200)

    upstream = make(slow)
    threads = [threading.Thread(target=upstream.request, args=("GET", "/slow")) for _ in range(6)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 1.0, "six 0.3 s calls should overlap, not queue"


def test_half_open_lets_one_trial_through_at_a_time() -> None:
    from bridge.delivery import CircuitOpen
    from bridge.delivery._breaker import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker("trial", fail_max=1, reset_seconds=10, clock=lambda: now[0])
    with pytest.raises(RuntimeError):
        breaker.call(lambda: (_ for _ in ()).throw(RuntimeError("down")))
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: 1)
    now[0] = 11.0
    assert breaker.state == "half-open"
    inside: list[object] = []

    def trial() -> int:
        with pytest.raises(CircuitOpen):
            breaker.call(lambda: 2)  # a second caller while the trial runs is refused
        inside.append(True)
        return 1

    assert breaker.call(trial) == 1 and inside
    assert breaker.state == "closed"


def test_raw_content_and_an_error_status_that_is_an_answer() -> None:
    fault = b'<Envelope><Body><Fault><faultcode>Client</faultcode></Fault></Body></Envelope>'
    handler, seen = sequence(httpx.Response(500, content=fault), httpx.Response(500, content=b"oops"))
    upstream = make(handler, circuit_fail_max=1)

    def soap_fault(response: httpx.Response) -> bool:
        return response.status_code == 500 and b"<Fault>" in response.content

    answer = upstream.request("POST", "/soap", content=b"<Envelope/>", headers={"Content-Type": "text/xml"},
                              is_answer=soap_fault)
    assert answer.status_code == 500 and answer.content == fault
    assert seen[0].content == b"<Envelope/>" and seen[0].headers["Content-Type"] == "text/xml"
    assert len(seen) == 1, "an answer is not retried"
    assert upstream.circuit_state == "closed", "nor counted as a failure"
    with pytest.raises(UpstreamServerError):
        upstream.request("POST", "/soap", content=b"<Envelope/>", is_answer=soap_fault)
