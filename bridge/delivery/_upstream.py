"""Upstream: the one path every call to an upstream takes.

Timeouts and kept-alive connections (httpx's transport, a pool per thread: _transport.py),
retries with exponential back-off and jitter for transient failures only (RetryPolicy, in a
plain loop), a circuit breaker (_breaker.py), idempotency keys for calls that are not idempotent
by nature, and one metric sample and log line per attempt. Adapters build requests and read
answers; they never retry or time anything themselves. An adapter whose upstream refuses with
HTTP 200 (VK-style ``{"error": …}``) tells the path so with ``retry_answer``, and the refusal is
retried and counted like the status it names.

Every CheckPatient takes this path once, so its fixed cost per call is kept small (measured in
docs/performance.md): the retry loop builds nothing when the first attempt answers, the URL of an
endpoint without path parameters is merged with the base URL once, metric children are looked
up once per label set, the success line is not even built unless DEBUG is on, and the request goes
straight to httpx's transport (``Exchange``), not through ``httpx.Client``'s layers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from bridge.delivery._breaker import make_breaker
from bridge.delivery._policy import (
    RetryableStatus,
    RetryPolicy,
    is_retryable_exception,
    parse_retry_after,
    status_is_retryable,
)
from bridge.delivery._tls import TlsTrust, egress_proxy, observe_client_certificate, ssl_context, tls_failure
from bridge.delivery._transport import Exchange, default_transport
from bridge.errors import (
    CircuitOpen,
    UpstreamBusy,
    UpstreamConnectError,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamTlsError,
    UpstreamUnavailable,
)
from bridge.metrics import UPSTREAM_ATTEMPTS, UPSTREAM_REQUEST_SECONDS, UPSTREAM_REQUESTS
from bridge.observability import current_request_id, get_logger

_log = get_logger("bridge.delivery")
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Merged URLs kept per Upstream (emptied when full: a few hot URLs, and ids that come once).
_MAX_CACHED_URLS = 256


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 2.0
    read: float = 10.0
    write: float = 10.0
    pool: float = 2.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    name: str
    base_url: str
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    circuit_fail_max: int = 5
    circuit_reset_seconds: float = 30.0
    max_connections: int = 50
    idempotency_header: str = "Idempotency-Key"
    request_id_header: str = "X-Request-ID"
    tls: TlsTrust | None = None     # CA, client certificate, egress proxy (_tls.py); None: httpx's defaults


@dataclass(frozen=True, slots=True)
class RetryAnswer:
    """What a ``retry_answer`` hook returns for a 2xx answer that is really a transient refusal.

    The answer is then handled exactly as if it had come with HTTP ``status``: retried when that
    status is (429 and 503 always; 500, 502, 504 only for idempotent calls), after ``retry_after``
    seconds (capped like Retry-After) or the policy's back-off; counted under ``status`` in the
    attempt and request metrics; and, once the budget is spent, raised as ``UpstreamBusy``.
    ``reason`` names the refusal in that error and in the log line (``VK error 6``): never data.
    """

    reason: str
    status: int = 429
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if not status_is_retryable(self.status, idempotent=True):
            raise ValueError(f"a refusal counts as a status worth retrying (429, 5xx), not {self.status}")


class _Refused(RetryableStatus):
    """A 2xx answer the caller's hook read as a refusal."""

    def __init__(self, response: httpx.Response, refusal: RetryAnswer) -> None:
        super().__init__(response, refusal.retry_after)
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class _Call:
    """One logical call: what every attempt of it sends."""

    method: str
    endpoint: str
    url: httpx.URL | str
    json: Any
    data: Mapping[str, str] | None
    content: bytes | None
    params: Mapping[str, str] | None
    headers: dict[str, str]
    idempotent: bool
    is_answer: Callable[[httpx.Response], bool] | None
    retry_answer: Callable[[httpx.Response], RetryAnswer | None] | None


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


