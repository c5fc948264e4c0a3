"""TLS trust per upstream in the one delivery path: a CA the test makes (trustme), a server that wants a
client certificate, an egress proxy — all real sockets on loopback (tests/tlspeers.py)."""

from __future__ import annotations

import base64
import io
import json
import ssl
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from prometheus_client import REGISTRY

from bridge.delivery import RetryPolicy, TlsSetupError, TlsTrust, Upstream, UpstreamConfig, UpstreamTlsError
from bridge.delivery._tls import ssl_context
from bridge.metrics import UPSTREAM_ATTEMPTS
from bridge.observability import configure_logging
from tests.tlspeers import Pki, egress_proxy, plain_server, tls_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _upstream(name: str, url: str, tls: TlsTrust | None = None, attempts: int = 3) -> Upstream:
    return Upstream(UpstreamConfig(name, url, tls=tls,
                                   retry=RetryPolicy(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.02)))


def _attempts(name: str, outcome: str) -> float:
    return UPSTREAM_ATTEMPTS.labels(name, "/ping", outcome)._value.get()  # type: ignore[no-any-return]


def test_a_server_whose_ca_is_not_trusted_is_refused_once_with_words_for_ops(pki: Pki) -> None:
    stream = io.StringIO()   # the bridge's own log set-up (JSON lines, masked), whatever a test before configured
    configure_logging("INFO", stream=stream)
    with tls_server(pki) as (url, seen):
        upstream = _upstream("regional-untrusted", url)
        with pytest.raises(UpstreamTlsError) as refused:
            upstream.request("GET", "/ping")
    assert str(refused.value) == (
        "regional-untrusted /ping: TLS trust: the server's certificate could not be verified (unable to get local "
        "issuer certificate); give the CA that issued it in upstreams.regional-untrusted.ca_file")
    assert seen == []                                            # no request went over the untrusted channel
    assert _attempts("regional-untrusted", "tls_error") == 1     # not retried: the next attempt meets the same chain
    [line] = [json.loads(text) for text in stream.getvalue().splitlines() if "upstream.tls_failed" in text]
    assert line["host"] == "localhost" and line["level"] == "error", line
    assert "upstreams.regional-untrusted.ca_file" in line["problem"]


def test_ca_file_is_added_to_the_default_bundle_and_the_server_is_reached(pki: Pki) -> None:
    with tls_server(pki) as (url, seen):
        upstream = _upstream("regional-ca", url, TlsTrust(ca_file=pki.ca_file))
        assert upstream.request("GET", "/ping").json() == {"ok": True, "client": None}
        assert seen == [{"path": "/ping", "client": None}]
    added = ssl_context(TlsTrust(ca_file=pki.ca_file), "x")
    only = ssl_context(TlsTrust(ca_file=pki.ca_file, ca_file_only=True), "x")
    assert len(only.get_ca_certs()) == 1
    assert len(added.get_ca_certs()) > 100                       # certifi's bundle is still trusted, plus ours
    assert only.verify_mode == ssl.CERT_REQUIRED and only.check_hostname


def test_a_server_that_wants_a_client_certificate(pki: Pki) -> None:
    with tls_server(pki, require_client_certificate=True) as (url, seen):
        without = _upstream("smev-node", url, TlsTrust(ca_file=pki.ca_file))
        with pytest.raises(UpstreamTlsError, match=r"smev-node /ping: TLS: the server refused the connection "
                                                   r"\(\w+\): it may require a client certificate; give "
                                                   r"upstreams.smev-node.client_certificate and client_key"):
            without.request("GET", "/ping")
        assert seen == []
        with_certificate = _upstream("smev-node", url, TlsTrust(
            ca_file=pki.ca_file, client_certificate=pki.client_certificate, client_key=pki.client_key))
        assert with_certificate.request("GET", "/ping").json() == {"ok": True, "client": "bridge.mo.example"}


def test_the_client_certificate_expiry_is_a_metric(pki: Pki) -> None:
    _upstream("regional-mtls", "https://localhost:9", TlsTrust(
        client_certificate=pki.client_certificate, client_key=pki.client_key))
    left = REGISTRY.get_sample_value("bridge_certificate_expiry_seconds",
                                     {"certificate": "upstream-regional-mtls-client"})
    not_after = x509.load_pem_x509_certificate(pki.client_certificate.read_bytes()).not_valid_after_utc
    assert left is not None and abs(left - (not_after - datetime.now(UTC)).total_seconds()) < 60


