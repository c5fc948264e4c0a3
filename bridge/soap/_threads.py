"""The threads SOAP calls run in, and the one hop from the event loop to them and back.

``loop.run_in_executor`` with a ``ThreadPoolExecutor`` goes through a ``concurrent.futures.Future``
per call: a ``threading.Condition`` made for it, notified when it is done, and an asyncio future
chained to it by callbacks. Here the call goes into a ``queue.SimpleQueue`` (C) and its answer
comes back with one ``loop.call_soon_threadsafe`` into a plain asyncio future: 11 µs a hop instead
of 28 in a loop of empty calls, and 1.45 → 1.25 ms of bridge CPU per CheckPatient under load in
an interleaved A/B (docs/performance.md, "The third round"). The threads start with the first
call and live as long as the process; they are daemon threads because a call in them is bounded
by the upstream timeouts, and the server does not stop before the requests awaiting them are
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ThreadHop"]

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the caller went away (its task was cancelled): nobody waits for this
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ThreadHop:
    """``threads`` threads that run blocking calls for coroutines: ``await hop.run(fn, *args)``."""

    def __init__(self, threads: int, name: str) -> None:
        if threads < 1:
            raise ValueError("at least one thread")
        self.threads = threads
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._started: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(self.threads):
                thread = threading.Thread(target=self._work, name=f"{self.name}_{n}", daemon=True)
                thread.start()
                self._started.append(thread)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, fn, args = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting coroutine, as run_in_executor does
                error = exc
            del job, fn, args
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to answer
                loop.call_soon_threadsafe(_settle, future, result, error)
            del future, result, error

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads once the calls already queued are done (tests; the process's end)."""
        with self._lock:
            started, self._started = self._started, []
        for _ in started:
            self._jobs.put(None)
        for thread in started:
            thread.join(timeout)
