"""The FastAPI application: SOAP faces under /soap/<service>, their WSDLs, health and metrics."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Route

from bridge._guard import AccessGuard
from bridge.adapters import Adapter, AdapterContext, SharedKey, load_adapter, migration_paths
from bridge.asgi import ASGIApp, Receive, Scope, Send
from bridge.config import Settings
from bridge.errors import BridgeError, StoreUnavailable, answer
from bridge.mapping import MappingSet
from bridge.metrics import exposition
from bridge.observability import bind_request_id, current_request_id, get_logger
from bridge.outbox import Outbox, WorkerPool
from bridge.outbox import admin_routes as outbox_admin_routes
from bridge.scheduling import Job, JobRuns, Scheduler
from bridge.scheduling._admin import admin_routes as jobs_admin_routes
from bridge.soap import (
    AccessPolicy,
    Client,
    SoapEndpoint,
    SoapPostsFirst,
    SoapService,
    WsgiOneHop,
    set_soap_capacity,
)
from bridge.store import AuditJournal, OneTimeTokens, OperationJournal, Pseudonymizer, Store

_log = get_logger("bridge.app")
AUDIT: SharedKey[AuditJournal] = SharedKey("audit")   # closed last, in the lifespan
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$")


class RequestIdMiddleware:
    """Take the caller's X-Request-ID (or make one), bind it for logs, echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = bind_request_id(given)
        if given != request_id:
            scope["headers"] = [*(h for h in scope["headers"] if h[0] != b"x-request-id"),
                                (b"x-request-id", request_id.encode())]

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _public_address(request: Request, service: str, trusted: Callable[[str | None], bool]) -> str:
    """Where the WSDL tells the МИС to call: from the Host header when it is a sane host[:port], from
    X-Forwarded-Host/-Proto only behind a trusted proxy, else the address the server listens on."""
    scheme = request.scope.get("scheme", "http")
    via_proxy = trusted((request.scope.get("client") or (None, 0))[0])
    proto = (request.headers.get("x-forwarded-proto", scheme) if via_proxy else scheme).split(",")[0].strip().lower()
    if proto not in ("http", "https"):
        proto = scheme
    host = (request.headers.get("x-forwarded-host") if via_proxy else None) or request.headers.get("host") or ""
    host = host.split(",")[0].strip()
    if len(host) > 255 or not _HOST.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{proto}://{host}/soap/{service}"


class _SoapRoute:
    """One URL per service: GET ?wsdl gives the contract, POST goes to spyne."""

    def __init__(self, service: SoapService, access: AccessPolicy | None = None,
                 audit: AuditJournal | None = None) -> None:
        self.service = service
        self.trusted: Callable[[str | None], bool] = access.trusted if access is not None else (lambda _: False)
        self.wsdl = service.wsdl()
        self.path = f"/soap/{service.name}"
        # one thread hop per call; the request id's context goes along
        self.rpc = SoapEndpoint(service, access, audit).asgi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "POST":
            await self.rpc(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        if method in ("GET", "HEAD") and "wsdl" in {k.lower() for k in request.query_params}:
            response = Response(self.wsdl.render(_public_address(request, self.service.name, self.trusted)),
                                media_type="text/xml; charset=utf-8")
        else:
            response = JSONResponse(
                {"error": "use POST for SOAP calls, or GET ?wsdl for the contract",
                 "wsdl": f"{self.path}?wsdl"},
                status_code=405, headers={"Allow": "GET, POST"},
            )
        await response(scope, receive, send)


def instance_name() -> str:
    """Who holds leases and claims deliveries: host, process and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_context(settings: Settings, store: Store | None = None) -> tuple[AdapterContext, list[Adapter]]:
    """Everything adapters need, the store migrated: for the server and for CLI commands alike."""
    store = store or Store(settings.database_url)
    adapters = [load_adapter(name) for name in settings.adapters]
    store.upgrade(migration_paths(adapters))
    secret = settings.pseudonym_secret()
    clock = settings.clock()
    outbox = Outbox(store, max_attempts=settings.outbox_max_attempts, backoff_initial=settings.outbox_backoff_initial,
                    backoff_max=settings.outbox_backoff_max, clock=clock)
    context = AdapterContext(
        settings=settings,
        store=store,
        mappings=MappingSet.load(settings.mappings_dir),
        pseudonym=Pseudonymizer(secret),
        journal=OperationJournal(store),
        tokens=OneTimeTokens(store, secret),
        outbox=outbox,
        scheduler=Scheduler(JobRuns(store, holder=instance_name()), clock=clock),
        clock=clock,
    )
    return context, adapters


class BackgroundWork:
    """The app's background work: the outbox delivery workers and the scheduler, as the settings ask.
    Started at most once -- by the lifespan, or later by a :class:`BackgroundGate` from a thread of
    its own -- and never after :meth:`stop`, which stops what was started."""

    def __init__(self, context: AdapterContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._pool: WorkerPool | None = None
        self._started = False
        self._stopped = False

    def start(self) -> bool:
        """Start it; False, starting nothing, when it was started already or the app has stopped."""
        with self._lock:
            if self._started or self._stopped:
                return False
            self._started = True
            settings = self._context.settings
            if settings.outbox_workers:
                self._pool = self._context.outbox.start(workers=settings.outbox_workers)
            if settings.scheduler:
                self._context.scheduler.start()
            return True

    def stop(self, deadline_seconds: float) -> None:
        """Stop taking work, let what is under way finish within the deadline; nothing starts after this."""
        with self._lock:  # a start under way ends first
            self._stopped = True
            pool = self._pool
        self._context.scheduler.stop(deadline_seconds)
        if pool is not None:
            pool.stop(deadline_seconds)


class BackgroundGate(Protocol):
    """When this process may run the instance's background work, if not from the app's start (several
    processes serving one instance run it in one of them). Without a gate the app runs it at once."""

    def open(self, start: Callable[[], bool]) -> None:
        """Call ``start`` once this process may run the background work: at once (in the lifespan), or
        later from a thread of the gate's own. ``start`` returns False when the app has stopped since."""

    def close(self) -> None:
        """At shutdown, before the work stops: stop waiting (a thread the gate runs ends)."""


def create_app(settings: Settings, store: Store | None = None, *, background: BackgroundGate | None = None) -> ASGIApp:
    """The app. ``background``: when to start the background work (default: with the app)."""
    context, adapters = build_context(settings, store)
    store = context.store
    outbox = context.outbox
    outbox.register_metrics()
    app = FastAPI(title="MIS Bridge", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=_lifespan(context, background))
    app.state.context = context
    app.add_exception_handler(BridgeError, bridge_error_response)
    app.add_exception_handler(SQLAlchemyError, bridge_error_response)  # the store away: StoreUnavailable
    services: list[SoapService] = []
    for adapter in adapters:
        services.extend(adapter.soap_services(context))
        for router in adapter.http_routes(context):
            app.include_router(router)
    app.include_router(outbox_admin_routes(outbox))
    app.include_router(jobs_admin_routes(context.scheduler))
    access = access_policy(settings, store, context.clock)
    audit = AuditJournal(store, context.clock)
    context.shared(AUDIT, lambda: audit)
    context.scheduler.add(Job("audit.purge", "17 3 * * *",
                              lambda _: audit.purge(timedelta(days=settings.audit_retention_days)),
                              lambda _runs, _slot: (None, None)))
    set_soap_capacity(settings.soap_threads, settings.soap_waiting, settings.soap_parked)
    soap_posts: dict[str, WsgiOneHop] = {}
    for service in services:
        soap_route = _SoapRoute(service, access, audit)
        app.router.routes.append(Route(soap_route.path, soap_route, methods=["GET", "HEAD", "POST"]))
        soap_posts[soap_route.path] = soap_route.rpc
    app.state.services = [s.name for s in services]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        ok = store.ping()
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "store": "ok" if ok else "unreachable",
             "services": app.state.services},
            status_code=200 if ok else 503,
        )

    @app.get("/admin/upstreams", include_in_schema=False)
    def upstreams() -> dict[str, dict[str, str]]:
        """Where each upstream is (no secrets): for ops, and for `bridge demo` to find the sandbox."""
        return {name: {"base_url": up.base_url} for name, up in settings.upstreams.items()}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)  # all workers' with --workers N

    _log.info("bridge.ready", services=app.state.services, store=store.dialect)
    guarded = AccessGuard(SoapPostsFirst(app, soap_posts),  # SOAP calls skip FastAPI's routing
                          settings.admin_token_value(), settings.metrics_token_value(), audit)
    return RequestIdMiddleware(guarded)


