"""The sandbox ЕСИА's authorization endpoints, consent page and logout.

    GET  /aas/oauth2/v2/ac         every parameter checked (esia.md §1.3), raw GOST client_secret
    GET  /aas/oauth2/ac            legacy v1, detached CMS client_secret
    GET  /_sandbox/esia/login      the consent page: test people, «Предоставить» / «Отказать»
    POST /_sandbox/esia/login      form: request, person (oid), decision=allow|deny
    GET  /idp/ext/Logout           302 to redirect_url when its origin is one of the client's redirect_uris, else 400
    GET  /_sandbox/esia/people     the test people (control API)

A refusal goes back by redirect when the redirect_uri is one registered for the client, else as
HTTP 400 JSON: ЕСИА does not redirect to an address it cannot trust.
"""

from __future__ import annotations

import base64
import binascii
import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from adapters.esia.oauth._protocol import AC_V1, AC_V2, LOGOUT, ac_string, query, v1_string
from adapters.esia.sandbox._oauth import (
    PERSON_FILTERS,
    AuthRequest,
    EsiaError,
    SandboxClient,
    SandboxOAuth,
)

__all__ = ["ac_routes", "redirect_with", "require", "single_values"]

LOGIN_PAGE = "/_sandbox/esia/login"
_V2_REQUIRED = ("client_id", "client_certificate_hash", "client_secret", "redirect_uri", "scope", "response_type",
                "state", "timestamp")
_V1_REQUIRED = ("client_id", "client_secret", "redirect_uri", "scope", "response_type", "state", "timestamp")

SCOPE_TITLES = {
    "openid": "Идентификатор пользователя",
    "fullname": "Фамилия, имя, отчество",
    "birthdate": "Дата рождения",
    "gender": "Пол",
    "snils": "СНИЛС",
    "inn": "ИНН",
    "birthplace": "Место рождения",
    "id_doc": "Паспорт (серия, номер, дата выдачи, кем выдан), гражданство",
    "medical_doc": "Полис ОМС",
    "email": "Адрес электронной почты",
    "mobile": "Номер мобильного телефона",
    "contacts": "Контактные данные",
    "addresses": "Адреса регистрации и проживания",
    "kid_fullname": "ФИО детей",
    "kid_birthdate": "Даты рождения детей",
    "kid_gender": "Пол детей",
    "kid_snils": "СНИЛС детей",
    "kid_inn": "ИНН детей",
    "kid_birth_cert_doc": "Свидетельства о рождении детей",
    "kid_medical_doc": "Полисы ОМС детей",
}


def redirect_with(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + query(params), status_code=302)


def single_values(values: Mapping[str, list[str]]) -> dict[str, str]:
    """One value per parameter; a repeated one is ЕСИА's 007003 («включает параметр несколько раз»)."""
    repeated = [name for name, items in values.items() if len(items) > 1]
    if repeated:
        raise EsiaError("ESIA-007003", f"repeated: {', '.join(sorted(repeated))[:100]}")
    return {name: items[0] for name, items in values.items()}


def require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    absent = [name for name in names if not params.get(name, "").strip()]
    if absent:
        raise EsiaError.missing(absent)


def _query_values(request: Request) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        values.setdefault(name, []).append(value)
    return values


def _person_filter(value: str | None) -> str | None:
    if not value:
        return None
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=False).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded not in PERSON_FILTERS:
        raise EsiaError("ESIA-007003", "person_filter")
    return decoded


def _refuse(exc: EsiaError, client: SandboxClient | None, redirect_uri: str | None, state: str | None) -> Response:
    if client is not None and redirect_uri and redirect_uri in client.redirect_uris:
        return redirect_with(redirect_uri, exc.body(state))
    return JSONResponse(exc.body(state), status_code=400)


def _authorize(oauth: SandboxOAuth, request: Request, version: str) -> Response:
    client: SandboxClient | None = None
    params: dict[str, str] = {}
    try:
        params = single_values(_query_values(request))
        require(params, _V2_REQUIRED if version == "v2" else _V1_REQUIRED)
        client = oauth.known_client(params["client_id"])
        redirect_uri = params["redirect_uri"]
        if redirect_uri not in client.redirect_uris:
            raise EsiaError("ESIA-007023")
        scope, scope_org = params["scope"], params.get("scope_org", "")
        state, stamp, secret = params["state"], params["timestamp"], params["client_secret"]
        if version == "v2":
            signed = ac_string(client.client_id, scope, scope_org, stamp, state, redirect_uri)
            oauth.authenticate_v2(client, params["client_certificate_hash"], stamp, secret, signed)
        else:
            oauth.authenticate_v1(client, stamp, secret, v1_string(scope, stamp, client.client_id, state))
        if params["response_type"] != "code":
            raise EsiaError("ESIA-007003", "response_type")
        scopes = oauth.check_scopes(client, scope, scope_org)
        access_type = params.get("access_type", "online") or "online"
        if access_type not in ("online", "offline"):
            raise EsiaError("ESIA-007003", "access_type")
        person_filter = _person_filter(params.get("person_filter"))
    except EsiaError as exc:
        client = client or oauth.client(params.get("client_id", ""))
        return _refuse(exc, client, params.get("redirect_uri"), params.get("state"))
    pending = oauth.open_request(client, redirect_uri, scopes, scope_org, state, access_type, person_filter)
    return RedirectResponse(f"{str(request.base_url).rstrip('/')}{LOGIN_PAGE}?request={pending.id}",
                            status_code=302)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        "<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
        "label{display:block;margin:.4em 0}button{margin-right:1em;padding:.4em 1.2em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status)


