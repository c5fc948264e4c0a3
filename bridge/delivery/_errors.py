"""Exceptions raised by the delivery path.

    DeliveryError
    ├── UpstreamUnavailable      the upstream could not be reached or kept failing
    │   ├── UpstreamTimeout      no answer within the timeout (the request may have been processed)
    │   ├── UpstreamConnectError the connection could not be made (the request was not sent)
    │   │   └── UpstreamTlsError TLS failed: the server's chain is not trusted, or a client certificate is wanted
    │   ├── UpstreamServerError  5xx after the retry budget
    │   │   └── UpstreamRefused  a 2xx answer that said "not now" (``retry_answer``) after the retry budget
    │   └── CircuitOpen          the circuit breaker refuses calls for a while
    └── UpstreamRejected         the upstream answered with a 4xx: the request itself is wrong

Messages name the upstream and the endpoint template, never a body or a full URL, so
they may be logged and shown as they are.
"""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, upstream: str, endpoint: str, message: str) -> None:
        super().__init__(f"{upstream} {endpoint}: {message}")
        self.upstream = upstream
        self.endpoint = endpoint


class UpstreamUnavailable(DeliveryError):
    """The call did not get a usable answer; trying later may succeed."""


class UpstreamTimeout(UpstreamUnavailable):
    pass


class UpstreamConnectError(UpstreamUnavailable):
    pass


class UpstreamTlsError(UpstreamConnectError):
    """TLS failed (not retried: the next attempt meets the same certificate); ``problem`` says what, for ops."""

    def __init__(self, upstream: str, endpoint: str, problem: str) -> None:
        super().__init__(upstream, endpoint, problem)
        self.problem = problem


class UpstreamServerError(UpstreamUnavailable):
    def __init__(self, upstream: str, endpoint: str, status_code: int) -> None:
        super().__init__(upstream, endpoint, f"HTTP {status_code} after retries")
        self.status_code = status_code


class UpstreamRefused(UpstreamServerError):
    """An answer read by the caller's ``retry_answer`` as a transient refusal, until the budget ran out.

    ``status_code`` is the HTTP status it was counted as (429, 503…), ``reason`` the caller's
    words for it (``VK error 6``); the answer itself came with a 2xx status.
    """

    def __init__(self, upstream: str, endpoint: str, status_code: int, reason: str) -> None:
        DeliveryError.__init__(self, upstream, endpoint, f"refused ({reason}, counted as HTTP {status_code}) "
                                                         "after retries")
        self.status_code = status_code
        self.reason = reason


class CircuitOpen(UpstreamUnavailable):
    def __init__(self, upstream: str, endpoint: str) -> None:
        super().__init__(upstream, endpoint, "circuit open, upstream is failing; not called")


class UpstreamRejected(DeliveryError):
    """A 4xx answer (other than 429): retrying the same request will not help."""

    def __init__(self, upstream: str, endpoint: str, status_code: int, body: bytes) -> None:
        super().__init__(upstream, endpoint, f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body
