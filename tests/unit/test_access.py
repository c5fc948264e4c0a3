"""Who may call the SOAP faces: WS-Security UsernameToken (PasswordDigest), TLS client certificates via a
trusted proxy, IP allowlists, rate limits, replayed nonces."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import etree

from bridge.signing import generate_test_key
from bridge.soap import AccessDenied, AccessPolicy, Client
from bridge.soap._access import DIGEST, WSSE, WSU, password_digest
from bridge.store import Store

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def envelope(username: str = "mis1", password: str = "s3cret", created: datetime = NOW,
             nonce: bytes | None = None, kind: str = DIGEST) -> etree._Element:
    nonce = nonce if nonce is not None else os.urandom(16)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    value = password_digest(nonce, stamp, password) if kind == DIGEST else password
    xml = f"""<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">
      <s:Header><wsse:Security><wsse:UsernameToken><wsse:Username>{username}</wsse:Username>
        <wsse:Password Type="{kind}">{value}</wsse:Password>
        <wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{stamp}</wsu:Created>
      </wsse:UsernameToken></wsse:Security></s:Header><s:Body><Ping/></s:Body></s:Envelope>"""
    return etree.fromstring(xml.encode())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    made = Store(f"sqlite:///{tmp_path / 'b.db'}")
    made.upgrade()
    return made


def policy(store: Store, *clients: Client, proxies: tuple[str, ...] = ()) -> AccessPolicy:
    return AccessPolicy(list(clients) or [Client("mis1", "mis1", "s3cret", mos=("1.2.3",))], store, proxies,
                        clock=lambda: NOW)


def denied(call: object) -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        call()  # type: ignore[operator]
    return info.value


def test_a_good_digest_names_the_client_and_its_mos(store: Store) -> None:
    caller = policy(store).identify({"REMOTE_ADDR": "10.1.2.3"}, envelope())
    assert caller.name == "mis1" and caller.mos == frozenset({"1.2.3"}) and caller.remote == "10.1.2.3"


@pytest.mark.parametrize(("changes", "words"), [
    ({"password": "wrong"}, "неверное имя пользователя или пароль"),
    ({"username": "nobody"}, "неверное имя пользователя или пароль"),
    ({"kind": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"},
     "только PasswordDigest"),
    ({"created": NOW - timedelta(minutes=6)}, "вне допустимого окна"),
    ({"created": NOW + timedelta(minutes=6)}, "вне допустимого окна"),
])
def test_bad_tokens_are_client_faults(store: Store, changes: dict[str, object], words: str) -> None:
    error = denied(lambda: policy(store).identify({}, envelope(**changes)))  # type: ignore[arg-type]
    assert error.faultcode == "Client.Authentication" and words in error.message


def test_no_token_is_refused_and_says_what_to_send(store: Store) -> None:
    plain = etree.fromstring(b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>')
    error = denied(lambda: policy(store).identify({}, plain))
    assert "UsernameToken" in error.message and "сертификат" in error.message


def test_a_replayed_nonce_is_refused_even_by_another_instance(store: Store) -> None:
    nonce = os.urandom(16)
    policy(store).identify({}, envelope(nonce=nonce))
    error = denied(lambda: policy(store).identify({}, envelope(nonce=nonce)))   # a second instance, same store
    assert "Nonce уже использован" in error.message


def test_ip_allowlist(store: Store) -> None:
    client = Client("mis1", "mis1", "s3cret", allow_ips=("10.0.0.0/8",))
    assert policy(store, client).identify({"REMOTE_ADDR": "10.9.9.9"}, envelope()).name == "mis1"
    error = denied(lambda: policy(store, client).identify({"REMOTE_ADDR": "192.168.1.5"}, envelope()))
    assert error.faultcode == "Client.Forbidden"


def test_forwarded_for_counts_only_from_a_trusted_proxy(store: Store) -> None:
    client = Client("mis1", "mis1", "s3cret", allow_ips=("10.0.0.0/8",))
    env = {"REMOTE_ADDR": "172.16.0.2", "HTTP_X_FORWARDED_FOR": "10.1.1.1"}
    assert denied(lambda: policy(store, client).identify(env, envelope())).faultcode == "Client.Forbidden"
    trusting = policy(store, client, proxies=("172.16.0.0/12",))
    assert trusting.identify(env, envelope()).remote == "10.1.1.1"


def test_rate_limit_is_a_fault_that_says_so(store: Store) -> None:
    client = Client("mis1", "mis1", "s3cret", rate_per_second=3)
    access = policy(store, client)
    for _ in range(3):
        access.identify({}, envelope())
    error = denied(lambda: access.identify({}, envelope()))
    assert error.faultcode == "Client.RateLimited" and "3 запросов в секунду" in error.message


def test_tls_client_certificate_through_a_trusted_proxy(store: Store) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    _, pem = generate_test_key(subject="/CN=MIS client/C=RU")
    fingerprint = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
    client = Client("mis-cert", certificate_sha256=fingerprint, mos=None)
    access = policy(store, client, proxies=("127.0.0.1/32",))
    env = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_SSL_CLIENT_CERT": quote(pem.decode())}
    plain = etree.fromstring(b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>')
    assert access.identify(env, plain).name == "mis-cert"
    # the same header from an untrusted peer is ignored: the caller must then bring a token
    untrusted = denied(lambda: access.identify({**env, "REMOTE_ADDR": "10.0.0.7"}, plain))
    assert untrusted.faultcode == "Client.Authentication"
    _, other = generate_test_key(subject="/CN=Somebody/C=RU")
    error = denied(lambda: access.identify({**env, "HTTP_X_SSL_CLIENT_CERT": quote(other.decode())}, plain))
    assert "не зарегистрирован" in error.message


def test_no_clients_configured_is_open_as_anonymous(store: Store) -> None:
    access = AccessPolicy([], store)
    assert access.open and access.identify({"REMOTE_ADDR": "1.2.3.4"}, envelope()).name == "anonymous"


def test_the_wsdl_address_believes_forwarding_headers_only_from_trusted_proxies() -> None:
    from starlette.requests import Request

    from bridge.app import _public_address

    scope = {"type": "http", "scheme": "http", "server": ("10.0.0.5", 8080), "client": ("172.16.0.2", 1234),
             "path": "/soap/x", "method": "GET", "query_string": b"wsdl",
             "headers": [(b"host", b"10.0.0.5:8080"), (b"x-forwarded-host", b"bridge.example.ru"),
                         (b"x-forwarded-proto", b"https")]}
    assert _public_address(Request(scope), "x", lambda peer: peer == "172.16.0.2") == "https://bridge.example.ru/soap/x"
    assert _public_address(Request(scope), "x", lambda peer: False) == "http://10.0.0.5:8080/soap/x"
    scope["headers"] = [(b"host", b"a" * 10_000)]
    assert _public_address(Request(scope), "x", lambda peer: False) == "http://10.0.0.5:8080/soap/x"