def test_a_key_that_is_not_the_certificates_is_refused_by_setting_never_by_content(pki: Pki, tmp_path: Path) -> None:
    other = Pki(tmp_path / "other")
    with pytest.raises(TlsSetupError) as refused:
        _upstream("regional-mtls", "https://localhost:9", TlsTrust(
            client_certificate=pki.client_certificate, client_key=other.client_key))
    text = str(refused.value)
    assert text.startswith("upstreams.regional-mtls.client_certificate/client_key: the certificate and key "
                           "cannot be used together")
    key = other.client_key.read_text()
    assert not any(line in text for line in key.splitlines()[1:-1])


def test_an_https_upstream_through_the_egress_proxy(pki: Pki) -> None:
    with tls_server(pki) as (url, seen), egress_proxy() as (proxy, relayed):
        upstream = _upstream("via-proxy", url, TlsTrust(ca_file=pki.ca_file, proxy=proxy))
        assert upstream.request("POST", "/ping", json={"a": 1}).json()["ok"] is True
        port = url.rsplit(":", 1)[1]
        assert relayed == [f"CONNECT localhost:{port}"]
        assert seen == [{"path": "/ping", "client": None}]


def test_the_proxy_password_comes_from_its_file_never_from_the_url(pki: Pki, tmp_path: Path) -> None:
    password = tmp_path / "proxy.pass"
    password.write_text("s3cret\n", encoding="utf-8")
    authorizations: list[str | None] = []
    with tls_server(pki) as (url, _seen), egress_proxy(authorizations) as (proxy, _relayed):
        user_proxy = proxy.replace("http://", "http://bridge@")
        upstream = _upstream("via-proxy-auth", url, TlsTrust(ca_file=pki.ca_file, proxy=user_proxy,
                                                             proxy_password_file=password))
        assert upstream.request("GET", "/ping").json()["ok"] is True
    assert authorizations == ["Basic " + base64.b64encode(b"bridge:s3cret").decode()]
    with pytest.raises(TlsSetupError, match=r"upstreams.x.proxy: no password in the URL; put it in "
                                            r"proxy_password_file") as refused:
        _upstream("x", url, TlsTrust(proxy=proxy.replace("http://", "http://bridge:s3cret@")))
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(("httpx_error", "reason", "expected"), [
    (httpx.ConnectError, "WRONG_VERSION_NUMBER", "TLS: the handshake failed (WRONG_VERSION_NUMBER)"),
    (httpx.ReadError, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", None),          # mid-answer: a broken connection
    (httpx.ReadError, "TLSV13_ALERT_CERTIFICATE_REQUIRED", "it may require a client certificate"),
    (httpx.ConnectError, "SSLV3_ALERT_BAD_CERTIFICATE", "the server refused the client certificate"),
])
def test_which_tls_errors_are_matters_of_trust(httpx_error: type[httpx.TransportError], reason: str,
                                               expected: str | None) -> None:
    from bridge.delivery._tls import tls_failure

    cause = ssl.SSLError(1, reason)
    cause.reason = reason
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise httpx_error("failed") from exc
    except httpx.TransportError as error:
        found = tls_failure(error, "up")
    assert (found is None) if expected is None else (found is not None and expected in found)


def test_an_http_upstream_through_the_egress_proxy() -> None:
    with plain_server() as (url, seen), egress_proxy() as (proxy, relayed):
        upstream = _upstream("via-proxy-plain", url, TlsTrust(proxy=proxy))
        assert upstream.request("GET", "/ping").json()["ok"] is True
        assert relayed == [f"GET {url}/ping"]
        assert seen == [{"path": "/ping", "client": None}]


# --- configuration and `bridge check` ----------------------------------------------------------------------

def _config(tmp_path: Path, upstream: dict[str, object]) -> Path:
    import yaml

    config = tmp_path / "bridge.yaml"
    config.write_text(yaml.safe_dump({
        "adapters": ["egisz"], "upstreams": {"egisz": upstream},
        "adapter_settings": {"egisz": {"mo_oids": ["1.2.643.5.1.13.13.12.2.22.1234"]}},
    }), encoding="utf-8")
    return config


def test_bridge_check_warns_when_the_chain_cannot_be_built_and_about_a_readable_key(pki: Pki, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bridge.cli import app

    loose_key = tmp_path / "client.key"
    loose_key.write_bytes(pki.client_key.read_bytes())
    loose_key.chmod(0o644)
    with tls_server(pki) as (url, _seen):
        host = url.removeprefix("https://").split(":")[0]
        untrusted = CliRunner().invoke(app, ["check", "--config", str(_config(tmp_path, {"base_url": url}))])
        assert (f"warning: upstreams.egisz: {host}: TLS trust: the server's certificate could not be verified "
                "(unable to get local issuer certificate); give the CA that issued it in upstreams.egisz.ca_file"
                ) in untrusted.output
        trusted = CliRunner().invoke(app, ["check", "--config", str(_config(tmp_path, {
            "base_url": url, "ca_file": str(pki.ca_file), "client_certificate": str(pki.client_certificate),
            "client_key": str(loose_key)}))])
    assert "TLS" not in trusted.output, trusted.output
    assert f"warning: upstreams.egisz.client_key: {loose_key}: can be read by every user" in trusted.output
    assert "BEGIN" not in trusted.output + untrusted.output


@pytest.mark.parametrize(("upstream", "problem"), [
    ({"client_certificate": "CERT"}, "client_certificate and client_key go together"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file: /nonexistent/ca.pem: no such file"),
    ({"ca_file_only": True}, "ca_file_only needs ca_file"),
    ({"proxy": "socks5://127.0.0.1:1080"}, "proxy: must start with http:// or https://"),
])
def test_tls_settings_that_cannot_work_are_refused_at_load(pki: Pki, tmp_path: Path, upstream: dict[str, object],
                                                           problem: str) -> None:
    from bridge.config import ConfigError, load_settings

    values = {k: (str(pki.client_certificate) if v == "CERT" else v) for k, v in upstream.items()}
    config = _config(tmp_path, {"base_url": "https://egisz.example", **values})
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert problem in str(refused.value)
    assert f"{config}:" in str(refused.value)


# --- what the МИС sees: a real bridge process whose ЕСИА upstream presents a certificate it does not trust -----

def test_the_mis_gets_a_server_fault_and_ops_a_log_naming_tls_trust(pki: Pki, tmp_path: Path) -> None:
    """ЕСИА's accounts go through the СМЭВ node: a node whose certificate we do not trust is an ops problem
    named in the log (upstreams.smev.ca_file); the МИС gets a Server fault, never a Client one."""
    import zeep
    import zeep.exceptions

    from bridge.signing import generate_test_key
    from tests.bridgeproc import start_bridge
    from tests.conftest import make_patient

    key_pem, certificate_pem = generate_test_key(subject="/CN=MIS Bridge TLS test/C=RU")
    (tmp_path / "ov-key.pem").write_bytes(key_pem)
    (tmp_path / "ov-cert.pem").write_bytes(certificate_pem)
    with tls_server(pki) as (url, seen):
        fast = {"max_attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.02}
        bridge = start_bridge(tmp_path, config={
            "adapters": ["esia"],
            "upstreams": {"smev": {"base_url": url, **fast}, "esia-oauth": {"base_url": "http://127.0.0.1:9"}},
            "adapter_settings": {"esia": {"answer_wait_seconds": 2, "smev": {
                "signer": {"kind": "python", "key_file": str(tmp_path / "ov-key.pem"),
                           "certificate_file": str(tmp_path / "ov-cert.pem")}}}},
        }, sandbox=False, sandbox_peers=())
        try:
            client = zeep.Client(bridge.wsdl_url("esia-accounts"))  # type: ignore[no-untyped-call]
            with pytest.raises(zeep.exceptions.Fault) as fault:
                client.service.CheckPatient(make_patient())
            logs = bridge.logs()
        finally:
            bridge.stop()
    assert fault.value.code.split(":")[-1].startswith("Server."), fault.value.code
    assert seen == []
    lines = [json_line for json_line in logs.splitlines() if "upstream.tls_failed" in json_line]
    assert lines and "upstreams.smev.ca_file" in lines[0] and "unable to get local issuer certificate" in lines[0]