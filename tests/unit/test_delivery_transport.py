"""The exchange under an Upstream: httpx's transport without its Client, one pool per thread.

What httpx.Client gave the Upstream is still given (default headers, timeouts, query parameters,
the whole answer read, its request attached); each calling thread keeps its own keep-alive
connection; ``max_connections`` still bounds the exchanges in flight; closing closes every pool.
"""

from __future__ import annotations

import gc
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import httpx
import pytest

from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig, UpstreamConnectError
from bridge.delivery._transport import Exchange, PerThreadTransport, default_transport


class _Recorder(httpx.BaseTransport):
    def __init__(self) -> None:
        self.closed = False
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"thread": threading.get_ident()})

    def close(self) -> None:
        self.closed = True


def test_the_request_carries_what_httpx_client_would_send() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    timeouts = Timeouts(connect=1.5, read=7.0, write=3.0, pool=0.5)
    upstream = Upstream(UpstreamConfig(name="t", base_url="http://peer.test/api", timeouts=timeouts),
                        transport=httpx.MockTransport(handler))
    response = upstream.request("POST", "/items/{id}", path_params={"id": "a/b"}, json={"фио": "x"},
                                params={"q": "1"}, headers={"X-Extra": "yes"})
    assert response.json() == {"ok": True}
    assert response.request is seen[0], "the answer knows its request, as with httpx.Client"
    request = seen[0]
    assert str(request.url) == "http://peer.test/api/items/a%2Fb?q=1", "base path kept, id quoted, params merged"
    assert request.headers["accept"] == "*/*"
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.headers["user-agent"].startswith("python-httpx/")
    assert request.headers["x-extra"] == "yes"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"фио": "x"}
    assert request.extensions["timeout"] == {"connect": 1.5, "read": 7.0, "write": 3.0, "pool": 0.5}


def test_each_thread_gets_a_transport_of_its_own_and_keeps_it() -> None:
    made: list[_Recorder] = []

    def make() -> httpx.BaseTransport:
        made.append(_Recorder())
        return made[-1]

    transport = PerThreadTransport(make)
    exchange = Exchange(transport, httpx.Timeout(5.0), max_connections=10)
    with ThreadPoolExecutor(4) as pool:
        threads = list(pool.map(lambda _: exchange.send("GET", "http://peer.test/").json()["thread"], range(40)))
    assert len(made) == len(set(threads)) <= 4, "one transport per thread, made once"
    assert sum(len(t.requests) for t in made) == 40
    for recorder in made:
        assert {r.url.host for r in recorder.requests} == {"peer.test"}


def test_a_thread_that_ends_closes_its_transport() -> None:
    made: list[_Recorder] = []
    transport = PerThreadTransport(lambda: made.append(_Recorder()) or made[-1])
    exchange = Exchange(transport, httpx.Timeout(5.0), max_connections=10)
    worker = threading.Thread(target=lambda: exchange.send("GET", "http://peer.test/"))
    worker.start()
    worker.join()
    del worker
    gc.collect()
    assert len(made) == 1 and made[0].closed, "the ended thread's pool is closed, not left to the collector"


def test_close_closes_every_threads_transport_and_refuses_later_calls() -> None:
    made: list[_Recorder] = []
    transport = PerThreadTransport(lambda: made.append(_Recorder()) or made[-1])
    exchange = Exchange(transport, httpx.Timeout(5.0), max_connections=10)
    barrier = threading.Barrier(3)

    def call_and_wait() -> None:
        exchange.send("GET", "http://peer.test/")
        barrier.wait(5)  # alive while the main thread closes
        barrier.wait(5)

    workers = [threading.Thread(target=call_and_wait) for _ in range(2)]
    for worker in workers:
        worker.start()
    barrier.wait(5)
    exchange.close()
    assert len(made) == 2 and all(t.closed for t in made)
    barrier.wait(5)
    for worker in workers:
        worker.join()
    with pytest.raises(RuntimeError, match="closed"):
        exchange.send("GET", "http://peer.test/")
    with pytest.raises(RuntimeError, match="closed"):
        PerThreadTransport.handle_request(transport, httpx.Request("GET", "http://peer.test/"))


def test_max_connections_bounds_the_exchanges_in_flight() -> None:
    release = threading.Event()
    inside = threading.Semaphore(0)

    def slow(request: httpx.Request) -> httpx.Response:
        inside.release()
        release.wait(5)
        return httpx.Response(200)

    timeouts = Timeouts(pool=0.2)
    config = UpstreamConfig(name="t", base_url="http://peer.test", timeouts=timeouts, max_connections=1,
                            retry=RetryPolicy(max_attempts=2, backoff_initial=0.01))
    upstream = Upstream(config, transport=httpx.MockTransport(slow))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(upstream.request, "GET", "/a")
        assert inside.acquire(timeout=5)
        with pytest.raises(UpstreamConnectError) as refused:
            upstream.request("GET", "/b")
        assert "PoolTimeout" in str(refused.value), "waiting for a free connection is the pool timeout"
        release.set()
        assert first.result(5).status_code == 200
    assert upstream.request("GET", "/c").status_code == 200, "the slot was given back"


# -- a real server on loopback ---------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ports: ClassVar[set[int]] = set()
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.ports.add(self.client_address[1])
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.ports = set()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_over_loopback_each_thread_reuses_its_one_connection(server: str) -> None:
    upstream = Upstream(UpstreamConfig(name="t", base_url=server))
    try:
        with ThreadPoolExecutor(6) as pool:
            paths = list(pool.map(lambda i: upstream.request("GET", f"/n/{i}").json()["path"], range(90)))
        assert paths == [f"/n/{i}" for i in range(90)]
        assert 1 <= len(_Handler.ports) <= 6, f"{len(_Handler.ports)} connections for 6 threads: kept alive per thread"
    finally:
        upstream.close()


def test_the_default_transport_is_one_httpx_transport_per_thread() -> None:
    transport = default_transport(max_connections=4)
    try:
        assert isinstance(transport, PerThreadTransport)
        made = transport._make()
        assert isinstance(made, httpx.HTTPTransport)
        made.close()
    finally:
        transport.close()


def test_the_threads_transports_share_one_tls_context() -> None:
    # httpx.HTTPTransport() loads the CA bundle into a context of its own (~0.85 MB each): with
    # hundreds of SOAP threads waiting on a slow upstream that was most of the memory per call.
    transport = default_transport(max_connections=4)
    made: list[httpx.BaseTransport] = []
    try:
        threads = [threading.Thread(target=lambda: made.append(transport._make())) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        contexts = {id(t._pool._ssl_context) for t in made if isinstance(t, httpx.HTTPTransport)}
        assert len(made) == 3 and len(contexts) == 1
        context = made[0]._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # httpx's defaults kept
    finally:
        for t in made:
            t.close()
        transport.close()
