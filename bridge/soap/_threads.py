"""The threads SOAP calls run in, and the one hop from the event loop to them and back.

``loop.run_in_executor`` with a ``ThreadPoolExecutor`` goes through a ``concurrent.futures.Future``
per call: a ``threading.Condition`` made for it, notified when it is done, and an asyncio future
chained to it by callbacks. Here the call goes into a ``queue.SimpleQueue`` (C) and its answer
comes back with one ``loop.call_soon_threadsafe`` into a plain asyncio future: 11 µs a hop instead
of 28 in a loop of empty calls, and 1.45 → 1.25 ms of bridge CPU per CheckPatient under load in
an interleaved A/B (docs/performance.md, "The third round").

Capacity: a thread is started when a call finds none free, up to ``eager`` threads at once; beyond
``eager``, up to ``threads``, only when the threads are *stuck*: calls queue, no call finished in the
last ``check_seconds`` and the process used less than ``busy_share`` of a core meanwhile (the threads
wait on something slow, not on the GIL). A burst of CPU-bound calls (parse, sign) gains nothing from
more threads than the GIL lets run, nor do calls that an upstream answers steadily but no faster
(more threads only queue more at it), and each started thread keeps ~180 KB for the life of the
process; calls that block on a slow upstream get threads within ``check_seconds`` (docs/performance.md, "Slow
upstreams"). Started threads live as long as the process (daemon threads: a call in them is
bounded by the upstream timeouts, and the server does not stop before the requests awaiting them
are answered). At most ``waiting`` calls queue for a thread (a call that finds the queue full while
threads are left in the bound starts one); the next is refused at once with ``HopBusy``
(the SOAP layer answers it as a ``Server.Busy`` fault) instead of waiting behind a queue that
only grows while a slow upstream holds every thread (docs/performance.md, "Slow upstreams").
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["HopBusy", "ThreadHop"]

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the caller went away (its task was cancelled): nobody waits for this
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class HopBusy(Exception):
    """Every thread is busy and ``waiting`` calls already queue for one: this call is refused."""

    def __init__(self, threads: int, waiting: int) -> None:
        super().__init__(f"all {threads} threads busy and {waiting} calls waiting")
        self.threads = threads
        self.waiting = waiting


class ThreadHop:
    """Up to ``threads`` threads that run blocking calls for coroutines: ``await hop.run(fn, *args)``;
    at most ``waiting`` calls queue when all are busy (``None``: no bound)."""

    def __init__(self, threads: int, name: str, waiting: int | None = None, *, eager: int | None = None,
                 check_seconds: float = 0.1, busy_share: float = 0.3,
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        """``eager``: threads started as soon as a call finds none free (None: all ``threads``)."""
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._started: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._outstanding = 0  # calls queued or running
        self.name = name
        self.threads = threads
        self.waiting = waiting
        self.eager = threads if eager is None else eager
        self.check_seconds = check_seconds
        self.busy_share = busy_share
        self._cpu_clock = cpu_clock
        self._check: asyncio.TimerHandle | None = None  # the pending look at whether the threads are blocked
        self._check_loop: asyncio.AbstractEventLoop | None = None
        self._checked_cpu = 0.0
        self._checked_at = 0.0
        self._finished = 0  # calls finished, ever (read by the check)
        self._checked_finished = 0
        self.resize(threads, waiting)

    def resize(self, threads: int, waiting: int | None) -> None:
        """Change the bounds (threads already started stay)."""
        if threads < 1:
            raise ValueError("at least one thread")
        if waiting is not None and waiting < 0:
            raise ValueError("waiting must be 0 or more")
        with self._lock:
            self.threads, self.waiting = threads, waiting

    async def run(self, fn: Callable[..., T], *args: Any, bounded: bool = True) -> T:
        """``fn(*args)`` in a thread; ``bounded=False``: queued even beyond ``waiting`` (a call admitted
        before, running again after a wait: its number is bounded where it was admitted)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            started = len(self._started)
            if self._outstanding >= started:  # no thread free for this call
                full = self.waiting is not None and self._outstanding - started >= self.waiting
                if started < self.threads and (started < self.eager or full):
                    self._start_one()  # a full queue: a thread of the bound rather than a refusal
                elif bounded and full:
                    raise HopBusy(started, self._outstanding - started)
                elif started < self.threads and (self._check is None or self._check_loop is not loop
                                                 or loop.is_closed()):
                    self._checked_cpu, self._checked_at = self._cpu_clock(), time.monotonic()
                    self._checked_finished = self._finished
                    self._check_loop = loop
                    self._check = loop.call_later(self.check_seconds, self._check_blocked, loop)
            self._outstanding += 1
            self._jobs.put((loop, future, fn, args))
        return await future

    def _check_blocked(self, loop: asyncio.AbstractEventLoop) -> None:
        """Calls queue beyond ``eager`` threads: if none finished and the process hardly used the CPU
        meanwhile, the threads are stuck on something slow, so start one for each queued call, up to
        ``threads``."""
        cpu, now = self._cpu_clock(), time.monotonic()
        share = (cpu - self._checked_cpu) / max(now - self._checked_at, 1e-6)
        with self._lock:
            self._check = None
            queued = self._outstanding - len(self._started)
            if queued <= 0:
                return
            if share < self.busy_share and self._finished == self._checked_finished:
                for _ in range(min(queued, self.threads - len(self._started))):
                    self._start_one()
            if len(self._started) < self.threads and self._outstanding > len(self._started):
                self._checked_cpu, self._checked_at, self._checked_finished = cpu, now, self._finished
                self._check = loop.call_later(self.check_seconds, self._check_blocked, loop)

    def _start_one(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self.name}_{len(self._started)}", daemon=True)
        self._started.append(thread)
        thread.start()

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
            with self._lock:  # free before the caller hears back, so its next call finds this thread
                self._outstanding -= 1
                self._finished += 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to answer
                loop.call_soon_threadsafe(_settle, future, result, error)
            del future, result, error

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads once the calls already queued are done (tests; the process's end)."""
        with self._lock:
            started, self._started = self._started, []
            if self._check is not None:
                self._check.cancel()
                self._check = None
        for _ in started:
            self._jobs.put(None)
        for thread in started:
            thread.join(timeout)
