"""The browser face of ЕСИА login.

    GET  /esia/login[?purpose=…]     → 302 to ЕСИА; the state is bound to a cookie of this browser
    GET  /esia/callback?code&state   → 302 to the portal with ?ticket=… (one use, two minutes)
         …?error=…&state=…           → 302 to the portal with ?error=ESIA-0070xx&error_description=…
    POST /esia/tickets/redeem {"ticket": "…"} → 200 the person (JSON), once

A caller's mistake (no state, a forged or reused state, a bad ticket) is a 400 with a JSON
body naming the field; ЕСИА being unreachable is a 503.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from adapters.esia._login import EsiaLogin
from bridge.delivery import UpstreamUnavailable
from bridge.errors import InvalidField, ServiceUnavailable, UpstreamRefused

COOKIE = "esia_login"

# Another part of the bridge that started a login for its own purpose ("max-link:…") takes the
# browser over when ЕСИА returns: (purpose, Person+Token or None, the refusal or None) → response.
LoginConsumer = Callable[[str, dict[str, Any] | None, UpstreamRefused | None], Response]


class TicketRedemption(BaseModel):
    ticket: str


def _problem(status: int, error: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def login_routes(get_login: Callable[[], EsiaLogin | None], callback_url: str, portal_url: str,
                 secure_cookie: bool, demo_portal: bool = False,
                 consumers: dict[str, LoginConsumer] | None = None) -> APIRouter:
    """``consumers`` (by purpose prefix, up to ':') is read at request time: adapters add theirs later."""
    consumers = consumers if consumers is not None else {}
    router = APIRouter(prefix="/esia")
    if demo_portal:
        _add_demo_portal(router)

    def unavailable() -> JSONResponse:
        return _problem(503, "not_configured", "вход через ЕСИА не настроен (adapter_settings.esia.login)")

    @router.get("/login", include_in_schema=False)
    def start(purpose: str | None = None) -> Response:
        login = get_login()
        if login is None:
            return unavailable()
        nonce = secrets.token_urlsafe(24)
        begun = login.start(callback_url, (purpose or "")[:64], binding=nonce)
        response = RedirectResponse(begun.url, status_code=302)
        response.set_cookie(COOKIE, nonce, max_age=600, httponly=True, secure=secure_cookie, samesite="lax",
                            path="/esia")
        return response

    @router.get("/callback", include_in_schema=False)
    def callback(request: Request, state: str | None = None, code: str | None = None,
                 error: str | None = None, error_description: str | None = None) -> Response:
        login = get_login()
        if login is None:
            return unavailable()
        if not state:
            return _problem(400, "invalid_request", "в адресе возврата нет параметра state", "state")
        nonce = request.cookies.get(COOKIE)
        try:
            if error:
                purpose, refusal = login.refuse_for(state, error, error_description, binding=nonce)
                consumer = consumers.get(purpose.split(":", 1)[0])
                if consumer is not None:
                    return _finished(consumer(purpose, None, refusal))
                target = _with_query(portal_url, {"error": refusal.code, "error_description": refusal.message})
            else:
                if not code:
                    return _problem(400, "invalid_request", "в адресе возврата нет параметра code", "code")
                purpose, person = login.complete_for(code, state, binding=nonce)
                consumer = consumers.get(purpose.split(":", 1)[0])
                if consumer is not None:
                    return _finished(consumer(purpose, person, None))
                target = _with_query(portal_url, {"ticket": login.issue_ticket(person)})
        except InvalidField as exc:
            return _problem(400, "invalid_state" if exc.field == "State" else "invalid_request", exc.reason,
                            exc.field.lower())
        except UpstreamRefused as exc:
            target = _with_query(portal_url, {"error": exc.code, "error_description": exc.message})
        except (ServiceUnavailable, UpstreamUnavailable) as exc:
            return _problem(503, "esia_unavailable", exc.message)
        response = RedirectResponse(target, status_code=302)
        response.delete_cookie(COOKIE, path="/esia")
        return response

    @router.post("/tickets/redeem", include_in_schema=False)
    def redeem(body: TicketRedemption) -> Response:
        login = get_login()
        if login is None:
            return unavailable()
        try:
            return JSONResponse(login.redeem_ticket(body.ticket))
        except InvalidField as exc:
            return _problem(400, "invalid_ticket", exc.reason, "ticket")

    return router


def _finished(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/esia")
    return response


def _add_demo_portal(router: APIRouter) -> None:
    """A stand-in for the region's portal, for the sandbox: shows what the browser brought back."""

    @router.get("/demo-portal", include_in_schema=False)
    @router.get("/demo-portal/return", include_in_schema=False)
    def portal(request: Request) -> HTMLResponse:
        shown = {k: v for k, v in request.query_params.items() if k in ("ticket", "code", "state", "error",
                                                                         "error_description")}
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>"
                       for k, v in shown.items())
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Портал (песочница)</title>"
            "<h1>Портал записи (песочница MIS Bridge)</h1><p>Браузер вернулся со входа через ЕСИА:</p>"
            f"<table>{rows}</table><p>Портал погашает билет через SOAP RedeemEsiaTicket "
            "или POST /esia/tickets/redeem.</p>"
        )
