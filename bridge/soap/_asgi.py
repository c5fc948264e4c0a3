"""Serving a SOAP endpoint (a WSGI application) from the ASGI server with one thread hop.

a2wsgi, which this replaces on the SOAP path, runs the WSGI application in a worker thread and
goes back to the event loop for every read of the body, for ``start_response`` and for every
chunk of the answer: four or more cross-thread round trips per call, each a concurrent Future,
a Condition and a wake-up of the loop. A SOAP call has a small, bounded body and a small answer,
so here the body is read on the event loop first (at most ``max_body`` bytes), the application
runs once in a SOAP thread (_threads.py) with the whole body in hand and returns the whole answer, and the
answer is sent in one message. The upstream calls the application makes still block only its
worker thread, never the event loop. A call that would wait long for an answer stored by someone
else (a СМЭВ answer) parks instead (bridge/parking.py): its thread is freed, the wait is awaited
here, and the call runs again with the same body.
"""

from __future__ import annotations

import contextvars
import io
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from bridge.asgi import Receive, Scope, Send
from bridge.metrics import SOAP_PARKED, SOAP_REQUESTS
from bridge.observability import get_logger
from bridge.parking import CallParked, Parking
from bridge.soap._threads import HopBusy, ThreadHop

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The most threads per process that run SOAP calls, started as calls find none free (setting
#: ``soap_threads``). A call waiting for a СМЭВ answer parks and holds no thread, so a thread is busy only
#: for a call's own work and its short round trips (the store, a SendRequest): 64 keep two cores busy with
#: room for blocking round trips, where 512 threads started by a burst each kept ~200 KB for the life of
#: the process (docs/performance.md, "Slow upstreams"). A call that blocks on a slow upstream without
#: parking holds its thread for as long as the upstream takes: raise this for such an upstream.
DEFAULT_THREADS = 64
#: Of those, how many start as soon as a call finds none free; the others start only when the threads are
#: blocked on upstreams, not busy with the CPU (bridge/soap/_threads.py): a burst of parsing and signing
#: gains nothing from more threads than the GIL runs, and each started thread keeps ~180 KB.
EAGER_THREADS = 16
#: The most calls per process waiting for a thread when all are busy (setting ``soap_waiting``);
#: the next is answered at once with a ``Server.Busy`` fault. A queued call holds its body and a future.
DEFAULT_WAITING = 1024
#: The most calls per process parked on an upstream's answer with no thread (setting ``soap_parked``):
#: a СМЭВ answer comes in seconds or minutes, and a parked call holds only its connection, its body and
#: a future. Beyond the bound a call waits in its thread, as before parking existed.
DEFAULT_PARKED = 4096

_hop: ThreadHop | None = None
_log = get_logger("bridge.soap")
_BUSY_TEXT = ("шлюз перегружен: все потоки ждут ответа вышестоящих систем и очередь вызовов заполнена; "
              "повторите вызов позже")


def _shared_hop(threads: int = DEFAULT_THREADS, waiting: int | None = DEFAULT_WAITING) -> ThreadHop:
    """One set of SOAP threads per process, shared by every SOAP face."""
    global _hop
    if _hop is None:
        _hop = ThreadHop(threads, "soap", waiting, eager=EAGER_THREADS)
    return _hop


class _ParkingLot:
    """The calls of this process parked on an upstream's answer (bridge/parking.py), up to ``bound``."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.parked = 0

    def offer(self) -> Parking | None:
        """Parking for a new call, or None at the bound (then the call waits in its thread)."""
        return Parking() if self.parked < self.bound else None

    async def wait(self, parked: CallParked, service: str) -> bool:
        gauge = SOAP_PARKED.labels(service)
        self.parked += 1
        gauge.inc()
        try:
            return await parked.wait()
        except Exception:  # a bug in a wait must not lose the call: it runs again and answers as at its deadline
            _log.exception("soap.park_failed", key=parked.key)
            return False
        finally:
            self.parked -= 1
            gauge.dec()


_lot = _ParkingLot(DEFAULT_PARKED)


def set_soap_capacity(threads: int, waiting: int, parked: int = DEFAULT_PARKED) -> None:
    """The bounds of the process's SOAP threads and parked calls (from the settings, when the app is built)."""
    _shared_hop(threads, waiting).resize(threads, waiting)
    _lot.bound = parked


def _busy_fault() -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/"><soap11env:Body>'
        f"<soap11env:Fault><faultcode>soap11env:Server.Busy</faultcode><faultstring>{_BUSY_TEXT}</faultstring>"
        "<faultactor></faultactor></soap11env:Fault></soap11env:Body></soap11env:Envelope>"
    ).encode()


