"""What every Bot API request of the sandbox MAX meets first, and MAX's error shape.

Every refusal is MAX's ``{"code", "message"}`` (schema ``Error``; e.g. payloads/error.invalid-token.json),
routes the Bot API does not have included: MAX answers an unknown path with 404 ``method.not.found``
"Path /me is not recognized" (reported in max-messenger/max-bot-api-client-go#105, from the days MAX
had no ``/me``). The control API under ``/_sandbox`` is ours and keeps FastAPI's ``{"detail"}``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.max.sandbox._openapi import OpenApiChecker, RequestInvalid
from adapters.max.sandbox._world import MaxWorld

CONTROL_PREFIX = "/_sandbox"


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class Gate:
    """Auth, rate limit and schema check shared by every Bot API route."""

    def __init__(self, world: MaxWorld, checker: OpenApiChecker) -> None:
        self.world = world
        self.checker = checker

    async def __call__(self, request: Request, method: str, template: str,
                       path_params: dict[str, str] | None = None) -> tuple[JSONResponse | None, Any]:
        query = dict(request.query_params)
        if "access_token" in query:
            return error(401, "deprecated.token",
                         "Query parameter access_token is deprecated, use Authorization header"), None
        if request.headers.get("authorization") != self.world.token:
            return error(401, "verify.token", "Invalid access_token"), None
        wait = self.world.take_rate_slot(time.monotonic())
        if wait is not None:
            return error(429, "too.many.requests", "Too many requests",
                         {"Retry-After": str(max(1, math.ceil(wait)))}), None
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return error(400, "proto.payload", "body is not JSON"), None
        try:
            self.checker.check(method, template, path_params or {}, query, body, bool(raw))
        except RequestInvalid as exc:
            return error(400, "proto.payload", str(exc)), None
        return None, body


def answer_in_max_shape(app: FastAPI) -> None:
    """Unknown paths, wrong methods and unreadable requests answered as MAX answers them."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith(CONTROL_PREFIX):
            return await http_exception_handler(request, exc)
        if exc.status_code == 404:
            return error(404, "method.not.found", f"Path {request.url.path} is not recognized")
        if exc.status_code == 405:
            return error(405, "method.not.allowed",
                         f"Method {request.method} is not allowed for path {request.url.path}",
                         headers=dict(exc.headers or {}))
        return error(exc.status_code, "http.error", str(exc.detail))

    async def unreadable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if request.url.path.startswith(CONTROL_PREFIX):
            return await request_validation_exception_handler(request, exc)
        where = ".".join(str(p) for p in (exc.errors()[0].get("loc", ()) if exc.errors() else ()))
        return error(400, "proto.payload", f"{where}: invalid")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, unreadable)