def _consent_page(oauth: SandboxOAuth, pending: AuthRequest) -> HTMLResponse:
    scopes = "".join(f"<li>{html.escape(SCOPE_TITLES.get(name, name))}</li>" for name in pending.scopes)
    people = []
    for index, person in enumerate(oauth.people.values()):
        checked = " checked" if index == 0 else ""
        note = "" if person.trusted else " (учётная запись не подтверждена)"
        people.append(
            f'<label><input type="radio" name="person" value="{person.oid}"{checked}> '
            f"{html.escape(person.display_name)}, {html.escape(person.birth_date)}{note}</label>"
        )
    body = (
        f"<p>Система <b>{html.escape(pending.client_id)}</b> запрашивает доступ к данным:</p><ul>{scopes}</ul>"
        f'<form method="post" action="{LOGIN_PAGE}">'
        f'<input type="hidden" name="request" value="{html.escape(pending.id)}">'
        f"<fieldset><legend>Войти как</legend>{''.join(people)}</fieldset><p>"
        '<button type="submit" name="decision" value="allow">Предоставить</button>'
        '<button type="submit" name="decision" value="deny">Отказать</button></p></form>'
    )
    return _page("Песочница ЕСИА: вход и согласие", body)


def _decide(oauth: SandboxOAuth, form: Mapping[str, str]) -> Response:
    pending = oauth.pending(form.get("request", ""))
    if pending is None:
        return _page("Запрос не найден", "<p>Запрос на вход не найден или устарел. Начните вход заново.</p>", 400)
    decision = form.get("decision")
    if decision == "deny":
        oauth.close_request(pending.id)
        return redirect_with(pending.redirect_uri, EsiaError("ESIA-007004").body(pending.state))
    if decision != "allow":
        return _page("Неверный запрос", "<p>Выберите «Предоставить» или «Отказать».</p>", 400)
    try:
        person = oauth.people.get(int(form.get("person", "")))
    except ValueError:
        person = None
    if person is None:
        return _page("Неверный запрос", "<p>Выберите пользователя.</p>", 400)
    if pending.person_filter == "conf_acc" and not person.trusted:
        oauth.close_request(pending.id)
        return redirect_with(pending.redirect_uri, EsiaError("ESIA-007055").body(pending.state))
    code = oauth.issue_code(pending, person.oid)
    return redirect_with(pending.redirect_uri, {"code": code, "state": pending.state})


def ac_routes(oauth: SandboxOAuth) -> APIRouter:
    router = APIRouter()

    @router.get(AC_V2)
    def authorize_v2(request: Request) -> Response:
        return _authorize(oauth, request, "v2")

    @router.get(AC_V1)
    def authorize_v1(request: Request) -> Response:
        return _authorize(oauth, request, "v1")

    @router.get(LOGIN_PAGE)
    def consent_page(request: str = "") -> Response:
        pending = oauth.pending(request)
        if pending is None:
            return _page("Запрос не найден", "<p>Запрос на вход не найден или устарел. Начните вход заново.</p>",
                         400)
        return _consent_page(oauth, pending)

    @router.post(LOGIN_PAGE)
    async def consent_decision(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        return _decide(oauth, form)

    @router.get(LOGOUT)
    def logout(client_id: str = "", redirect_url: str = "") -> Response:
        client = oauth.client(client_id)
        if client is None:
            return JSONResponse(EsiaError("ESIA-007002", "unknown client_id").body(None), status_code=400)
        if not redirect_url:
            return _page("Выход", "<p>Вы вышли из учётной записи.</p>")
        if _origin(redirect_url) not in {_origin(uri) for uri in client.redirect_uris}:
            return JSONResponse(EsiaError("ESIA-007023").body(None), status_code=400)
        return RedirectResponse(redirect_url, status_code=302)

    @router.get("/_sandbox/esia/people")
    def people() -> list[dict[str, Any]]:
        return [
            {"oid": p.oid, "lastName": p.last_name, "firstName": p.first_name, "middleName": p.middle_name,
             "birthDate": p.birth_date, "trusted": p.trusted, "kids": len(p.kids)}
            for p in oauth.people.values()
        ]

    return router