class _BusyLog:
    """One warning a second at most while calls are refused, with how many were."""

    def __init__(self) -> None:
        self.refused = 0
        self.last = 0.0

    def __call__(self, busy: HopBusy) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self.last >= 1.0:
            _log.warning("soap.busy", threads=busy.threads, waiting=busy.waiting, refused=self.refused)
            self.refused, self.last = 0, now


_busy_log = _BusyLog()


class _Answer:
    """What the WSGI application answered, collected in the worker thread."""

    __slots__ = ("body", "headers", "status")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _run(app: WsgiApp, environ: dict[str, Any], parking: Parking | None) -> _Answer | CallParked:
    answer = _Answer()
    if parking is None:
        result = app(environ, answer.start_response)
    else:
        try:
            result = parking.run(app, environ, answer.start_response)
        except CallParked as parked:  # handed back as a value, without the frames of the call that parked
            parked.__traceback__ = parked.__context__ = parked.__cause__ = None
            return parked
    try:
        answer.body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer


def _environ(scope: Scope, body: bytes, length: int) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(length),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT_LENGTH":
            continue  # what was actually read is what counts
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class WsgiOneHop:
    """An ASGI application that runs a WSGI application with the whole body, in one thread hop.

    A body longer than ``max_body`` is not read past the limit: the application is called with an
    empty body and ``CONTENT_LENGTH`` set to what was received (over the limit), so it can refuse it.
    A client that goes away before the body is complete gets nothing, and nothing runs.
    """

    def __init__(self, app: WsgiApp, max_body: int, threads: int = DEFAULT_THREADS) -> None:
        self.app = app
        self.max_body = max_body
        self.hop = _shared_hop(threads)
        self.busy = _busy_fault()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received <= self.max_body:
                chunks.append(chunk)
            if not message.get("more_body", False) or received > self.max_body:
                break
        body = b"".join(chunks) if received <= self.max_body else b""
        environ = _environ(scope, body, received)
        context = contextvars.copy_context()  # the request id bound by the middleware, for log lines
        parking = _lot.offer()
        try:
            result = await self.hop.run(context.run, _run, self.app, environ, parking)
        except HopBusy as busy:  # refused at once, never queued: SOAP 1.1 fault, HTTP 500
            SOAP_REQUESTS.labels(scope["path"].rsplit("/", 1)[-1], "unknown", "busy").inc()
            _busy_log(busy)
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"text/xml; charset=utf-8"), (b"content-length", str(len(self.busy)).encode()),
                (b"retry-after", b"1")]})
            await send({"type": "http.response.body", "body": self.busy})
            return
        while isinstance(result, CallParked):  # waits with no thread held, then the call runs again
            assert parking is not None
            parking.resumed(result, await _lot.wait(result, scope["path"].rsplit("/", 1)[-1]))
            del result
            environ["wsgi.input"] = io.BytesIO(body)
            # Not refused as busy: a parked call was admitted already, and its wait is over.
            result = await self.hop.run(context.run, _run, self.app, environ, parking, bounded=False)
        answer = result
        headers = answer.headers
        if not any(k == b"content-length" for k, _ in headers):
            headers = [*headers, (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


class SoapPostsFirst:
    """In front of the web framework: a POST to a SOAP face goes straight to its endpoint.

    Routing a SOAP call through FastAPI (its error, exception, body-limit and exit-stack
    middlewares, then every route's match before the SOAP routes) cost about 5% of the CPU of a
    call; the endpoint catches its own errors and bounds its own body, so it needs none of that.
    Everything else, GET ?wsdl included, goes to the framework as before.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Any], posts: dict[str, WsgiOneHop]) -> None:
        self.app = app
        self.posts = posts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.posts.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
