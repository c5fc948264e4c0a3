"""The SOAP threads: a call runs in one of N threads and its answer, or its error, comes back to the loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from bridge.soap._threads import ThreadHop

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
