"""The one exception tree (bridge/errors.py): drawn once, read once, the same on the SOAP and the HTTP face."""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree
from spyne import Unicode
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

import bridge.errors
from bridge.app import bridge_error_response
from bridge.delivery import UpstreamBusy
from bridge.errors import (
    AccessDenied,
    BridgeError,
    CircuitOpen,
    Conflict,
    InvalidField,
    RuleViolation,
    ServiceUnavailable,
    UpstreamConnectError,
    UpstreamRefused,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamTlsError,
    UpstreamUnavailable,
)
from bridge.soap import BridgeServiceBase, ServiceApplication, SoapEndpoint, SoapService, provided, rpc

NS = "urn:test:errors"
_SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"

# (what an adapter raises, the faultcode, the HTTP status, the text the caller reads or None for "request id only")
CASES: list[tuple[Exception, str, int, str | None]] = [
    (InvalidField("Snils", "ожидается СНИЛС из 11 цифр"), "Client.InvalidField", 400,
     "Snils: ожидается СНИЛС из 11 цифр"),
    (RuleViolation("OneAccount", "учётная запись уже есть"), "Client.RuleViolation", 400,
     "OneAccount: учётная запись уже есть"),
    (Conflict("IntakeRunning", "приём заявлений уже идёт"), "Client.RuleViolation", 409,
     "IntakeRunning: приём заявлений уже идёт"),
    (UpstreamRefused("ЕСИА", "REG-002", "Неверный формат параметра"), "Client.UpstreamRefused", 422,
     "ЕСИА refused the request (REG-002): Неверный формат параметра"),
    (AccessDenied("Client.Authentication", "неверное имя пользователя или пароль"), "Client.Authentication", 401,
     "неверное имя пользователя или пароль"),
    (AccessDenied("Client.RateLimited", "превышен лимит 3 запросов в секунду"), "Client.RateLimited", 429,
     "превышен лимит 3 запросов в секунду"),
    (ServiceUnavailable("ЕСИА не ответила вовремя; повторите позже"), "Server.UpstreamUnavailable", 503,
     "ЕСИА не ответила вовремя; повторите позже"),
    (UpstreamTimeout("esia", "/rs/prns", "ReadTimeout"), "Server.UpstreamUnavailable", 504,
     "Внешняя система esia сейчас недоступна (нет ответа вовремя); повторите запрос позже"),
    (UpstreamConnectError("esia", "/rs/prns", "ConnectError"), "Server.UpstreamUnavailable", 502,
     "Внешняя система esia сейчас недоступна (нет соединения); повторите запрос позже"),
    (UpstreamTlsError("egisz", "/tasks", "the server's certificate is not trusted"), "Server.UpstreamUnavailable",
     502, "Внешняя система egisz сейчас недоступна (не установлено TLS-соединение: доверие TLS (сертификат "
     "сервера не проверен или нужен сертификат клиента)); повторите запрос позже"),
    (UpstreamServerError("egisz", "/tasks", 502), "Server.UpstreamUnavailable", 502,
     "Внешняя система egisz сейчас недоступна (ошибка HTTP 502); повторите запрос позже"),
    (UpstreamBusy("sferum", "/method/x", 429, "VK error 6"), "Server.UpstreamUnavailable", 503,
     "Внешняя система sferum сейчас недоступна (ошибка HTTP 429); повторите запрос позже"),
    (CircuitOpen("max", "/messages"), "Server.UpstreamUnavailable", 503,
     "Внешняя система max сейчас недоступна (вызовы приостановлены после серии ошибок); повторите запрос позже"),
    (UpstreamUnavailable("max", "/messages", "RemoteProtocolError"), "Server.UpstreamUnavailable", 503,
     "Внешняя система max сейчас недоступна (обрыв соединения); повторите запрос позже"),
    (UpstreamRejected("egisz", "/tasks/{id}", 400, b'{"snils": "12345678901"}'), "Server", 502, None),
    # the store away or locked: the driver's error is read as StoreUnavailable, never with its SQL or parameters
    (OperationalError("UPDATE smev_exchange SET state=? WHERE snils=?", ("sent", "12345678901"),
                      sqlite3.OperationalError("database is locked")), "Server.StoreUnavailable", 503,
     "хранилище шлюза сейчас недоступно; повторите вызов позже"),
    (IntegrityError("INSERT INTO egisz (snils) VALUES (?)", ("12345678901",),
                    sqlite3.IntegrityError("UNIQUE constraint failed")), "Server", 500, None),  # a bug of ours
    (BridgeError("a bug of ours"), "Server", 500, None),
    (KeyError("Snils"), "Server", 500, None),
]
_RAISED: dict[str, Exception] = {}