def bridge_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The HTTP face of ``bridge.errors``, as ``BridgeServiceBase`` is the SOAP one: the same reading
    (``answer``), given as a status and ``{"error": <faultcode>, "message": <text>}``."""
    said = answer(exc, current_request_id())
    if said.bug:
        _log.error("http.unexpected_error", path=request.url.path, exc_info=exc)
    elif said.faultcode == StoreUnavailable.faultcode:  # the driver's text may quote SQL: its type only
        _log.warning("http.store_unavailable", path=request.url.path, error=type(exc).__name__,
                     cause=type(getattr(exc, "orig", None) or exc).__name__)
    return JSONResponse({"error": said.faultcode, "message": said.text}, status_code=said.http_status)


def access_policy(settings: Settings, store: Store, clock: Callable[[], datetime]) -> AccessPolicy:
    clients = [Client(c.name, c.username, c.password_value(), c.certificate_sha256, tuple(c.allow_ips),
                      tuple(c.mos) if c.mos is not None else None, c.rate_per_second) for c in settings.clients]
    return AccessPolicy(clients, store, settings.trusted_proxies,
                        timedelta(seconds=settings.ws_security_window_seconds), clock)




def _run_start_tasks(tasks: list[Callable[[], None]]) -> None:
    """Adapters' start work, off the event loop so that a slow upstream does not hold readiness."""
    for task in tasks:
        try:
            task()
        except Exception:
            _log.exception("bridge.start_task.failed", task=getattr(task, "__qualname__", "?"))


def _lifespan(context: AdapterContext, gate: BackgroundGate | None
              ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the delivery workers and the scheduler (now, or when the gate lets them); on shutdown
    stop taking work, let what is under way finish within the deadline, and hand the rest back to
    the store for other instances."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings = context.settings
        work = BackgroundWork(context)
        if gate is None:
            work.start()
        else:
            gate.open(work.start)
        if context.on_start:
            threading.Thread(target=_run_start_tasks, args=(context.on_start,), name="start-tasks", daemon=True).start()
        try:
            yield
        finally:
            if gate is not None:
                await asyncio.to_thread(gate.close)
            await asyncio.to_thread(work.stop, settings.shutdown_seconds)
            audit = context.find(AUDIT)
            if audit is not None:
                await asyncio.to_thread(audit.close)   # what is queued reaches the journal
            await asyncio.to_thread(context.close)   # adapters' threads stop (a join), then the upstreams close
            context.store.dispose()
            _log.info("bridge.stopped")

    return lifespan
