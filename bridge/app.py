"""The FastAPI application: SOAP faces under /soap/<service>, their WSDLs, health and metrics."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from typing import Any

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Route

from bridge.adapters import AdapterContext, load_adapter
from bridge.config import Settings
from bridge.mapping import MappingSet
from bridge.observability import bind_request_id, get_logger
from bridge.sandbox._faults import ASGIApp, Receive, Scope, Send
from bridge.soap import SoapEndpoint, SoapService
from bridge.store import OneTimeTokens, OperationJournal, Pseudonymizer, Store

_log = get_logger("bridge.app")
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


def _bind_in_thread(wsgi: Callable[..., Any]) -> Callable[..., Any]:
    """Re-bind the request id inside the worker thread that runs the WSGI (spyne) code."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        bind_request_id(environ.get("HTTP_X_REQUEST_ID"))
        return wsgi(environ, start_response)

    return app


def _public_address(request: Request, service: str) -> str:
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip().lower()
    if proto not in ("http", "https"):
        proto = request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    host = host.split(",")[0].strip()
    if not _HOST.match(host):
        host = f"{request.url.hostname}:{request.url.port}" if request.url.port else str(request.url.hostname)
    return f"{proto}://{host}/soap/{service}"


class _SoapRoute:
    """One URL per service: GET ?wsdl gives the contract, POST goes to spyne."""

    def __init__(self, service: SoapService) -> None:
        self.service = service
        self.wsdl = service.wsdl()
        self.path = f"/soap/{service.name}"
        self.rpc = WSGIMiddleware(_bind_in_thread(SoapEndpoint(service)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "POST":
            await self.rpc(scope, receive, send)  # type: ignore[arg-type]
            return
        request = Request(scope, receive)
        response: Response
        if method in ("GET", "HEAD") and "wsdl" in {k.lower() for k in request.query_params}:
            response = Response(self.wsdl.render(_public_address(request, self.service.name)),
                                media_type="text/xml; charset=utf-8")
        else:
            response = JSONResponse(
                {"error": "use POST for SOAP calls, or GET ?wsdl for the contract",
                 "wsdl": f"{self.path}?wsdl"},
                status_code=405, headers={"Allow": "GET, POST"},
            )
        await response(scope, receive, send)


def create_app(settings: Settings, store: Store | None = None) -> ASGIApp:
    store = store or Store(settings.database_url)
    store.upgrade()
    secret = settings.pseudonym_secret()
    context = AdapterContext(
        settings=settings,
        store=store,
        mappings=MappingSet.load(settings.mappings_dir),
        pseudonym=Pseudonymizer(secret),
        journal=OperationJournal(store),
        tokens=OneTimeTokens(store, secret),
    )
    app = FastAPI(title="MIS Bridge", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = context
    services: list[SoapService] = []
    for name in settings.adapters:
        adapter = load_adapter(name)
        services.extend(adapter.soap_services(context))
        for router in adapter.http_routes(context):
            app.include_router(router)
    for service in services:
        soap_route = _SoapRoute(service)
        app.router.routes.append(Route(soap_route.path, soap_route, methods=["GET", "HEAD", "POST"]))
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

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.on_event("shutdown")
    def close() -> None:
        context.close()
        store.dispose()

    _log.info("bridge.ready", services=app.state.services, store=store.dialect)
    return RequestIdMiddleware(app)


