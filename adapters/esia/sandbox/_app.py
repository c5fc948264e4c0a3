"""HTTP face of the sandbox ЕСИА account operations (our REST model of the СМЭВ VS).

    POST /reg-service/v1/requests/{operation}   operation: find_account | register | update_account | recover
         Idempotency-Key header honoured; 200 with the request state (202 while VALIDATING)
    GET  /reg-service/v1/requests/{requestId}   the request state
    400  {"code": "REG-00x", "message": ...} for a malformed request, 404 for an unknown one

Control API (never faulted): PUT/GET /_sandbox/faults, GET /_sandbox/accounts/count,
POST /_sandbox/accounts, POST /_sandbox/reset (over the people store the sandbox СМЭВ's reg_service
shares), and with a reg_service the routes of ``_reg_service_http``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.esia.sandbox._oauth import SandboxOAuth
from adapters.esia.sandbox._reg_service import RegService
from adapters.esia.sandbox._reg_service_http import reg_service_routes
from adapters.esia.sandbox._registry import AccountRegistry, IdempotencyConflict
from adapters.esia.sandbox._routes import oauth_routes
from adapters.esia.sandbox._rules import ERRORS, OPERATIONS, RequestInvalid
from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes


def _error(status: int, code: str, detail: str = "") -> JSONResponse:
    message = ERRORS[code] + (f": {detail}" if detail else "")
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _state(answer: dict[str, Any]) -> JSONResponse:
    return JSONResponse(answer, status_code=202 if answer["status"] == "VALIDATING" else 200)


def create_sandbox_app(
    registry: AccountRegistry | None = None, faults: FaultPlan | None = None, oauth: SandboxOAuth | None = None,
    reg_service: RegService | None = None,
) -> FaultInjector:
    registry = registry or AccountRegistry()
    oauth = oauth or SandboxOAuth()
    plan = faults or FaultPlan()
    app = FastAPI(title="Sandbox ЕСИА (account operations)", docs_url=None, redoc_url=None)
    app.state.registry = registry
    app.state.faults = plan
    app.include_router(fault_admin_routes(plan))
    app.state.oauth = oauth
    app.include_router(oauth_routes(oauth))
    if reg_service is not None:
        app.include_router(reg_service_routes(reg_service))

    @app.post("/reg-service/v1/requests/{operation}")
    async def submit(operation: str, request: Request) -> JSONResponse:
        if operation not in OPERATIONS:
            return _error(404, "REG-404", "operation")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "REG-002", "body")
        if not isinstance(body, dict):
            return _error(400, "REG-002", "body")
        try:
            answer = registry.submit(operation, body, request.headers.get("Idempotency-Key"))
        except RequestInvalid as exc:
            return JSONResponse(exc.body(), status_code=400)
        except IdempotencyConflict:
            return _error(422, "REG-004")
        return _state(answer)

    @app.get("/reg-service/v1/requests/{request_id}")
    def status(request_id: str) -> JSONResponse:
        answer = registry.status(request_id)
        return _error(404, "REG-404") if answer is None else _state(answer)

    @app.get("/_sandbox/accounts/count")
    def count(snils: str | None = None) -> dict[str, int]:
        return {"count": registry.count_accounts(snils)}

    @app.post("/_sandbox/accounts")
    def put_account(account: dict[str, Any]) -> dict[str, int]:
        return {"oid": registry.put_account(account)}

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, bool]:
        registry.reset()
        if reg_service is not None:
            reg_service.outbox.clear()
        plan.configure(0.0, plan.kinds, plan.stall_seconds, None)
        return {"reset": True}

    return FaultInjector(app, plan)
