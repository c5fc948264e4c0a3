"""The HTTP exchange under an Upstream: httpx's request and transport layers, without its Client.

``Upstream`` builds an ``httpx.Request`` and hands it to an ``httpx.BaseTransport`` itself, as
``httpx.Client.send`` would, keeping what the bridge uses of the Client (its default headers, the
timeouts as request extensions, query parameters, cookies an upstream sets) and leaving out what
it does not (auth flows, redirect handling, event hooks, a second URL merge). The seam for tests
is unchanged: ``httpx.MockTransport(handler)`` answers in-process.

By default the transport is a ``PerThreadTransport``: one ``httpx.HTTPTransport`` (one httpcore
connection pool) per calling thread. httpcore's pool is shared behind one lock, and on every
request and every response close it re-walks all its connections and requests under that lock,
polling idle sockets (quadratic in the pool size: encode/httpcore#1035, open). With 16 SOAP threads
calling one upstream, a profile put 9% of a worker's CPU in that lock alone. A thread makes one
call at a time, so a pool of its own keeps one keep-alive connection that no other thread waits
for. ``max_connections`` still bounds the exchanges in flight to one upstream per process (a
semaphore; waiting longer than the pool timeout is ``httpx.PoolTimeout``, as in httpcore).

The threads' transports share one TLS context, made at the first call: ``httpx.HTTPTransport()``
makes its own by default, loading the CA bundle each time (~0.85 MB of memory and milliseconds of
CPU per thread; with hundreds of SOAP threads waiting on a slow upstream that was most of the
memory per call in flight, docs/performance.md "Slow upstreams"). An ``ssl.SSLContext`` may be
shared by threads; its settings are httpx's defaults (``create_ssl_context()``, SSL_CERT_FILE honoured).
"""

from __future__ import annotations

import ssl
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import httpx

__all__ = ["Exchange", "PerThreadTransport", "default_transport"]

_DEFAULT_HEADERS = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
    ("User-Agent", f"python-httpx/{httpx.__version__}"),
)


class _Slot:
    """A thread's own transport, closed when the thread ends (its thread-local goes with it)."""

    __slots__ = ("__weakref__", "transport")

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport

    def __del__(self) -> None:
        self.transport.close()


class PerThreadTransport(httpx.BaseTransport):
    """An ``httpx.BaseTransport`` made once per calling thread by ``make`` (see the module's text)."""

    def __init__(self, make: Callable[[], httpx.BaseTransport]) -> None:
        self._make = make
        self._local = threading.local()
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._new_slot()
        return slot.transport.handle_request(request)

    def _new_slot(self) -> _Slot:
        with self._lock:
            if self._closed:
                raise RuntimeError("Cannot send a request, as the transport has been closed.")
            slot = _Slot(self._make())
            self._slots.add(slot)
        self._local.slot = slot
        return slot

    def close(self) -> None:
        with self._lock:
            self._closed = True
            slots = list(self._slots)
        for slot in slots:
            slot.transport.close()


class Exchange:
    """Sends one request and reads its whole answer, as ``httpx.Client.request`` does, on ``transport``."""

    def __init__(self, transport: httpx.BaseTransport, timeout: httpx.Timeout, max_connections: int) -> None:
        self.transport = transport
        self._timeout = timeout.as_dict()
        self._pool_timeout = timeout.pool
        self._slots = threading.BoundedSemaphore(max_connections)
        self.cookies = httpx.Cookies()
        self._closed = False

    def send(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        send_headers = httpx.Headers(_DEFAULT_HEADERS)
        if headers:
            send_headers.update(headers)
        request = httpx.Request(method, url, json=json, data=data, content=content, params=params,
                                headers=send_headers, extensions={"timeout": self._timeout})
        if self.cookies.jar:
            self.cookies.set_cookie_header(request)
        if not self._slots.acquire(timeout=self._pool_timeout):
            raise httpx.PoolTimeout(f"no connection free within {self._pool_timeout:g} s", request=request)
        try:
            response = self.transport.handle_request(request)
            response.request = request
            try:
                response.read()
            except BaseException:
                response.close()
                raise
        finally:
            self._slots.release()
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            self.cookies.extract_cookies(response)
        return response

    def close(self) -> None:
        self._closed = True
        self.transport.close()


def default_transport(max_connections: int, verify: ssl.SSLContext | None = None,
                      proxy: httpx.Proxy | None = None) -> PerThreadTransport:
    """One ``httpx.HTTPTransport`` per thread, all with one TLS context; each keeps one idle
    keep-alive connection.

    ``verify`` (the upstream's TLS trust and client certificate, _tls.py) is that context; without it,
    httpx's default one is made once, on first use, and shared (httpx would make one per thread's
    transport: ~0.9 MB each, docs/performance.md). ``proxy``: the egress proxy, or None.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=1)
    shared: list[ssl.SSLContext] = [verify] if verify is not None else []
    lock = threading.Lock()

    def make() -> httpx.BaseTransport:
        if not shared:
            with lock:
                if not shared:
                    shared.append(httpx.create_ssl_context())
        return httpx.HTTPTransport(limits=limits, verify=shared[0], proxy=proxy)

    return PerThreadTransport(make)
