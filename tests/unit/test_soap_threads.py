"""The SOAP threads: a call runs in one of N threads and its answer, or its error, comes back to the loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest
from lxml import etree

from bridge.soap._asgi import WsgiOneHop
from bridge.soap._threads import HopBusy, ThreadHop

_who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_answers_and_errors_come_back_to_the_awaiting_coroutine() -> None:
    hop = ThreadHop(2, "t")

    def boom() -> None:
        raise KeyError("missing")

    async def main() -> None:
        assert await hop.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(KeyError, match="missing"):
            await hop.run(boom)
        assert await hop.run(threading.current_thread) is not threading.current_thread()

    try:
        asyncio.run(main())
    finally:
        hop.close()


def test_the_callers_context_reaches_the_thread_when_run_in_it() -> None:
    hop = ThreadHop(1, "t")

    async def main() -> str:
        _who.set("request-42")
        return await hop.run(contextvars.copy_context().run, _who.get)

    try:
        assert asyncio.run(main()) == "request-42"
    finally:
        hop.close()


def test_at_most_n_calls_run_at_once_and_all_are_answered() -> None:
    hop = ThreadHop(3, "t")
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return n * n

    async def main() -> list[int]:
        return list(await asyncio.gather(*(hop.run(work, n) for n in range(30))))

    try:
        assert asyncio.run(main()) == [n * n for n in range(30)]
        assert peak == 3
        assert sorted(t.name for t in hop._started) == ["t_0", "t_1", "t_2"]
    finally:
        hop.close()


def test_a_cancelled_caller_leaves_the_threads_working() -> None:
    hop = ThreadHop(1, "t")
    release = threading.Event()

    async def main() -> str:
        slow = asyncio.create_task(hop.run(release.wait, 5))
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        release.set()
        return await hop.run(lambda: "still here")

    try:
        assert asyncio.run(main()) == "still here"
    finally:
        hop.close()


def test_close_stops_the_threads() -> None:
    hop = ThreadHop(2, "t")
    asyncio.run(hop.run(lambda: None))
    threads = list(hop._started)
    hop.close()
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(ValueError):
        ThreadHop(0, "t")


def test_threads_start_only_as_calls_need_them() -> None:
    hop = ThreadHop(8, "t")

    async def main() -> None:
        for _ in range(5):  # one after another: one thread is enough
            await hop.run(lambda: None)
        assert len(hop._started) == 1
        release = threading.Event()
        calls = [asyncio.ensure_future(hop.run(release.wait, 5)) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert len(hop._started) == 3  # three at once: three threads, not eight
        release.set()
        await asyncio.gather(*calls)

    try:
        asyncio.run(main())
    finally:
        hop.close()


def test_beyond_the_threads_and_the_queue_a_call_is_refused_at_once_and_the_rest_are_answered() -> None:
    hop = ThreadHop(2, "t", waiting=3)
    release = threading.Event()

    async def main() -> None:
        held = [asyncio.ensure_future(hop.run(release.wait, 5)) for _ in range(5)]  # 2 running, 3 queued
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(HopBusy) as refused:
            await hop.run(lambda: "never run")
        assert time.monotonic() - started < 0.05  # refused at once, not after a wait
        assert (refused.value.threads, refused.value.waiting) == (2, 3)
        assert len(hop._started) == 2  # no thread beyond the bound
        release.set()
        assert await asyncio.gather(*held) == [True] * 5
        assert await hop.run(lambda: "served again") == "served again"

    try:
        asyncio.run(main())
    finally:
        hop.close()


def test_a_busy_process_answers_a_server_busy_soap_fault_without_calling_the_service() -> None:
    release = threading.Event()
    called: list[str] = []

    def service(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        called.append(environ["PATH_INFO"])
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [b"<ok/>"]

    endpoint = WsgiOneHop(service, max_body=1000)
    endpoint.hop = ThreadHop(1, "t", waiting=0)
    sent: list[MutableMapping[str, Any]] = []

    async def call() -> None:
        messages = [{"type": "http.request", "body": b"<x/>", "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await endpoint({"type": "http", "method": "POST", "path": "/soap/esia-accounts", "headers": []}, receive, send)

    async def main() -> None:
        first = asyncio.ensure_future(call())
        await asyncio.sleep(0.1)
        await call()  # the one thread is busy and nothing may wait: refused
        release.set()
        await first

    try:
        asyncio.run(main())
    finally:
        endpoint.hop.close()
    busy_start, busy_body, ok_start, _ = sent
    assert called == ["/soap/esia-accounts"]
    assert busy_start["status"] == 500 and ok_start["status"] == 200
    assert dict(busy_start["headers"])[b"content-type"] == b"text/xml; charset=utf-8"
    envelope = etree.fromstring(busy_body["body"])
    soap = "http://schemas.xmlsoap.org/soap/envelope/"
    assert envelope.tag == f"{{{soap}}}Envelope"
    fault = envelope.find(f"{{{soap}}}Body/{{{soap}}}Fault")
    assert fault is not None and fault.findtext("faultcode") == "soap11env:Server.Busy"
    assert "перегружен" in (fault.findtext("faultstring") or "")


def test_beyond_the_eager_threads_calls_blocked_on_an_upstream_get_threads_within_a_check() -> None:
    """Thirty calls each blocked 0.3 s on an upstream, two eager threads: the hop sees the process idle
    while calls queue and starts a thread for each (with two threads they would take 4.5 s)."""
    hop = ThreadHop(64, "t", eager=2, check_seconds=0.02)

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(hop.run(time.sleep, 0.3) for _ in range(30)))
        return time.monotonic() - started

    try:
        elapsed = asyncio.run(main())
        assert len(hop._started) == 30
        assert elapsed < 2.0, elapsed
    finally:
        hop.close()


def test_a_burst_of_cpu_work_starts_no_thread_beyond_the_eager_ones() -> None:
    """The process's CPU clock runs as fast as the wall clock (one core busy: the GIL's work): more
    threads would not help, so none start beyond ``eager``; every call is still answered."""
    hop = ThreadHop(64, "t", eager=2, check_seconds=0.01, cpu_clock=time.monotonic)

    def spin(n: int) -> int:
        until = time.monotonic() + 0.005
        while time.monotonic() < until:
            pass
        return n

    async def main() -> list[int]:
        return list(await asyncio.gather(*(hop.run(spin, n) for n in range(40))))

    try:
        assert asyncio.run(main()) == list(range(40))
        assert len(hop._started) == 2
    finally:
        hop.close()


def test_calls_an_upstream_answers_steadily_start_no_thread_beyond_the_eager_ones() -> None:
    """Each call waits 30 ms on an upstream (the process idle), but with two threads a call finishes every
    15 ms: the upstream answers as fast as it can be asked, so no thread starts beyond ``eager``."""
    hop = ThreadHop(64, "t", eager=2, check_seconds=0.1)

    async def main() -> None:
        await asyncio.gather(*(hop.run(time.sleep, 0.03) for _ in range(40)))

    try:
        asyncio.run(main())
        assert len(hop._started) == 2
    finally:
        hop.close()


def test_a_full_queue_starts_the_threads_left_in_the_bound_before_refusing() -> None:
    hop = ThreadHop(3, "t", waiting=0, eager=1, cpu_clock=time.monotonic)
    release = threading.Event()

    async def main() -> None:
        held = [asyncio.ensure_future(hop.run(release.wait, 5)) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert len(hop._started) == 3  # the queue holds nobody: each call took a thread of the bound
        with pytest.raises(HopBusy):
            await hop.run(lambda: "never run")
        release.set()
        assert await asyncio.gather(*held) == [True] * 3

    try:
        asyncio.run(main())
    finally:
        hop.close()


def test_the_look_at_blocked_threads_is_made_again_on_a_new_event_loop() -> None:
    """A check pending when its loop closed must not stop the next loop's calls from getting threads."""
    hop = ThreadHop(16, "t", eager=1, check_seconds=10)
    release = threading.Event()

    async def leave_a_check_pending() -> None:
        first = asyncio.ensure_future(hop.run(release.wait, 5))
        second = asyncio.ensure_future(hop.run(lambda: None))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, second)

    async def blocked_calls() -> None:
        await asyncio.gather(*(hop.run(time.sleep, 0.3) for _ in range(6)))

    try:
        asyncio.run(leave_a_check_pending())
        assert hop._check is not None  # scheduled on the first loop, which is closed now
        hop.check_seconds = 0.02
        started = time.monotonic()
        asyncio.run(blocked_calls())
        assert time.monotonic() - started < 1.2
        assert len(hop._started) == 6
    finally:
        hop.close()
