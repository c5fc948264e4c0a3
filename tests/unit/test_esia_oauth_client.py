"""The OAuth client against the sandbox ЕСИА in-process: v2/v3 with refresh, legacy v1, and a lying server."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.esia.oauth._client import DEFAULT_SCOPES, EsiaOAuthClient, OAuthConfig, OAuthError
from adapters.esia.oauth._person import PersonApi, profile
from adapters.esia.sandbox import SandboxClient, SandboxKeys, SandboxOAuth, create_sandbox_app
from bridge.delivery import Upstream, UpstreamConfig
from bridge.signing import PythonSigner, generate_test_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CALLBACK = "https://bridge.test/esia/callback"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, SandboxKeys, Any]]:
    key_pem, cert_pem = generate_test_key()
    folder = tmp_path_factory.mktemp("client-key")
    (folder / "key.pem").write_bytes(key_pem)
    (folder / "cert.pem").write_bytes(cert_pem)
    signer = PythonSigner.from_files(folder / "key.pem", folder / "cert.pem")
    keys = SandboxKeys.generate()
    oauth = SandboxOAuth(keys, [SandboxClient("MISBRIDGE", signer.certificate_der, (CALLBACK,),
                                              scopes=DEFAULT_SCOPES, token_alg="RS256")])
    with TestClient(create_sandbox_app(oauth=oauth), base_url="http://esia.test") as browser:
        yield browser, keys, signer


def client_for(setup: tuple[TestClient, SandboxKeys, Any], legacy: bool = False,
               transport: httpx.BaseTransport | None = None) -> EsiaOAuthClient:
    browser, keys, signer = setup
    upstream = Upstream(UpstreamConfig("esia-oauth-unit", "http://esia.test"),
                        transport=transport or browser._transport)
    config = OAuthConfig(client_id="MISBRIDGE", base_url="http://esia.test",
                         issuer="http://esia-portal1.test.gosuslugi.ru/", certificates=tuple(keys.certificates),
                         legacy_v1=legacy)
    return EsiaOAuthClient(upstream, signer, config)


def authorize(browser: TestClient, url: str, person: str = "1000900101") -> str:
    login = browser.get(url, follow_redirects=False)
    assert login.status_code == 302, login.text
    page = login.headers["location"]
    back = browser.post("/_sandbox/esia/login", follow_redirects=False,
                        data={"request": query(page)["request"], "person": person, "decision": "allow"})
    return query(back.headers["location"])["code"]


def test_v2_login_refresh_and_person(setup: tuple[TestClient, SandboxKeys, Any]) -> None:
    browser = setup[0]
    client = client_for(setup)
    code = authorize(browser, client.authorization_url("7d1c4a52-0000-4000-8000-000000000001", CALLBACK))
    tokens = client.exchange_code(code, CALLBACK)
    assert tokens.token.oid == 1000900101 and tokens.token.algorithm == "RS256"
    assert tokens.refresh_token
    refreshed = client.refresh(tokens.refresh_token, CALLBACK)
    assert refreshed.token.oid == 1000900101 and refreshed.access_token != tokens.access_token
    person = PersonApi(client._upstream).fetch(tokens.token.oid, tokens.access_token, tokens.token.scopes)
    picked = profile({**person, "oid": tokens.token.oid})
    assert picked["mobile"].startswith("+7(") and picked["omsPolicy"]["number"]
    assert len(picked["kids"]) == 2 and all(kid["birthCertificate"]["number"] for kid in picked["kids"])


def test_legacy_v1_login(setup: tuple[TestClient, SandboxKeys, Any]) -> None:
    browser = setup[0]
    client = client_for(setup, legacy=True)
    url = client.authorization_url("7d1c4a52-0000-4000-8000-000000000002", CALLBACK)
    assert "/aas/oauth2/ac?" in url and "client_certificate_hash" not in url
    tokens = client.exchange_code(authorize(browser, url), CALLBACK)
    assert tokens.token.oid == 1000900101


def test_a_replayed_code_is_an_oauth_error_with_the_esia_code(setup: tuple[TestClient, SandboxKeys, Any]) -> None:
    browser = setup[0]
    client = client_for(setup)
    code = authorize(browser, client.authorization_url("7d1c4a52-0000-4000-8000-000000000003", CALLBACK))
    client.exchange_code(code, CALLBACK)
    with pytest.raises(OAuthError) as info:
        client.exchange_code(code, CALLBACK)
    assert info.value.code == "ESIA-007011"


def test_an_answer_with_another_state_is_refused(setup: tuple[TestClient, SandboxKeys, Any]) -> None:
    browser = setup[0]
    real = browser._transport

    def tamper(request: httpx.Request) -> httpx.Response:
        response = real.handle_request(request)
        if request.url.path.endswith("/te"):
            body = json.loads(response.read())
            body["state"] = "00000000-0000-4000-8000-000000000000"
            return httpx.Response(response.status_code, json=body)
        return response

    client = client_for(setup, transport=httpx.MockTransport(tamper))
    code = authorize(browser, client.authorization_url("7d1c4a52-0000-4000-8000-000000000004", CALLBACK))
    with pytest.raises(OAuthError) as info:
        client.exchange_code(code, CALLBACK)
    assert info.value.code == "state_mismatch"


def test_timestamp_format_and_signed_url(setup: tuple[TestClient, SandboxKeys, Any]) -> None:
    client = client_for(setup)
    url = client.authorization_url("7d1c4a52-0000-4000-8000-000000000005", CALLBACK)
    params = query(url)
    assert params["timestamp"][4] == "." and params["timestamp"].endswith(" +0000")
    assert "%2B0000" in url and "+" not in url.split("?", 1)[1].replace("%2B", "")
    assert params["scope"] == " ".join(DEFAULT_SCOPES)


def test_person_filter_and_permissions_are_encoded_and_absent_when_unset(
        setup: tuple[TestClient, SandboxKeys, Any]) -> None:
    import base64
    from dataclasses import replace

    client = client_for(setup)
    plain = query(client.authorization_url("7d1c4a52-0000-4000-8000-000000000006", CALLBACK))
    assert "permissions" not in plain and "person_filter" not in plain
    consent = {"sysname": "MED_CONSENT", "expire": 60, "actions": [{"sysname": "ALL_ACTIONS_TO_DATA"}],
               "purposes": [{"sysname": "TELEMED"}], "scopes": [{"sysname": "fullname"}]}
    client._config = replace(client._config, person_filter="conf_acc", permissions=(consent,))
    params = query(client.authorization_url("7d1c4a52-0000-4000-8000-000000000007", CALLBACK))

    def decode(value: str) -> bytes:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))

    assert decode(params["person_filter"]) == b"conf_acc"
    assert json.loads(decode(params["permissions"])) == [consent]
