"""What is worth retrying, and how long to wait.

``RetryPolicy.backoff`` and ``RetryPolicy.gives_up`` are what the delivery path's retry loop asks
on every failed attempt; ``wait()`` and ``stop()`` are the same policy as tenacity strategies, for
callers that use tenacity (tests/unit/test_delivery_loop.py holds the two to the same answers).
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx
import tenacity

# Failures where the request never reached the upstream: always safe to repeat.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures after the request may have been processed: repeat only idempotent calls.
_MAYBE_PROCESSED = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                    httpx.WriteError)

# Statuses that say "not processed, come back later", and those after which the request
# may or may not have been processed (a gateway or the server itself failed).
_RETRY_ALWAYS = frozenset({429, 503})
_RETRY_IF_IDEMPOTENT = frozenset({500, 502, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    jitter: float = 0.1
    budget_seconds: float = 15.0
    max_retry_after: float = 10.0

    def wait(self) -> tenacity.wait.wait_base:
        return _RetryAfterOr(
            tenacity.wait_exponential_jitter(
                multiplier=self.backoff_initial, max=self.backoff_max, jitter=self.jitter
            ),
            cap=self.max_retry_after,
        )

    def backoff(self, attempt: int, exc: BaseException) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) that raised ``exc``.

        Retry-After when the answer gave one (capped at ``max_retry_after``); else exponential
        back-off with jitter: ``backoff_initial * 2**(attempt-1) + uniform(0, jitter)``, at most
        ``backoff_max`` (tenacity's ``wait_exponential_jitter``, which ``wait()`` returns).
        """
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        jitter = random.uniform(0, self.jitter)
        try:
            result = self.backoff_initial * float(2 ** (attempt - 1)) + jitter
        except OverflowError:
            result = self.backoff_max
        return max(0.0, min(result, self.backoff_max))

    def gives_up(self, attempt: int, elapsed: float) -> bool:
        """After failed attempt ``attempt``, ``elapsed`` seconds since the first began: stop?"""
        return attempt >= self.max_attempts or elapsed >= self.budget_seconds

    def stop(self) -> tenacity.stop.stop_base:
        return tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_after_delay(
            self.budget_seconds
        )


class RetryableStatus(Exception):
    """An answer whose status says: try again (carries Retry-After when given)."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


def is_retryable_exception(exc: BaseException, idempotent: bool) -> bool:
    if isinstance(exc, RetryableStatus):
        return True
    if isinstance(exc, _NOT_SENT):
        return True
    return idempotent and isinstance(exc, _MAYBE_PROCESSED)


def status_is_retryable(status_code: int, idempotent: bool) -> bool:
    return status_code in _RETRY_ALWAYS or (idempotent and status_code in _RETRY_IF_IDEMPOTENT)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class _RetryAfterOr(tenacity.wait.wait_base):
    """Wait as the server asked (Retry-After, capped), or else by the fallback policy."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
                return min(exc.retry_after, self.cap)
        return self.fallback(retry_state)