def test_the_docstring_draws_every_exception_of_the_module_once() -> None:
    drawn = re.findall(r"^    [│├└─ ]*([A-Z]\w+)\s", bridge.errors.__doc__ or "", re.MULTILINE)
    defined = sorted(name for name, value in vars(bridge.errors).items()
                     if inspect.isclass(value) and issubclass(value, BaseException)
                     and value.__module__ == "bridge.errors")
    assert sorted(drawn) == defined


def test_one_root_and_no_name_that_means_two_things() -> None:
    import bridge.delivery

    outside = (bridge.errors.__doc__ or "").split("Outside the tree", 1)[1]
    for name in bridge.delivery.__all__:
        value = getattr(bridge.delivery, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            if f"``{name}``" in outside:
                continue  # a configuration error, named as such in the docstring
            assert value is getattr(bridge.errors, name), name
            assert issubclass(value, BridgeError), name
    assert not hasattr(bridge.delivery, "UpstreamRefused")  # the delivery path's "not now" is UpstreamBusy


class Raising(BridgeServiceBase):
    @rpc(Unicode(min_occurs=1, nillable=False), _returns=Unicode)
    def Fail(ctx: Any, Case: str) -> str:
        raise _RAISED[Case]


@pytest.fixture(scope="module")
def soap() -> Any:
    application = ServiceApplication([Raising], tns=NS, name="Raising", provides=None)
    # The endpoint answers POSTs only here; its WSDL file is never read.
    return SoapEndpoint(SoapService("raising", application, Path("raising.wsdl"))).asgi()


@pytest.fixture(scope="module")
def http() -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(BridgeError, bridge_error_response)
    app.add_exception_handler(SQLAlchemyError, bridge_error_response)  # as bridge.app does

    @app.post("/fail/{case}")
    def fail(case: str) -> None:
        raise _RAISED[case]

    return app


def _post(app: Any, path: str, body: bytes = b"") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            return await client.post(path, content=body, headers={"Content-Type": "text/xml; charset=utf-8"})

    return asyncio.run(go())


@pytest.mark.parametrize(("raised", "faultcode", "status", "text"), CASES,
                         ids=[f"{type(case[0]).__name__}-{case[2]}" for case in CASES])
def test_soap_and_http_give_the_same_answer(soap: Any, http: FastAPI, raised: Exception, faultcode: str,
                                            status: int, text: str | None) -> None:
    case = f"{type(raised).__name__}-{status}"
    _RAISED[case] = raised
    envelope = (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{NS}"><e:Body>'
                f"<t:Fail><t:Case>{case}</t:Case></t:Fail></e:Body></e:Envelope>").encode()
    fault = etree.fromstring(_post(soap, "/soap/raising", envelope).content).find(f"{_SOAP}Body/{_SOAP}Fault")
    assert fault is not None
    soap_code = (fault.findtext("faultcode") or "").split(":", 1)[-1]
    soap_text = fault.findtext("faultstring") or ""
    if not isinstance(raised, BridgeError | SQLAlchemyError):
        return  # the HTTP handler takes the tree and the store's errors: anything else is the server's plain 500
    answered = _post(http, f"/fail/{case}")
    assert (soap_code, answered.status_code, answered.json()["error"]) == (faultcode, status, faultcode)
    if text is None:
        assert soap_text.startswith("Внутренняя ошибка шлюза (request id")
        assert answered.json()["message"].startswith("Внутренняя ошибка шлюза (request id")
        assert "12345678901" not in soap_text + answered.text and "egisz" not in soap_text + answered.text
    else:
        assert soap_text == answered.json()["message"] == text


def test_the_admin_intake_answers_from_the_tree_through_the_app(tmp_path: Path) -> None:
    """A route that catches nothing: a bad date is 400, an intake already under way 409 (Conflict), as on SOAP."""
    import warnings

    from bridge.app import create_app
    from bridge.config import Settings
    from bridge.scheduling import JobRuns
    from bridge.store import Store

    with warnings.catch_warnings():  # starlette's TestClient warns that it would rather have httpx2
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    settings = Settings.model_validate({
        "adapters": ["egisz"], "database_url": database, "outbox_workers": 0, "scheduler": False,
        "pseudonym_key": "unit-test-pseudonym-key-0123456789", "admin_token": "admin-token-for-the-test",
        "sandbox_dir": str(tmp_path / "sandbox"),
        "upstreams": {"egisz": {"base_url": "http://127.0.0.1:9/"}},   # never called: every intake is refused
        "adapter_settings": {"egisz": {"mo_oids": ["1.2.643.5.1.13.13.12.2.22.1234"]}}})
    admin = {"Authorization": "Bearer admin-token-for-the-test"}
    with TestClient(create_app(settings)) as client:  # type: ignore[arg-type]
        bad = client.post("/admin/egisz/intake", params={"since": "02.01.2026", "until": "01.01.2026"},
                          headers=admin)
        assert (bad.status_code, bad.json()) == (400, {"error": "Client.InvalidField",
                                                       "message": "PeriodTo: конец периода раньше начала"})
        other = Store(database)
        try:
            assert JobRuns(other, holder="another-instance").acquire("egisz.intake")
        finally:
            other.dispose()
        running = client.post("/admin/egisz/intake", headers=admin)
        assert running.status_code == 409
        assert running.json() == {"error": "Client.RuleViolation",
                                  "message": "IntakeRunning: приём заявлений уже идёт на одном из экземпляров шлюза"}


class _Accounts:
    def __init__(self, name: str) -> None:
        self.name = name


class Needing(BridgeServiceBase):
    @rpc(_returns=Unicode)
    def Need(ctx: Any) -> str:
        return provided(ctx, _Accounts, absent="вход не настроен (adapter_settings.x)").name


@pytest.mark.parametrize(("provides", "expected"), [
    (_Accounts("accounts"), ("ok", "accounts")),
    (None, ("Server.UpstreamUnavailable", "вход не настроен (adapter_settings.x)")),
    ("not accounts", ("Server", "Внутренняя ошибка шлюза (request id")),
])
def test_a_service_takes_what_it_was_built_with_typed(provides: object, expected: tuple[str, str]) -> None:
    application = ServiceApplication([Needing], tns=NS, name="Needing", provides=provides)
    endpoint = SoapEndpoint(SoapService("needing", application, Path("needing.wsdl"))).asgi()
    envelope = (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{NS}"><e:Body>'
                "<t:Need/></e:Body></e:Envelope>").encode()
    root = etree.fromstring(_post(endpoint, "/soap/needing", envelope).content)
    fault = root.find(f"{_SOAP}Body/{_SOAP}Fault")
    if fault is None:
        got = ("ok", root.findtext(f".//{{{NS}}}NeedResult") or "")
    else:
        got = ((fault.findtext("faultcode") or "").split(":", 1)[-1], fault.findtext("faultstring") or "")
    assert got[0] == expected[0] and got[1].startswith(expected[1])
