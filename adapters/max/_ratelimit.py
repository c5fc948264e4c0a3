"""Keeping the bot under MAX's request rate (30 rps per bot), in one process or across all.

Both limiters pace calls (GCRA with no burst): each ``acquire`` reserves the next slot,
``1 / rate`` seconds after the previous one, and sleeps until it. Paced calls never exceed
``rate`` in any sliding second, whatever the window the server counts in.

``StoreRateLimiter`` keeps the next free slot in one row of the bridge's store and moves it
with a single atomic UPDATE … RETURNING, so every instance on the same store shares one
budget. Assumption: the instances' clocks agree to a few milliseconds (NTP); the default
rate leaves headroom for that and for scheduling jitter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import text

from bridge.store import Store

MAX_REQUESTS_PER_SECOND = 30
DEFAULT_RATE = 27.0  # headroom under 30 rps for clock skew between instances and send jitter
MIGRATIONS = Path(__file__).with_name("migrations")


class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        ...


class LocalRateLimiter:
    """Process-local pacing (thread-safe)."""

    def __init__(self, rate: float = DEFAULT_RATE, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + self._interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)


_ENSURE = text("INSERT INTO max_rate_slot (bucket, next_at) VALUES (:bucket, 0) ON CONFLICT (bucket) DO NOTHING")
_RESERVE = text(
    "UPDATE max_rate_slot SET next_at = (CASE WHEN next_at > :now THEN next_at ELSE :now END) + :interval "
    "WHERE bucket = :bucket RETURNING next_at"
)


class StoreRateLimiter:
    """Pacing shared by every instance on one store (SQLite or PostgreSQL).

    Needs the ``max`` migration branch (``store.upgrade([MIGRATIONS])``).
    """

    def __init__(self, store: Store, bucket: str = "max-bot", rate: float = DEFAULT_RATE, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._store = store
        self._bucket = bucket
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        with store.engine.begin() as connection:
            connection.execute(_ENSURE, {"bucket": bucket})

    def acquire(self) -> float:
        with self._store.engine.begin() as connection:
            now = self._clock()
            next_at = connection.execute(
                _RESERVE, {"bucket": self._bucket, "now": now, "interval": self._interval}
            ).scalar_one()
        wait = float(next_at) - self._interval - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)
