"""The delivery path's cheap per-call machinery keeps the semantics of what it replaced.

The retry loop answers as tenacity's strategies did, the URL is merged as httpx merges it,
cookies are still kept, the circuit still counts failures in a row, and the outbox's idle
polling backs off without delaying work that arrives.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest

from bridge.delivery import CircuitOpen, RetryPolicy, Timeouts, Upstream, UpstreamConfig, UpstreamServerError
from bridge.delivery._breaker import CircuitBreaker
from bridge.delivery._policy import RetryableStatus
from bridge.metrics import UPSTREAM_ATTEMPTS, UPSTREAM_REQUESTS
from bridge.observability import configure_logging
from bridge.outbox import WorkerPool

_names = itertools.count()


def make(handler: Callable[[httpx.Request], httpx.Response], base_url: str = "http://upstream.test",
         **overrides: object) -> Upstream:
    fields: dict[str, object] = {
        "retry": RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.005, jitter=0.001),
        **overrides,
    }
    config = UpstreamConfig(name=f"loop{next(_names)}", base_url=base_url, timeouts=Timeouts(connect=0.5, read=0.5),
                            **fields)  # type: ignore[arg-type]
    return Upstream(config, transport=httpx.MockTransport(handler))


# -- the retry policy, without tenacity -----------------------------------------------------------


def _state(attempt: int, exc: BaseException, elapsed: float) -> SimpleNamespace:
    """What tenacity's wait and stop strategies read from a RetryCallState."""
    outcome = SimpleNamespace(failed=True, exception=lambda: exc)
    return SimpleNamespace(attempt_number=attempt, outcome=outcome, seconds_since_start=elapsed)


@pytest.mark.parametrize("policy", [RetryPolicy(), RetryPolicy(backoff_initial=0.3, backoff_max=1.0, jitter=0.5),
                                    RetryPolicy(max_attempts=2, budget_seconds=0.5, max_retry_after=3.0)])
def test_backoff_and_giving_up_answer_as_the_tenacity_strategies(policy: RetryPolicy) -> None:
    response = httpx.Response(503)
    failures: list[BaseException] = [httpx.ConnectError("down"), RetryableStatus(response, None),
                                     RetryableStatus(response, 2.0), RetryableStatus(response, 60.0)]
    wait, stop = policy.wait(), policy.stop()
    for attempt in (1, 2, 3, 4, 5, 8, 30, 2000):
        for exc in failures:
            seed = random.random()
            random.seed(seed)
            expected = wait(_state(attempt, exc, 0.0))  # type: ignore[arg-type]
            random.seed(seed)
            assert policy.backoff(attempt, exc) == expected
        for elapsed in (0.0, 0.4, 0.5, 14.9, 15.0, 16.0):
            assert policy.gives_up(attempt, elapsed) == stop(_state(attempt, failures[0], elapsed))  # type: ignore[arg-type]


def test_the_budget_in_seconds_ends_the_retries_with_the_last_error() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        return httpx.Response(503 if len(calls) < 3 else 502)

    upstream = make(handler, retry=RetryPolicy(max_attempts=100, backoff_initial=0.04, backoff_max=0.04, jitter=0.0,
                                               budget_seconds=0.1))
    with pytest.raises(UpstreamServerError) as info:
        upstream.request("GET", "/x")
    assert 3 <= len(calls) <= 5, "stops once 0.1 s have passed, not after 100 attempts"
    assert info.value.status_code == (503 if len(calls) < 3 else 502)
    assert all(b - a >= 0.035 for a, b in itertools.pairwise(calls)), "waits between attempts"


def test_an_error_not_worth_retrying_escapes_at_once_and_counts_against_the_circuit() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise ValueError("a bug in the transport")

    upstream = make(handler, circuit_fail_max=1)
    with pytest.raises(ValueError):
        upstream.request("GET", "/x")
    assert len(calls) == 1
    assert upstream.circuit_state == "open"
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/x", "error")._value.get() == 1
    assert UPSTREAM_ATTEMPTS.labels(upstream.name, "/x", "error")._value.get() == 1


# -- URLs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["http://up.test", "http://up.test/api/v1", "http://up.test/api/v1/",
                                      "https://up.test:8443/a%20b"])