class _Children:
    """A metric's children by label values, looked up in prometheus_client once per label set."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


class Upstream:
    """A named upstream service reached over HTTP through the delivery policies.

    ``transport`` is the seam for tests: pass ``httpx.MockTransport(handler)`` to answer
    calls in-process.
    """

    def __init__(self, config: UpstreamConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.name = config.name
        self._base_url = _with_trailing_slash(httpx.URL(config.base_url))
        if transport is None:
            tls = config.tls or TlsTrust()
            transport = default_transport(config.max_connections, ssl_context(tls, config.name),
                                          egress_proxy(tls, config.name))
        if config.tls is not None and config.tls.client_certificate is not None:
            observe_client_certificate(config.name, config.tls.client_certificate)
        self._exchange = Exchange(transport, config.timeouts.to_httpx(), config.max_connections)
        self._breaker = make_breaker(config.name, config.circuit_fail_max, config.circuit_reset_seconds,
                                     counts_as_failure=lambda exc: not isinstance(exc, UpstreamRejected))
        self._urls: dict[str, httpx.URL] = {}
        self._requests = _Children(UPSTREAM_REQUESTS)
        self._seconds = _Children(UPSTREAM_REQUEST_SECONDS)
        self._attempts = _Children(UPSTREAM_ATTEMPTS)

    @property
    def circuit_state(self) -> str:
        return self._breaker.state

    def close(self) -> None:
        self._exchange.close()

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        path_params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool = False,
        is_answer: Callable[[httpx.Response], bool] | None = None,
        retry_answer: Callable[[httpx.Response], RetryAnswer | None] | None = None,
    ) -> httpx.Response:
        """Call ``endpoint`` (a path template like ``/requests/{id}``) and return a 2xx/3xx answer.

        ``json`` sends a JSON body, ``data`` a form-encoded one, ``content`` raw bytes (set the
        Content-Type in ``headers``). ``is_answer`` marks error statuses that are answers of the
        protocol, not failures — a SOAP Fault comes with HTTP 500: such a response is returned
        as it is, neither retried nor counted against the circuit. ``retry_answer`` is the
        reverse: it reads each 2xx/3xx answer and returns a ``RetryAnswer`` when the answer is
        a transient refusal in disguise (VK's error 6 "Too many requests per second" comes with
        HTTP 200), None when it is an answer; see ``RetryAnswer``. It must not raise.

        Raises UpstreamRejected for a 4xx (except 429), UpstreamUnavailable and its
        subclasses when the upstream cannot give an answer within the retry budget
        (UpstreamBusy when the last answer was a refusal read by ``retry_answer``).
        A POST is retried after an ambiguous failure only with an ``idempotency_key``,
        which is sent on every attempt so the upstream can recognise the repeat, or with
        ``idempotent=True``: the caller states that the upstream's own contract makes a repeat of
        this call harmless (adding a member who is already there), and nothing extra is sent.
        """
        method = method.upper()
        idempotent = idempotent or method in _IDEMPOTENT_METHODS or idempotency_key is not None
        relative = endpoint.format(**{k: _quote(v) for k, v in path_params.items()}) if path_params \
            else endpoint.format()
        cached = self._urls.get(relative)
        url = cached if cached is not None else self._absolute(relative)
        send_headers = dict(headers or {})
        request_id = current_request_id()
        if request_id:
            send_headers.setdefault(self.config.request_id_header, request_id)
        if idempotency_key is not None:
            send_headers[self.config.idempotency_header] = idempotency_key

        started = time.perf_counter()
        status = "error"
        try:
            call = _Call(method, endpoint, url, json, data, content, params, send_headers, idempotent, is_answer,
                         retry_answer)
            response = self._breaker.call(lambda: self._with_retries(call), endpoint)
            status = str(response.status_code)
            return response
        except CircuitOpen:
            status = "circuit_open"
            raise
        except UpstreamRejected as exc:
            status = str(exc.status_code)
            raise
        except UpstreamServerError as exc:
            status = str(exc.status_code)
            raise
        except UpstreamTimeout:
            status = "timeout"
            raise
        except UpstreamTlsError:
            status = "tls_error"
            raise
        except UpstreamConnectError:
            status = "connect_error"
            raise
        except UpstreamUnavailable:
            status = "protocol_error"
            raise
        finally:
            self._requests(self.name, endpoint, status).inc()
            self._seconds(self.name, endpoint).observe(time.perf_counter() - started)

    def _absolute(self, url: str) -> httpx.URL | str:
        """``url`` merged with the base URL exactly as httpx merges it, and kept for the next call.

        httpx would parse it twice per call (``_merge_url``); an ``httpx.URL`` passes through.
        A URL httpx refuses is returned as it is, for httpx to refuse in the attempt as before.
        """
        try:
            target = httpx.URL(url)
            if target.is_relative_url:
                base = self._base_url
                target = base.copy_with(raw_path=base.raw_path + target.raw_path.lstrip(b"/"))
        except Exception:
            return url
        if len(self._urls) >= _MAX_CACHED_URLS:
            self._urls.clear()
        self._urls[url] = target
        return target

    def _with_retries(self, call: _Call) -> httpx.Response:
        """Attempts until one answers, the error is not worth retrying, or the policy gives up.

        As tenacity did here before (``stop_after_attempt | stop_after_delay``, the policy's
        wait, ``reraise=True``): the last attempt's exception is what escapes.
        """
        policy = self.config.retry
        endpoint = call.endpoint
        try:
            attempt = 0
            first_started = time.monotonic()
            while True:
                attempt += 1
                try:
                    return self._attempt(call, attempt)
                except Exception as exc:
                    if not is_retryable_exception(exc, call.idempotent) or _is_tls(exc, self.name):
                        raise
                    wait = policy.backoff(attempt, exc)
                    if policy.gives_up(attempt, time.monotonic() - first_started):
                        raise
                time.sleep(wait)
        except _Refused as exc:
            raise UpstreamBusy(self.name, endpoint, exc.refusal.status, exc.refusal.reason) from None
        except RetryableStatus as exc:
            raise self._final_status_error(endpoint, exc.response) from None
        except httpx.TransportError as exc:
            problem = tls_failure(exc, self.name)
            if problem is None:
                raise _transport_error(self.name, endpoint, exc) from None
            _log.error("upstream.tls_failed", upstream=self.name, endpoint=endpoint,
                       host=httpx.URL(str(call.url)).host, problem=problem,
                       help="docs/operations.md, 'TLS trust per upstream'")
            raise UpstreamTlsError(self.name, endpoint, problem) from None

    def _attempt(self, call: _Call, attempt: int) -> httpx.Response:
        started = time.perf_counter()
        outcome = "error"
        refusal: RetryAnswer | None = None
        try:
            response = self._exchange.send(
                call.method, call.url, json=call.json, data=call.data, content=call.content, params=call.params,
                headers=call.headers,
            )
            if response.status_code < 400 and call.retry_answer is not None:
                refusal = call.retry_answer(response)
            outcome = str(refusal.status if refusal is not None else response.status_code)
        except httpx.TransportError as exc:
            outcome = _transport_outcome(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._attempts(self.name, call.endpoint, outcome).inc()
            # Successes at DEBUG (two lines per call at INFO cost ~48 GB a day at 1,000/s), and
            # not even built when DEBUG is off; every failed or refused attempt at WARNING.
            succeeded = outcome.startswith(("2", "3"))
            if not succeeded or _debug_enabled():
                (_log.debug if succeeded else _log.warning)(
                    "upstream.attempt",
                    upstream=self.name,
                    endpoint=call.endpoint,
                    method=call.method,
                    attempt=attempt,
                    status=outcome,
                    elapsed_ms=round(elapsed * 1000, 1),
                    **({"refused": refusal.reason} if refusal is not None else {}),
                )
        if refusal is not None:
            if status_is_retryable(refusal.status, call.idempotent):
                raise _Refused(response, refusal)
            raise UpstreamBusy(self.name, call.endpoint, refusal.status, refusal.reason)
        code = response.status_code
        if code < 400 or (call.is_answer is not None and call.is_answer(response)):
            return response
        if status_is_retryable(code, call.idempotent):
            raise RetryableStatus(response, parse_retry_after(response.headers.get("Retry-After")))
        if code >= 500:
            raise UpstreamServerError(self.name, call.endpoint, code)
        raise UpstreamRejected(self.name, call.endpoint, code, response.content)

    def _final_status_error(self, endpoint: str, response: httpx.Response) -> Exception:
        return UpstreamServerError(self.name, endpoint, response.status_code)


def _with_trailing_slash(url: httpx.URL) -> httpx.URL:
    """The base URL as httpx.Client keeps it: relative paths are appended to it, not put in its place."""
    return url if url.raw_path.endswith(b"/") else url.copy_with(raw_path=url.raw_path + b"/")


def _debug_enabled() -> bool:
    """Whether structlog's level filter (configure_logging) lets a DEBUG event through."""
    is_enabled_for = getattr(_log, "is_enabled_for", None)
    return True if is_enabled_for is None else bool(is_enabled_for(logging.DEBUG))


def _transport_error(name: str, endpoint: str, exc: httpx.TransportError) -> UpstreamUnavailable:
    """The delivery error for a transport failure that was not TLS's."""
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return UpstreamConnectError(name, endpoint, type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(name, endpoint, type(exc).__name__)
    if isinstance(exc, httpx.ConnectError):
        return UpstreamConnectError(name, endpoint, type(exc).__name__)
    return UpstreamUnavailable(name, endpoint, type(exc).__name__)


def _is_tls(exc: Exception, name: str) -> bool:
    return isinstance(exc, httpx.TransportError) and tls_failure(exc, name) is not None


def _transport_outcome(exc: httpx.TransportError) -> str:
    if tls_failure(exc, "") is not None:
        return "tls_error"
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError)):
        return "connect_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "protocol_error"


def _quote(value: str) -> str:
    return quote(str(value), safe="")
