"""The sandbox ЕСИА's token endpoints.

    POST /aas/oauth2/v3/te   form-encoded only; grant_type authorization_code | refresh_token;
                             client_secret = raw GOST signature over te_code_string / te_refresh_string
    POST /aas/oauth2/te      legacy v1: detached CMS over v1_string (scope + timestamp + client_id + state)

Answers ``{"access_token", "id_token", "refresh_token" (access_type=offline), "state", "token_type",
"expires_in"}``; refusals are HTTP 400 ``{"error", "error_description": "ESIA-0070xx: …", "state"}``.
A body that is not form-encoded reads as no parameters at all, so JSON gets the real service's
``ESIA-007014 … [state, client_id]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.esia.oauth._protocol import TE_V1, TE_V3, te_code_string, te_refresh_string, v1_string
from adapters.esia.sandbox._oauth import EsiaError, Grant, SandboxOAuth
from adapters.esia.sandbox._oauth_ac import require, single_values

__all__ = ["te_routes"]

_FIRST = ("state", "client_id")
_V3_REQUIRED = {
    "authorization_code": ("grant_type", "code", "client_certificate_hash", "client_secret", "redirect_uri", "scope",
                           "timestamp"),
    "refresh_token": ("grant_type", "refresh_token", "client_certificate_hash", "client_secret", "scope",
                      "timestamp"),
}
_V1_REQUIRED = {
    "authorization_code": ("grant_type", "code", "client_secret", "redirect_uri", "scope", "timestamp"),
    "refresh_token": ("grant_type", "refresh_token", "client_secret", "scope", "timestamp"),
}
_KNOWN_GRANTS = ("client_credentials",)


async def _form(request: Request) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    return parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


def _grant_type(params: Mapping[str, str]) -> str:
    grant_type = params.get("grant_type", "").strip()
    if not grant_type:
        raise EsiaError.missing(["grant_type"])
    if grant_type in _KNOWN_GRANTS:
        raise EsiaError("ESIA-007009", grant_type)
    if grant_type not in _V3_REQUIRED:
        raise EsiaError("ESIA-007012", grant_type[:40])
    return grant_type


def _exchange(oauth: SandboxOAuth, params: Mapping[str, str], version: str) -> dict[str, object]:
    require(params, _FIRST)
    grant_type = _grant_type(params)
    require(params, (_V3_REQUIRED if version == "v3" else _V1_REQUIRED)[grant_type])
    client = oauth.known_client(params["client_id"])
    state, scope, stamp = params["state"], params["scope"], params["timestamp"]
    scope_org, redirect_uri = params.get("scope_org", ""), params.get("redirect_uri", "")
    if version == "v3":
        if grant_type == "authorization_code":
            signed = te_code_string(client.client_id, scope, scope_org, stamp, state, redirect_uri, params["code"])
        else:
            signed = te_refresh_string(client.client_id, scope, scope_org, stamp, state, redirect_uri)
        oauth.authenticate_v2(client, params["client_certificate_hash"], stamp, params["client_secret"], signed)
    else:
        oauth.authenticate_v1(client, stamp, params["client_secret"], v1_string(scope, stamp, client.client_id, state))
    token_type = params.get("token_type")
    if token_type is not None and token_type != "Bearer":
        raise EsiaError("ESIA-007003", "token_type")
    grant: Grant
    if grant_type == "authorization_code":
        grant = oauth.redeem_code(params["code"], client.client_id, redirect_uri, scope)
    else:
        grant = oauth.redeem_refresh(params["refresh_token"], client.client_id, scope)
    return oauth.issue_tokens(client, grant, state)


def te_routes(oauth: SandboxOAuth) -> APIRouter:
    router = APIRouter()

    async def token(request: Request, version: str) -> JSONResponse:
        params: dict[str, str] = {}
        try:
            params = single_values(await _form(request))
            answer = await run_in_threadpool(_exchange, oauth, params, version)
        except EsiaError as exc:
            return JSONResponse(exc.body(params.get("state")), status_code=400,
                                headers={"Cache-Control": "no-store"})
        return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @router.post(TE_V3)
    async def token_v3(request: Request) -> JSONResponse:
        return await token(request, "v3")

    @router.post(TE_V1)
    async def token_v1(request: Request) -> JSONResponse:
        return await token(request, "v1")

    return router