def test_the_url_sent_is_the_one_httpx_would_build_from_the_base_url(base_url: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    upstream = make(handler, base_url=base_url)
    reference = httpx.Client(base_url=base_url)
    cases: list[tuple[str, dict[str, str] | None, dict[str, str] | None]] = [
        ("/requests/find_account", None, None),
        ("requests/{op}", {"op": "find account/ü"}, None),
        ("/requests/{id}?x=1", {"id": "42"}, {"page": "2"}),
        ("/requests/find_account", None, {"q": "a b"}),
        ("http://elsewhere.test/abs", None, None),
    ]
    for _ in range(2):  # the second time from the cache
        for endpoint, path_params, params in cases:
            upstream.request("GET", endpoint, path_params=path_params, params=params)
            url = endpoint.format(**{k: quote(v, safe="") for k, v in (path_params or {}).items()})
            assert seen[-1].url == reference.build_request("GET", url, params=params).url


def test_the_url_cache_stays_bounded() -> None:
    upstream = make(lambda request: httpx.Response(200))
    for n in range(700):
        upstream.request("GET", "/requests/{id}", path_params={"id": str(n)})
    assert 0 < len(upstream._urls) <= 256


def test_a_url_httpx_refuses_is_refused_in_the_attempt_as_before() -> None:
    upstream = make(lambda request: httpx.Response(200))
    with pytest.raises(httpx.InvalidURL):
        upstream.request("GET", "/x\x00y")
    assert UPSTREAM_REQUESTS.labels(upstream.name, "/x\x00y", "error")._value.get() == 1


# -- cookies ---------------------------------------------------------------------------------------


def test_cookies_an_upstream_sets_are_still_kept_and_sent_back() -> None:
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(200, headers={"Set-Cookie": "route=b2; Path=/"}), httpx.Response(200),
                    httpx.Response(200, headers={"Set-Cookie": "route=b3; Path=/"}), httpx.Response(200)])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    upstream = make(handler)
    for _ in range(4):
        upstream.request("GET", "/x")
    assert "cookie" not in seen[0].headers
    assert seen[1].headers["cookie"] == "route=b2"
    assert seen[2].headers["cookie"] == "route=b2", "an answer without Set-Cookie leaves the jar as it was"
    assert seen[3].headers["cookie"] == "route=b3"


# -- logging ---------------------------------------------------------------------------------------


def test_a_successful_attempt_is_logged_at_debug_only() -> None:
    upstream = make(lambda request: httpx.Response(200))
    out = io.StringIO()
    try:
        configure_logging("DEBUG", stream=out)
        upstream.request("GET", "/x")
        configure_logging("WARNING", stream=out)
        upstream.request("GET", "/y")
    finally:
        configure_logging("INFO", stream=io.StringIO())
    events = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    attempts = [e for e in events if e.get("event") == "upstream.attempt"]
    assert [(e["endpoint"], e["status"], e["attempt"]) for e in attempts] == [("/x", "200", 1)]


# -- the circuit -----------------------------------------------------------------------------------


def test_a_success_between_failures_resets_the_count_in_a_row() -> None:
    breaker = CircuitBreaker("row", fail_max=3, reset_seconds=10)

    def fail() -> None:
        raise RuntimeError("down")

    for outcome in (fail, fail, lambda: None, fail, fail):
        with pytest.raises(RuntimeError) if outcome is fail else _nothing():
            breaker.call(outcome)
    assert breaker.state == "closed"
    with pytest.raises(RuntimeError):
        breaker.call(fail)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: None)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- the outbox's idle polling ---------------------------------------------------------------------


def test_idle_workers_poll_less_and_less_up_to_the_maximum() -> None:
    polls: list[float] = []

    def run(worker_id: str, batch: int, may_continue: Callable[[], bool]) -> int:
        polls.append(time.monotonic())
        return 0

    pool = WorkerPool(run, workers=1, poll_interval=0.01, batch=10, idle_poll_max=0.08)
    time.sleep(0.6)
    assert pool.stop(deadline_seconds=1)
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    # 0.01, 0.02, 0.04, then 0.08 each: about 10 polls in 0.6 s where a fixed 0.01 s would make ~60.
    assert 5 <= len(polls) <= 14
    assert max(gaps) < 0.08 + 0.05 and gaps[-1] >= 0.07


def test_work_arriving_after_an_idle_spell_is_taken_within_the_maximum_then_at_full_speed() -> None:
    queue: list[int] = []
    lock = threading.Lock()
    taken: list[tuple[int, float]] = []

    def run(worker_id: str, batch: int, may_continue: Callable[[], bool]) -> int:
        with lock:
            items, queue[:] = queue[:1], queue[1:]
        for item in items:
            taken.append((item, time.monotonic()))
        return len(items)

    pool = WorkerPool(run, workers=1, poll_interval=0.01, batch=1, idle_poll_max=0.1)
    time.sleep(0.5)  # long idle: the wait is at its maximum
    enqueued = time.monotonic()
    with lock:
        queue.extend(range(20))
    deadline = time.monotonic() + 5
    while len(taken) < 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert pool.stop(deadline_seconds=1)
    assert [item for item, _ in taken] == list(range(20))
    assert taken[0][1] - enqueued < 0.1 + 0.05, "claimed within idle_poll_max"
    assert taken[-1][1] - taken[0][1] < 0.1, "a busy worker polls again at once, not after a back-off"
