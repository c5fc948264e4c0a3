"""Waiting for stored answers on the event loop: one store read per poll for every parked call.

A call parked on a СМЭВ exchange (bridge/parking.py) awaits :meth:`AnswerWatch.wait`. Per event loop
one task reads, every ``poll_seconds``, which of the awaited exchanges are settled (answered,
acknowledged or dead) — one query whatever the number of waiting calls, where blocking callers read
the store once each per poll — and wakes their callers. The GetResponse runner of this process calls
:meth:`nudge` when it stored an answer, so a caller here hears at once; answers stored by another
instance are found by the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable

from bridge.observability import get_logger

__all__ = ["AnswerWatch"]

_log = get_logger("bridge.smev")


class _LoopWatch:
    """The waiting calls of one event loop and the task that polls for them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[str, list[asyncio.Future[None]]] = {}
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class AnswerWatch:
    def __init__(self, settled: Callable[[list[str]], Iterable[str]], poll_seconds: float) -> None:
        """``settled(ids)``: which of the exchange ids are settled (a blocking store read, run off the loop)."""
        self._settled = settled
        self.poll_seconds = poll_seconds
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWatch] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def wait(self, exchange_id: str, timeout: float) -> bool:
        """True when the exchange settled within ``timeout`` seconds, False when the time ran out."""
        loop = asyncio.get_running_loop()
        with self._lock:
            watch = self._loops.get(loop)
            if watch is None:
                watch = self._loops[loop] = _LoopWatch(loop)
        future: asyncio.Future[None] = loop.create_future()
        watch.waiting.setdefault(exchange_id, []).append(future)
        if watch.task is None or watch.task.done():
            watch.task = loop.create_task(self._poll(watch), name="smev-answer-watch")
        watch.wake.set()  # a first read at once: the answer may have come while the call was parking
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            futures = watch.waiting.get(exchange_id)
            if futures is not None:
                with contextlib.suppress(ValueError):
                    futures.remove(future)
                if not futures:
                    del watch.waiting[exchange_id]

    def nudge(self) -> None:
        """An answer was stored: read the store now (callable from any thread)."""
        with self._lock:
            watches = list(self._loops.values())
        for watch in watches:
            if watch.waiting:
                with contextlib.suppress(RuntimeError):  # a closed loop
                    watch.loop.call_soon_threadsafe(watch.wake.set)

    def waiting(self) -> int:
        """Calls waiting now, on every loop."""
        with self._lock:
            return sum(len(f) for watch in self._loops.values() for f in watch.waiting.values())

    async def _poll(self, watch: _LoopWatch) -> None:
        while watch.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), self.poll_seconds)
            watch.wake.clear()
            ids = list(watch.waiting)
            if not ids:
                break
            try:
                settled = await watch.loop.run_in_executor(None, self._read, ids)
            except Exception as exc:  # the store is down: the callers wait on, up to their deadlines
                _log.warning("smev.watch_failed", error=type(exc).__name__)
                continue
            for exchange_id in settled:
                for future in watch.waiting.get(exchange_id, ()):
                    if not future.done():
                        future.set_result(None)

    def _read(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            found.update(self._settled(ids[start:start + 500]))
        return found
