"""HTTP face of the sandbox МИС: the HubService SOAP endpoint, behind fault injection.

    POST /hubservice            SOAP 1.1 (SOAPAction http://tempuri.org/IHubService/<Operation>)
    GET  /hubservice?wsdl       the frozen contract, wsdl/hubservice.wsdl, addressed to the caller

Control API (never faulted): PUT/GET /_sandbox/faults; POST /_sandbox/mis/take?doctor_id=…|speciality_id=…
(every free slot taken: a scenario with no dates or no slots).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, Request, Response

from adapters.hubservice.sandbox._service import build_application
from adapters.hubservice.sandbox._store import ScheduleStore
from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes
from bridge.soap import SoapEndpoint, SoapService, WsdlDocument

WSDL_PATH = Path(__file__).resolve().parents[3] / "wsdl" / "hubservice.wsdl"
PATH = "/hubservice"


def create_hubservice_wsgi(store: ScheduleStore | None = None,
                           clock: Callable[[], datetime] | None = None) -> SoapEndpoint:
    """The sandbox МИС as a bare WSGI application (in-process tests: ``httpx.WSGITransport``)."""
    return SoapEndpoint(SoapService("hubservice", build_application(store, clock), WSDL_PATH))


def create_hubservice_sandbox(store: ScheduleStore | None = None, faults: FaultPlan | None = None,
                              clock: Callable[[], datetime] | None = None) -> FaultInjector:
    """The sandbox МИС as an ASGI application to serve on loopback."""
    plan = faults or FaultPlan()
    store = store or ScheduleStore()
    soap = WSGIMiddleware(create_hubservice_wsgi(store, clock))
    wsdl = WsdlDocument(WSDL_PATH)
    app = FastAPI(title="Sandbox МИС (HubService schedule)", docs_url=None, redoc_url=None)
    app.state.faults = plan
    app.include_router(fault_admin_routes(plan))

    @app.post("/_sandbox/mis/take")
    async def take(doctor_id: str | None = None, speciality_id: str | None = None) -> dict[str, int]:
        """Scenario control: take every free slot of a doctor / a specialty (no dates, no slots)."""
        return {"taken": store.take_all(doctor_id, speciality_id)}

    @app.get(PATH)
    async def contract(request: Request) -> Response:
        return Response(wsdl.render(str(request.url.replace(query=""))), media_type="text/xml; charset=utf-8")

    async def route(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await soap(scope, receive, send)
        else:
            await app(scope, receive, send)

    return FaultInjector(route, plan)
