"""The sandbox ЕСИА's OAuth/OIDC side and person API, in-process: what it accepts and how it refuses."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.esia.oauth._protocol import (
    AC_V1,
    AC_V2,
    TE_V1,
    TE_V3,
    ac_string,
    error_code,
    te_code_string,
    te_refresh_string,
    timestamp,
    v1_string,
)
from adapters.esia.oauth._tokens import GOST_ALG, TokenInvalid, sign_token, verify_token
from adapters.esia.sandbox import PEOPLE, SandboxClient, SandboxKeys, SandboxOAuth, create_sandbox_app
from adapters.esia.sandbox._people import enp_check_digit
from bridge.identifiers import snils_checksum_ok
from bridge.signing import (
    Signer,
    SignerConfig,
    base64url,
    certificate_hash,
    generate_test_key,
    load_certificate,
    load_signer,
)

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns (once, at import) when it finds httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

REDIRECT = "http://127.0.0.1:8080/esia/callback"
OTHER_REDIRECT = "http://127.0.0.1:8080/esia/other"
SCOPE = ("openid fullname birthdate gender snils inn id_doc medical_doc mobile email addresses "
         "kid_fullname kid_birthdate kid_gender kid_snils kid_birth_cert_doc kid_medical_doc")
MOTHER, FATHER, UNTRUSTED = 1000900101, 1000900102, 1000900103
ISSUER = "http://esia-portal1.test.gosuslugi.ru/"


def _signer(directory: Path, name: str) -> Signer:
    key_pem, cert_pem = generate_test_key("A")
    (directory / f"{name}.key").write_bytes(key_pem)
    (directory / f"{name}.crt").write_bytes(cert_pem)
    return load_signer(SignerConfig(kind="python", key_file=directory / f"{name}.key",
                                    certificate_file=directory / f"{name}.crt"))


@pytest.fixture(scope="module")
def keys() -> SandboxKeys:
    return SandboxKeys.generate()


@pytest.fixture(scope="module")
def signers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, Signer]:
    """The МИС's registered key, and a stranger's."""
    directory = tmp_path_factory.mktemp("client-keys")
    return _signer(directory, "mis"), _signer(directory, "stranger")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Esia:
    """The sandbox app and a МИС that talks to it by the book."""

    def __init__(self, oauth: SandboxOAuth, signer: Signer, clock: Clock) -> None:
        self.oauth, self.signer, self.clock = oauth, signer, clock
        self.http = TestClient(create_sandbox_app(oauth=oauth), follow_redirects=False)

    def stamp(self, shift: float = 0.0) -> str:
        return timestamp(datetime.fromtimestamp(self.clock() + shift, UTC))

    def ac_params(self, client_id: str = "MISRSA", scope: str = SCOPE, **overrides: str) -> dict[str, str]:
        params = {"client_id": client_id, "client_certificate_hash": "", "redirect_uri": REDIRECT, "scope": scope,
                  "scope_org": "", "response_type": "code", "state": str(uuid.uuid4()), "access_type": "offline",
                  "timestamp": self.stamp()}
        params.update(overrides)
        params["client_certificate_hash"] = overrides.get("client_certificate_hash",
                                                          certificate_hash(self.signer.certificate_der))
        signed = ac_string(params["client_id"], params["scope"], params["scope_org"], params["timestamp"],
                           params["state"], params["redirect_uri"])
        params["client_secret"] = overrides.get("client_secret", base64url(self.signer.sign_raw(signed.encode())))
        return params

    def consent(self, location: str, person: int = MOTHER, decision: str = "allow") -> dict[str, str]:
        page = self.http.get(location)
        assert page.status_code == 200 and "Предоставить" in page.text and "Отказать" in page.text
        request_id = parse_qs(urlsplit(location).query)["request"][0]
        answer = self.http.post("/_sandbox/esia/login", data={"request": request_id, "person": str(person),
                                                              "decision": decision})
        assert answer.status_code == 302, answer.text
        return _redirected(answer.headers["location"])

    def code(self, person: int = MOTHER, **overrides: str) -> tuple[str, dict[str, str]]:
        params = self.ac_params(**overrides)
        answer = self.http.get(AC_V2, params=params)
        assert answer.status_code == 302, answer.text
        assert urlsplit(answer.headers["location"]).path == "/_sandbox/esia/login"
        back = self.consent(answer.headers["location"], person)
        assert back["state"] == params["state"], back
        return back["code"], params

    def te_form(self, code: str, ac: dict[str, str], **overrides: str) -> dict[str, str]:
        form = {"client_id": ac["client_id"], "code": code, "grant_type": "authorization_code",
                "client_certificate_hash": ac["client_certificate_hash"], "redirect_uri": ac["redirect_uri"],
                "scope": ac["scope"], "scope_org": "", "state": str(uuid.uuid4()), "timestamp": self.stamp(),
                "token_type": "Bearer"}
        form.update(overrides)
        signed = te_code_string(form["client_id"], form["scope"], form["scope_org"], form["timestamp"],
                                form["state"], form["redirect_uri"], form["code"])
        form["client_secret"] = overrides.get("client_secret", base64url(self.signer.sign_raw(signed.encode())))
        return form

    def tokens(self, client_id: str = "MISRSA", person: int = MOTHER, **overrides: str) -> dict[str, Any]:
        code, ac = self.code(person, client_id=client_id, **overrides)
        form = self.te_form(code, ac)
        answer = self.http.post(TE_V3, data=form)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["state"] == form["state"]
        return body

    def get(self, path: str, token: str | None, **params: str) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(path, headers=headers, params=params)


def _redirected(location: str) -> dict[str, str]:
    assert location.startswith((REDIRECT, OTHER_REDIRECT)), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def _refused_by_redirect(answer: Any, code: str, error: str | None = None) -> dict[str, str]:
    assert answer.status_code == 302, answer.text
    back = _redirected(answer.headers["location"])
    assert error_code(back["error_description"]) == code, back
    if error:
        assert back["error"] == error
    return back


def _refused_json(answer: Any, code: str, status: int = 400) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert error_code(body["error_description"]) == code, body
    return body


@pytest.fixture()
def esia(keys: SandboxKeys, signers: tuple[Signer, Signer]) -> Iterator[Esia]:
    mis = signers[0].certificate_der
    clock = Clock()
    oauth = SandboxOAuth(keys, [
        SandboxClient("MISRSA", mis, (REDIRECT, OTHER_REDIRECT), token_alg="RS256"),
        SandboxClient("MISGOST", mis, (REDIRECT,), token_alg=GOST_ALG),
        SandboxClient("NARROW", mis, (REDIRECT,), scopes=("openid", "fullname")),
    ], clock=clock)
    yield Esia(oauth, signers[0], clock)


# -- the happy path -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["MISRSA", "MISGOST"])
def test_login_then_person_data(esia: Esia, keys: SandboxKeys, client_id: str) -> None:
    tokens = esia.tokens(client_id)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600 and tokens["refresh_token"]
    access = verify_token(tokens["access_token"], keys.certificates, issuer=ISSUER, client_id=client_id)
    assert access.oid == MOTHER
    assert "openid" in access.scopes and f"fullname?oid={MOTHER}" in access.scopes
    assert access.claims["exp"] - access.claims["iat"] == 3600 and access.claims["urn:esia:sbj_id"] == MOTHER
    identity = verify_token(tokens["id_token"], keys.certificates, issuer=ISSUER, client_id=client_id, kind="id")
    assert identity.claims["urn:esia:sbj"] == {"urn:esia:sbj:typ": "P", "urn:esia:sbj:oid": MOTHER}
    token = tokens["access_token"]

    person = esia.get(f"/rs/prns/{MOTHER}", token, embed="(contacts.elements,addresses.elements,documents.elements)")
    assert person.status_code == 200, person.text
    body = person.json()
    assert (body["lastName"], body["firstName"], body["middleName"]) == ("Смирнова", "Анна", "Сергеевна")
    assert body["trusted"] is True and body["status"] == "REGISTERED" and body["eTag"]
    assert body["birthDate"] == "14.03.1988" and body["gender"] == "F" and len(body["inn"]) == 12
    assert snils_checksum_ok(body["snils"].replace("-", "").replace(" ", ""))
    assert body["contacts"]["stateFacts"] == ["hasSize"] and body["contacts"]["size"] == 2
    assert {c["type"] for c in body["contacts"]["elements"]} == {"MBT", "EML"}
    assert {a["type"] for a in body["addresses"]["elements"]} == {"PRG", "PLV"}
    docs = {d["type"]: d for d in body["documents"]["elements"]}
    assert docs["RF_PASSPORT"]["series"] == "0108" and len(docs["MDCL_PLCY"]["number"]) == 16

    links = esia.get(f"/rs/prns/{MOTHER}/ctts", token).json()
    assert links["size"] == 2 and all(link.startswith("http://testserver/rs/prns/") for link in links["elements"])
    one = esia.get(urlsplit(links["elements"][0]).path, token)
    assert one.status_code == 200 and one.json()["type"] in ("MBT", "EML")

    kids = esia.get(f"/rs/prns/{MOTHER}/kids", token, embed="(elements)").json()
    assert kids["size"] == 2
    by_name = {kid["firstName"]: kid for kid in kids["elements"]}
    assert set(by_name) == {"Артём", "Полина"} and by_name["Полина"]["birthDate"].endswith("2026")
    kid_docs = esia.get(f"/rs/prns/{MOTHER}/kids/{by_name['Артём']['id']}/docs", token, embed="(elements)").json()
    by_type = {doc["type"]: doc for doc in kid_docs["elements"]}
    assert by_type["RF_BRTH_CERT"]["series"] == "III-ТО" and by_type["RF_BRTH_CERT"]["issuedBy"]
    policy = by_type["MDCL_PLCY"]["number"]
    assert len(policy) == 16 and enp_check_digit(policy[:15]) == policy[15]


def test_people_are_valid(esia: Esia) -> None:
    assert enp_check_digit("845199912289999") == "0"  # reference/egisz.md §4.3
    listed = esia.http.get("/_sandbox/esia/people").json()
    assert [p["kids"] for p in listed][:3] == [2, 1, 0] and listed[2]["trusted"] is False
    for person in PEOPLE:
        for snils in (person.snils, *(kid.snils for kid in person.kids)):
            assert snils_checksum_ok(snils.replace("-", "").replace(" ", "")), snils
        policies = [d.number for d in person.documents + tuple(d for k in person.kids for d in k.documents)
                    if d.type == "MDCL_PLCY"]
        assert all(len(p) == 16 and enp_check_digit(p[:15]) == p[15] for p in policies)


def test_refresh_rotates(esia: Esia, keys: SandboxKeys) -> None:
    tokens = esia.tokens("MISGOST")
    form = {"client_id": "MISGOST", "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_certificate_hash": esia.ac_params()["client_certificate_hash"], "scope": "openid fullname",
            "scope_org": "", "redirect_uri": REDIRECT, "state": str(uuid.uuid4()), "timestamp": esia.stamp()}
    signed = te_refresh_string("MISGOST", form["scope"], "", form["timestamp"], form["state"], REDIRECT)
    form["client_secret"] = base64url(esia.signer.sign_raw(signed.encode()))
    renewed = esia.http.post(TE_V3, data=form)
    assert renewed.status_code == 200, renewed.text
    access = verify_token(renewed.json()["access_token"], keys.certificates, issuer=ISSUER, client_id="MISGOST")
    assert access.oid == MOTHER and set(access.scopes) == {"openid", f"fullname?oid={MOTHER}"}
    assert renewed.json()["refresh_token"] != tokens["refresh_token"]
    _refused_json(esia.http.post(TE_V3, data=form), "ESIA-007011")  # used once already
    online = esia.tokens("MISRSA", access_type="online")
    assert "refresh_token" not in online


def test_legacy_v1_with_cms(esia: Esia, signers: tuple[Signer, Signer]) -> None:
    scope, state, stamp = "openid fullname", str(uuid.uuid4()), esia.stamp()
    secret = base64url(esia.signer.sign_cms_detached(v1_string(scope, stamp, "MISRSA", state).encode()))
    params = {"client_id": "MISRSA", "client_secret": secret, "redirect_uri": REDIRECT, "scope": scope,
              "response_type": "code", "state": state, "timestamp": stamp, "access_type": "online"}
    answer = esia.http.get(AC_V1, params=params)
    assert answer.status_code == 302, answer.text
    code = esia.consent(answer.headers["location"], FATHER)["code"]
    te_state, te_stamp = str(uuid.uuid4()), esia.stamp()
    form = {"client_id": "MISRSA", "code": code, "grant_type": "authorization_code", "redirect_uri": REDIRECT,
            "scope": scope, "state": te_state, "timestamp": te_stamp, "token_type": "Bearer",
            "client_secret": base64url(esia.signer.sign_cms_detached(
                v1_string(scope, te_stamp, "MISRSA", te_state).encode()))}
    tokens = esia.http.post(TE_V1, data=form)
    assert tokens.status_code == 200, tokens.text
    assert esia.get(f"/rs/prns/{FATHER}", tokens.json()["access_token"]).json()["lastName"] == "Кузнецов"
    stranger = base64url(signers[1].sign_cms_detached(v1_string(scope, stamp, "MISRSA", state).encode()))
    _refused_by_redirect(esia.http.get(AC_V1, params={**params, "client_secret": stranger}), "ESIA-007053")


# -- /v2/ac refusals ------------------------------------------------------------------------------------------


def test_ac_refusals(esia: Esia, signers: tuple[Signer, Signer]) -> None:
    params = esia.ac_params()
    del params["client_certificate_hash"]
    back = _refused_by_redirect(esia.http.get(AC_V2, params=params), "ESIA-007014", "invalid_request")
    assert "[client_certificate_hash]" in back["error_description"] and back["state"] == params["state"]

    wrong_hash = esia.ac_params(client_certificate_hash="AB" * 32)
    _refused_by_redirect(esia.http.get(AC_V2, params=wrong_hash), "ESIA-007002")

    forged = esia.ac_params()
    signed = ac_string("MISRSA", SCOPE, "", forged["timestamp"], forged["state"], REDIRECT)
    forged["client_secret"] = base64url(signers[1].sign_raw(signed.encode()))
    _refused_by_redirect(esia.http.get(AC_V2, params=forged), "ESIA-007053", "access_denied")
    tampered = esia.ac_params()
    tampered["state"] = str(uuid.uuid4())
    _refused_by_redirect(esia.http.get(AC_V2, params=tampered), "ESIA-007053")

    _refused_by_redirect(esia.http.get(AC_V2, params=esia.ac_params(timestamp=esia.stamp(-400))), "ESIA-007015")
    _refused_by_redirect(esia.http.get(AC_V2, params=esia.ac_params(timestamp="2026-11-22T10:00:00Z")),
                         "ESIA-007015")

    body = _refused_json(esia.http.get(AC_V2, params=esia.ac_params(redirect_uri="https://evil.example/cb")),
                         "ESIA-007023")
    assert body["error"] == "invalid_request"
    _refused_json(esia.http.get(AC_V2, params=esia.ac_params(client_id="NOBODY")), "ESIA-007002")
    _refused_by_redirect(esia.http.get(AC_V2, params=esia.ac_params(scope="openid snils", client_id="NARROW")),
                         "ESIA-007006", "invalid_scope")
    _refused_by_redirect(esia.http.get(AC_V2, params=esia.ac_params(scope="openid telepathy")), "ESIA-007006")
    _refused_by_redirect(esia.http.get(AC_V2, params=esia.ac_params(response_type="token")), "ESIA-007003")


def test_consent_refusals(esia: Esia) -> None:
    answer = esia.http.get(AC_V2, params=esia.ac_params())
    back = esia.consent(answer.headers["location"], decision="deny")
    assert back["error"] == "access_denied" and error_code(back["error_description"]) == "ESIA-007004"

    conf_acc = "Y29uZl9hY2M="  # base64("conf_acc")
    answer = esia.http.get(AC_V2, params=esia.ac_params(person_filter=conf_acc))
    back = esia.consent(answer.headers["location"], person=UNTRUSTED)
    assert error_code(back["error_description"]) == "ESIA-007055"
    answer = esia.http.get(AC_V2, params=esia.ac_params(person_filter=conf_acc))
    assert "code" in esia.consent(answer.headers["location"], person=FATHER)
    answer = esia.http.get(AC_V2, params=esia.ac_params())
    assert "code" in esia.consent(answer.headers["location"], person=UNTRUSTED)  # no filter: unconfirmed may log in


# -- /v3/te refusals ------------------------------------------------------------------------------------------


def test_te_refusals(esia: Esia, signers: tuple[Signer, Signer]) -> None:
    code, ac = esia.code()
    assert esia.http.post(TE_V3, data=esia.te_form(code, ac)).status_code == 200
    _refused_json(esia.http.post(TE_V3, data=esia.te_form(code, ac)), "ESIA-007011")  # replayed

    code, ac = esia.code()
    body = _refused_json(esia.http.post(TE_V3, data=esia.te_form(code, ac, redirect_uri=OTHER_REDIRECT)),
                         "ESIA-007011")
    assert body["error"] == "invalid_grant"

    code, ac = esia.code()
    esia.clock.now += 61
    _refused_json(esia.http.post(TE_V3, data=esia.te_form(code, ac)), "ESIA-007011")  # expired

    code, ac = esia.code()
    body = _refused_json(esia.http.post(TE_V3, json=esia.te_form(code, ac)), "ESIA-007014")
    assert body["error_description"].endswith("[state, client_id]")

    form = esia.te_form(code, ac)
    signed = te_code_string("MISRSA", SCOPE, "", form["timestamp"], form["state"], REDIRECT, code)
    form["client_secret"] = base64url(signers[1].sign_raw(signed.encode()))
    body = _refused_json(esia.http.post(TE_V3, data=form), "ESIA-007053")
    assert body["state"] == form["state"]
    assert esia.http.post(TE_V3, data=esia.te_form(code, ac)).status_code == 200  # a bad signature burns nothing

    code, ac = esia.code()
    _refused_json(esia.http.post(TE_V3, data=esia.te_form(code, ac, client_id="MISGOST")), "ESIA-007011")
    code, ac = esia.code()
    _refused_json(esia.http.post(TE_V3, data=esia.te_form(code, ac, timestamp=esia.stamp(400))), "ESIA-007015")


# -- the person API's refusals ---------------------------------------------------------------------------------


def test_person_api_refusals(esia: Esia, keys: SandboxKeys) -> None:
    token = esia.tokens()["access_token"]
    assert esia.get(f"/rs/prns/{MOTHER}", None).status_code == 401
    now = int(time.time())
    claims = {"nbf": now - 7300, "iat": now - 7300, "exp": now - 3700, "iss": ISSUER, "client_id": "MISRSA",
              "scope": f"openid fullname?oid={MOTHER}", "urn:esia:sid": "x", "urn:esia:sbj_id": MOTHER}
    expired = sign_token(claims, alg="RS256", key=keys.rsa_key)
    refused = esia.get(f"/rs/prns/{MOTHER}", expired)
    assert refused.status_code == 401 and refused.json()["code"] == "ESIA-007011"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sign_token({**claims, "iat": now, "nbf": now, "exp": now + 3600}, alg="RS256", key=stranger)
    assert esia.get(f"/rs/prns/{MOTHER}", forged).status_code == 401
    assert esia.get(f"/rs/prns/{MOTHER}", token[:-4] + "AAAA").status_code == 401

    other = esia.get(f"/rs/prns/{FATHER}", token)
    assert other.status_code == 403 and other.json()["code"] == "ESIA-007019"

    narrow = esia.tokens("NARROW", scope="openid fullname")["access_token"]
    me = esia.get(f"/rs/prns/{MOTHER}", narrow).json()
    assert me["lastName"] == "Смирнова" and "snils" not in me and "birthDate" not in me
    for path in ("ctts", "docs", "addrs", "kids", f"kids/{PEOPLE[0].kids[0].id}/docs"):
        refused = esia.get(f"/rs/prns/{MOTHER}/{path}", narrow)
        assert refused.status_code == 403, path
        assert refused.json() == {"code": "ESIA-007019", "message": "Отсутствует разрешение на доступ"}
    assert esia.get(f"/rs/prns/{MOTHER}", narrow, embed="(documents.elements)").status_code == 403

    mobile_only = esia.tokens(scope="openid mobile")["access_token"]
    contacts = esia.get(f"/rs/prns/{MOTHER}/ctts", mobile_only, embed="(elements)").json()
    assert [c["type"] for c in contacts["elements"]] == ["MBT"]


def test_logout(esia: Esia) -> None:
    answer = esia.http.get("/idp/ext/Logout", params={"client_id": "MISRSA", "redirect_url": REDIRECT})
    assert answer.status_code == 302 and answer.headers["location"] == REDIRECT
    assert esia.http.get("/idp/ext/Logout", params={"client_id": "MISRSA",
                                                    "redirect_url": "https://evil.example/"}).status_code == 400


def test_certificates_for_the_bridge(tmp_path: Path) -> None:
    keys = SandboxKeys.load_or_create(tmp_path / "keys")
    again = SandboxKeys.load_or_create(tmp_path / "keys")
    assert again.certificates == keys.certificates
    paths = keys.write_certificates(tmp_path / "trust")
    assert load_certificate(paths.rsa) == keys.rsa_certificate_der
    assert load_certificate(paths.gost) == keys.gost_certificate_der
    claims = {"nbf": int(time.time()), "iat": int(time.time()), "exp": int(time.time()) + 60, "iss": ISSUER,
              "client_id": "X", "urn:esia:sbj_id": 1}
    token = sign_token(claims, alg=GOST_ALG, key=again.signing_key(GOST_ALG))
    assert verify_token(token, [load_certificate(paths.gost)], issuer=ISSUER, client_id="X").oid == 1
    with pytest.raises(TokenInvalid):
        verify_token(token, [load_certificate(paths.rsa)], issuer=ISSUER, client_id="X")
