"""ЕСИА login through the bridge: the happy path, and every refusal with a clear message and no person data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import zeep
from zeep.exceptions import Fault

from adapters.esia.sandbox import consent
from tests.bridgeproc import BridgeProcess


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture(scope="module")
def login_service(bridge: BridgeProcess) -> Any:
    return zeep.Client(bridge.wsdl_url("esia-login")).service


@pytest.fixture()
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20, follow_redirects=False) as client:
        yield client


def return_url(bridge: BridgeProcess) -> str:
    return f"{bridge.url}/esia/demo-portal/return"


def code_for(bridge: BridgeProcess, login_service: Any, browser: httpx.Client) -> tuple[str, str]:
    start = login_service.GetEsiaLoginUrl(ReturnUrl=return_url(bridge), Purpose="test")
    back = consent(browser, start.Url, lambda _: None)
    assert back.startswith(return_url(bridge)), back
    return query(back)["code"], start.State


def fault(call: Any) -> Fault:
    with pytest.raises(Fault) as info:
        call()
    return info.value


def test_login_returns_the_verified_person_with_children(bridge: BridgeProcess, login_service: Any,
                                                         browser: httpx.Client) -> None:
    start = login_service.GetEsiaLoginUrl(ReturnUrl=return_url(bridge), Purpose="ТМК")
    params = query(start.Url)
    assert start.Url.startswith(bridge.sandbox_urls["esia"] + "/aas/oauth2/v2/ac?")
    assert params["state"] == start.State and params["response_type"] == "code"
    assert len(params["client_certificate_hash"]) == 64 and params["client_certificate_hash"].isupper()
    assert len(params["client_secret"]) == 86
    assert "medical_doc" in params["scope"].split() and "kid_medical_doc" in params["scope"].split()
    back = consent(browser, start.Url, lambda _: None)
    result = login_service.CompleteEsiaLogin(Code=query(back)["code"], State=start.State)
    assert result.Token.Algorithm == "GOST3410_2012_256"
    assert result.Token.Subject == result.Person.Oid
    person = result.Person
    assert person.AccountConfirmed == "true" and len(person.Snils) == 11 and person.MobilePhone.startswith("8")
    assert person.OmsPolicy.Number and len(person.OmsPolicy.Number) == 16
    children = person.Children.EsiaChild
    assert len(children) == 2
    assert all(child.BirthCertificate.Number and child.OmsPolicy.Number for child in children)


def test_tampered_state_is_refused(bridge: BridgeProcess, login_service: Any, browser: httpx.Client) -> None:
    code, state = code_for(bridge, login_service, browser)
    tampered = state[:-1] + ("1" if state[-1] == "0" else "0")  # always differs from the real one
    error = fault(lambda: login_service.CompleteEsiaLogin(Code=code, State=tampered))
    assert error.code.endswith("Client.InvalidField")
    assert "State" in error.message and "подделанный" in error.message


def test_replayed_state_and_code_are_refused(bridge: BridgeProcess, login_service: Any,
                                             browser: httpx.Client) -> None:
    code, state = code_for(bridge, login_service, browser)
    login_service.CompleteEsiaLogin(Code=code, State=state)
    again = fault(lambda: login_service.CompleteEsiaLogin(Code=code, State=state))
    assert "уже использован" in again.message
    fresh = login_service.GetEsiaLoginUrl(ReturnUrl=return_url(bridge))
    replay = fault(lambda: login_service.CompleteEsiaLogin(Code=code, State=fresh.State))
    assert replay.code.endswith("Client.UpstreamRefused")
    assert "ESIA-007011" in replay.message


def test_a_return_url_not_registered_is_refused(login_service: Any) -> None:
    error = fault(lambda: login_service.GetEsiaLoginUrl(ReturnUrl="https://evil.example/steal"))
    assert error.code.endswith("Client.InvalidField") and "ReturnUrl" in error.message


def test_code_exchanged_for_another_redirect_uri_is_refused(bridge: BridgeProcess, login_service: Any,
                                                            browser: httpx.Client) -> None:
    """A code obtained for one return URL and completed with a state made for another."""
    callback_start = browser.get(f"{bridge.url}/esia/login")
    back = consent(browser, callback_start.headers["location"], lambda _: None)
    code = query(back)["code"]  # issued for /esia/callback
    other = login_service.GetEsiaLoginUrl(ReturnUrl=return_url(bridge))
    error = fault(lambda: login_service.CompleteEsiaLogin(Code=code, State=other.State))
    assert "ESIA-007011" in error.message


def test_browser_flow_gives_a_one_time_ticket(bridge: BridgeProcess, login_service: Any,
                                             browser: httpx.Client) -> None:
    started = browser.get(f"{bridge.url}/esia/login", params={"purpose": "ТМК"})
    assert started.status_code == 302 and "esia_login" in started.cookies
    back = consent(browser, started.headers["location"], lambda _: None)
    assert back.startswith(f"{bridge.url}/esia/callback?")
    portal = browser.get(back)
    assert portal.status_code == 302
    ticket = query(portal.headers["location"])["ticket"]
    redeemed = httpx.post(f"{bridge.url}/esia/tickets/redeem", json={"ticket": ticket})
    assert redeemed.status_code == 200 and redeemed.json()["Person"]["Children"]
    again = httpx.post(f"{bridge.url}/esia/tickets/redeem", json={"ticket": ticket})
    assert again.status_code == 400 and again.json() == {
        "error": "invalid_ticket", "message": "билет уже использован", "field": "ticket"}


def test_callback_from_another_browser_is_refused(bridge: BridgeProcess, browser: httpx.Client) -> None:
    started = browser.get(f"{bridge.url}/esia/login")
    back = consent(browser, started.headers["location"], lambda _: None)
    stranger = httpx.get(back)  # no cookie: not the browser that started the login
    assert stranger.status_code == 400
    body = stranger.json()
    assert body["error"] == "invalid_state" and "другому браузеру" in body["message"]
    assert "Person" not in stranger.text


def test_refusal_at_consent_reaches_the_portal_in_plain_words(bridge: BridgeProcess, browser: httpx.Client) -> None:
    started = browser.get(f"{bridge.url}/esia/login")
    login_page = browser.get(started.headers["location"]).headers["location"]
    request_id = query(login_page)["request"]
    sandbox = bridge.sandbox_urls["esia"]
    denied = browser.post(f"{sandbox}/_sandbox/esia/login",
                          data={"request": request_id, "person": "1000900101", "decision": "deny"})
    portal = browser.get(denied.headers["location"])
    params = query(portal.headers["location"])
    assert params["error"] == "ESIA-007004"
    assert "отказал в доступе" in params["error_description"]


def test_callback_without_state_is_a_400_naming_it(bridge: BridgeProcess) -> None:
    answer = httpx.get(f"{bridge.url}/esia/callback", params={"code": "x"})
    assert answer.status_code == 400 and answer.json()["field"] == "state"


def test_logout_url(bridge: BridgeProcess, login_service: Any) -> None:
    url = login_service.GetEsiaLogoutUrl(ReturnUrl=return_url(bridge))
    assert url.startswith(bridge.sandbox_urls["esia"] + "/idp/ext/Logout?")
    assert query(url)["redirect_url"] == return_url(bridge)
    assert httpx.get(url).status_code == 302


def test_no_person_data_or_tokens_in_the_logs(bridge: BridgeProcess, login_service: Any,
                                              browser: httpx.Client) -> None:
    code, state = code_for(bridge, login_service, browser)
    person = login_service.CompleteEsiaLogin(Code=code, State=state).Person
    logs = bridge.logs()
    for value in (person.LastName, person.FirstName, person.Snils, person.MobilePhone, person.BirthDate,
                  person.OmsPolicy.Number, person.Passport.Number, code, state):
        assert value not in logs
    assert "eyJ" not in logs and "client_secret" not in logs
