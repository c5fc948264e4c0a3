"""Calls that wait for a slow answer without holding a thread: a call parks, its caller waits, it runs again.

A SOAP call runs in a thread (the services are synchronous: spyne, the store, the delivery path). When
what it needs is an answer that comes minutes later by another route — a СМЭВ answer, taken by the
GetResponse runner and stored — blocking the thread for that long costs a thread per waiting call
(~90 KB each, and a bound of ``soap_threads`` calls per worker: docs/performance.md, "Slow upstreams").
So whoever runs a call may *offer parking* for it::

    parking = Parking()
    while True:
        try:
            return run_in_a_thread(parking.run, call)     # the call, with parking offered
        except CallParked as parked:
            ready = await parked.wait()                    # no thread held while waiting
            parking.resumed(parked, ready)                 # then the whole call runs again

and the code deep in the call that would block asks ``current_parking()``: with parking offered, it
raises ``parking.park(key, seconds, wait)`` instead of waiting. The call runs again from the top
once ``wait()`` returns; everything it did before parking must therefore be repeatable without
effect — for a СМЭВ exchange it is: the operation journal and the exchange journal make the repeat
join the same request and find its stored answer (bridge/smev/_exchange.py). ``wait()`` returns
False at the deadline, and the repeat is then told to wait no more (``expired``): it answers what
a blocking call would have answered when its time was up. A call of several steps (a search, then
a registration) parks at each; what a step got before a later one parked is noted in the parking
(``note``/``noted``), so the repeat does not ask again.

:class:`CallParked` is a ``BaseException``, like ``GeneratorExit``: the handlers that turn a
service's errors into SOAP faults catch ``Exception`` and let it pass to the one who offered parking.
Without parking offered (the command line, tests calling a service directly, a worker at its
``soap_parked`` bound) ``current_parking()`` is None and the call blocks as it always did.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["CallParked", "Parking", "current_parking"]

T = TypeVar("T")

_offered: contextvars.ContextVar[Parking | None] = contextvars.ContextVar("bridge_parking", default=None)


def current_parking() -> Parking | None:
    """The parking offered to the call running now, or None: then wait in the thread."""
    return _offered.get()


class CallParked(BaseException):  # a signal, not an error (as GeneratorExit)
    """The call parked at ``key``: await :meth:`wait` (True: what it waits for is there; False: the
    deadline passed), then run the call again."""

    def __init__(self, key: str, wait: Callable[[float], Awaitable[bool]], timeout: float) -> None:
        super().__init__(key)
        self.key = key
        self._wait = wait
        self.timeout = timeout

    async def wait(self) -> bool:
        return await self._wait(self.timeout)


class Parking:
    """Parking offered to one call, across its runs: the deadline of each thing it waited for
    (``key``), and which of them ran out."""

    __slots__ = ("_deadlines", "_expired", "_notes", "parks", "started")

    def __init__(self) -> None:
        self._deadlines: dict[str, float] = {}
        self._notes: dict[str, str] = {}
        self._expired: set[str] = set()
        self.parks = 0
        self.started = time.perf_counter()  # when the call first ran: its duration counts from here

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` with this parking offered (in the thread that runs the call)."""
        token = _offered.set(self)
        try:
            return fn(*args)
        finally:
            _offered.reset(token)

    def park(self, key: str, seconds: float, wait: Callable[[float], Awaitable[bool]]) -> CallParked:
        """The signal to raise: wait for ``key`` at most ``seconds`` from its first park (a later run
        parking at the same key keeps the first deadline). ``wait(timeout)`` is awaited by the caller."""
        deadline = self._deadlines.setdefault(key, time.monotonic() + seconds)
        self.parks += 1
        return CallParked(key, wait, max(0.0, deadline - time.monotonic()))

    def expired(self, key: str) -> bool:
        """True when the wait for ``key`` ran out: answer as a blocking wait would at its deadline."""
        return key in self._expired or (key in self._deadlines and time.monotonic() >= self._deadlines[key])

    def resumed(self, parked: CallParked, ready: bool) -> None:
        """Record how the wait of ``parked`` ended, before the call runs again."""
        if not ready:
            self._expired.add(parked.key)

    def note(self, what: str, value: str) -> None:
        """Remember ``value`` for ``what`` across this call's runs: a step the call finished before it
        parked at a later one is not done again when it runs again (e.g. the same request is not sent
        twice: bridge/smev/_exchange.py notes each request's exchange)."""
        self._notes[what] = value

    def noted(self, what: str) -> str | None:
        return self._notes.get(what)

    def seen(self, key: str) -> bool:
        """True when this call parked at ``key`` before (the repeat is not a new press)."""
        return key in self._deadlines
