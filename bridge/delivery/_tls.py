"""TLS trust and egress of one upstream: its CA, its client certificate, its proxy (docs/operations.md).

``TlsTrust`` is what an upstream is configured with; ``ssl_context`` makes the one ``ssl.SSLContext``
all of the upstream's per-thread transports share. Without ``ca_file`` an upstream trusts what
httpx trusts by default (certifi's Mozilla bundle, or the file named by ``SSL_CERT_FILE``), exactly as
before; ``ca_file`` is added to that bundle (or replaces it with ``ca_file_only``).

``tls_failure`` reads an httpx transport error: when TLS itself failed (the server's chain could not
be verified, or the server refused the client certificate or the lack of one) it says so in words an
operator can act on. Such a failure is not retried: the next attempt would meet the same certificate.
Nothing here reads a key into Python or puts a key, a password or a certificate's subject in a message.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["TlsSetupError", "TlsTrust", "check_chain", "egress_proxy", "observe_client_certificate", "ssl_context",
           "tls_failure"]


@dataclass(frozen=True, slots=True)
class TlsTrust:
    """How an upstream's TLS is set up; files are read when the upstream is made."""

    ca_file: Path | None = None             # PEM: the CA(s) that issued the upstream's certificate
    ca_file_only: bool = False              # trust ca_file alone, not the default bundle as well
    client_certificate: Path | None = None  # PEM: the certificate (and its chain) the bridge presents
    client_key: Path | None = None          # PEM: its private key (mode 0600; ``bridge check`` warns otherwise)
    client_key_password_file: Path | None = None
    proxy: str | None = None                # http://host:port — egress HTTP(S) proxy (CONNECT for https)
    proxy_password_file: Path | None = None  # the password of the user in ``proxy``'s URL


class TlsSetupError(ValueError):
    """A TLS file that cannot be used; the message names the setting and the file, never the content."""


def ssl_context(trust: TlsTrust, name: str) -> ssl.SSLContext:
    """The SSL context of upstream ``name``, made once and shared by all its threads' transports.

    (httpx makes one per ``HTTPTransport``: ~30 ms and a certifi load for every thread's first call,
    where a shared context costs 0.16 ms per transport.) Raises ``TlsSetupError`` naming the setting at fault.
    """
    if trust.ca_file is not None and trust.ca_file_only:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)     # verifies the chain and the host name
    else:
        context = httpx.create_ssl_context()
    if trust.ca_file is not None:
        try:
            context.load_verify_locations(cafile=_readable(trust.ca_file, name, "ca_file"))
        except ssl.SSLError as exc:
            raise TlsSetupError(f"upstreams.{name}.ca_file: {trust.ca_file}: not a PEM CA certificate "
                                f"({exc.reason or exc.__class__.__name__})") from None
    if trust.client_certificate is not None:
        certificate = _readable(trust.client_certificate, name, "client_certificate")
        key = _readable(trust.client_key, name, "client_key") if trust.client_key is not None else None
        password = (_readable(trust.client_key_password_file, name, "client_key_password_file")
                    .read_text(encoding="utf-8").strip()
                    if trust.client_key_password_file is not None else None)
        try:
            context.load_cert_chain(certificate, key, password)
        except ssl.SSLError as exc:
            raise TlsSetupError(f"upstreams.{name}.client_certificate/client_key: the certificate and key "
                                f"cannot be used together ({exc.reason or exc.__class__.__name__})") from None
    return context


def egress_proxy(trust: TlsTrust, name: str) -> httpx.Proxy | None:
    """The upstream's proxy, with the password read from its file (never from the URL)."""
    if trust.proxy is None:
        return None
    url = httpx.URL(trust.proxy)
    if url.password:
        raise TlsSetupError(f"upstreams.{name}.proxy: no password in the URL; put it in proxy_password_file")
    auth = None
    if trust.proxy_password_file is not None:
        password = _readable(trust.proxy_password_file, name, "proxy_password_file").read_text("utf-8").strip()
        auth = (url.username, password)
    elif url.username:
        auth = (url.username, "")
    # httpx.Proxy takes credentials from the URL before ``auth``: they go in ``auth`` only.
    return httpx.Proxy(url.copy_with(username=None, password=None), auth=auth)


def client_certificate_metric_name(upstream: str) -> str:
    """The ``certificate`` label of an upstream's client certificate: ``upstream-<name>-client``."""
    return "upstream-" + re.sub(r"[^a-z0-9_.-]", "-", upstream.lower())[:48] + "-client"


def observe_client_certificate(upstream: str, certificate: Path) -> None:
    """Publish the client certificate's remaining lifetime in ``bridge_certificate_expiry_seconds``."""
    from bridge.signing import SigningError, load_certificate, observe_certificate  # only with a client certificate

    try:
        observe_certificate(client_certificate_metric_name(upstream), load_certificate(certificate))
    except SigningError as exc:
        raise TlsSetupError(f"upstreams.{upstream}.client_certificate: {certificate}: {exc}") from None


def _readable(path: Path, name: str, setting: str) -> Path:
    if not path.is_file():
        raise TlsSetupError(f"upstreams.{name}.{setting}: {path}: no such file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise TlsSetupError(f"upstreams.{name}.{setting}: {path}: cannot be read ({exc.strerror})") from None
    return path


def tls_failure(exc: BaseException, name: str) -> str | None:
    """What failed in TLS, in an operator's words, when ``exc`` (an httpx transport error) came from TLS.

    The server's chain not verified, or the server refusing the client's certificate (or the lack of one;
    with TLS 1.3 that refusal arrives on the first read, before the request is processed), wherever
    they surface; any other TLS error only when it stopped the handshake (``httpx.ConnectError``): a TLS
    error in the middle of an answer is a broken connection, not a question of trust.
    """
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS trust: the server's certificate could not be verified "
                    f"({cause.verify_message or cause.reason}); give the CA that issued it in upstreams.{name}.ca_file")
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or ""
            if "CERTIFICATE_REQUIRED" in reason or "HANDSHAKE_FAILURE" in reason:
                return (f"TLS: the server refused the connection ({reason}): it may require a client "
                        f"certificate; give upstreams.{name}.client_certificate and client_key")
            if "BAD_CERTIFICATE" in reason or "UNKNOWN_CA" in reason or "CERTIFICATE_EXPIRED" in reason:
                return f"TLS: the server refused the client certificate of upstreams.{name} ({reason})"
            if isinstance(exc, httpx.ConnectError):     # other TLS failures count only in the handshake
                return f"TLS: the handshake failed ({reason or type(cause).__name__})"
            return None
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def check_chain(name: str, base_url: str, trust: TlsTrust | None, timeout: float = 5.0) -> str | None:
    """``bridge check``: connect to an https upstream (through its proxy) as the bridge would and say
    what prevents the TLS handshake, in an operator's words; None when it completes (or the URL is http).

    Only the handshake matters: any HTTP answer, even 404 or 401, means the chain was built.
    """
    url = httpx.URL(base_url)
    if url.scheme != "https":
        return None
    trust = trust or TlsTrust()
    try:
        transport = httpx.HTTPTransport(verify=ssl_context(trust, name), proxy=egress_proxy(trust, name), retries=0)
    except TlsSetupError as exc:
        return str(exc)
    try:
        with httpx.Client(transport=transport, timeout=timeout) as client:
            client.head(url)
    except httpx.TransportError as exc:
        problem = tls_failure(exc, name)
        if problem is not None:
            return f"upstreams.{name}: {url.host}: {problem}"
        return f"upstreams.{name}: {url.host}: not reached ({type(exc).__name__}): its certificate chain is not checked"
    return None
