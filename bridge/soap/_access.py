"""Who is calling a SOAP face: МИС clients by WS-Security UsernameToken (PasswordDigest) or by a TLS
client certificate, each with its IP allowlist, its MOs and its rate limit.

UsernameToken (OASIS WSS UsernameToken Profile 1.1): ``PasswordDigest = Base64(SHA-1(nonce + created
+ password))``; ``Created`` must be within the window of now, and a nonce is accepted once (kept in
the store, so a replay to another instance is refused too). PasswordText is refused: the password
would travel in the clear inside the envelope.

TLS client certificates end at the TLS terminator (ingress); it passes the certificate in
``X-SSL-Client-Cert`` (URL-escaped PEM, as ingress-nginx does), trusted only from ``trusted_proxies``,
and the bridge matches its SHA-256 fingerprint. ``X-Forwarded-For`` is believed from the same
proxies only.

With no clients configured every caller is ``anonymous`` with every MO: a development setup; `bridge
check` says so outside the sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.exc import IntegrityError

from bridge.errors import AccessDenied
from bridge.store import Store

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_nonces = sa.Table("wss_nonce", sa.MetaData(), sa.Column("nonce_hash", sa.String(64), primary_key=True),
                   sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False))


@dataclass(frozen=True)
class Caller:
    name: str
    mos: frozenset[str] | None        # None: every MO the bridge is configured for
    remote: str | None = None


ANONYMOUS = Caller("anonymous", None)
_CALLER: ContextVar[Caller] = ContextVar("bridge_caller", default=ANONYMOUS)


def current_caller() -> Caller:
    """The client of the SOAP call being served (``anonymous`` when no clients are configured)."""
    return _CALLER.get()


def bind_caller(caller: Caller) -> Any:
    return _CALLER.set(caller)


def unbind_caller(token: Any) -> None:
    _CALLER.reset(token)


@dataclass
class Client:
    name: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    certificate_sha256: str | None = None
    allow_ips: tuple[str, ...] = ()
    mos: tuple[str, ...] | None = None
    rate_per_second: float | None = None

    def __post_init__(self) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in self.allow_ips]
        self._tokens = float(self.rate_per_second or 0)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def allows(self, remote: str | None) -> bool:
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def take(self) -> bool:
        """A token bucket of ``rate_per_second`` (burst of one second's worth)."""
        if not self.rate_per_second:
            return True
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate_per_second, self._tokens + (now - self._stamp) * self.rate_per_second)
            self._stamp = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


class AccessPolicy:
    def __init__(self, clients: Sequence[Client], store: Store | None, trusted_proxies: Sequence[str] = (),
                 window: timedelta = timedelta(minutes=5), clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.clients = list(clients)
        self._by_user = {c.username: c for c in self.clients if c.username}
        self._by_cert = {c.certificate_sha256.replace(":", "").lower(): c for c in self.clients
                         if c.certificate_sha256}
        self._proxies = [ipaddress.ip_network(n, strict=False) for n in trusted_proxies]
        self._store = store
        self._window = window
        self._clock = clock
        self._inserted = 0

    @property
    def open(self) -> bool:
        return not self.clients

    def remote(self, env: dict[str, Any]) -> tuple[str | None, bool]:
        """The caller's address, and whether the request came through a trusted proxy."""
        peer = env.get("REMOTE_ADDR")
        trusted = self._trusted(peer)
        forwarded = env.get("HTTP_X_FORWARDED_FOR")
        if trusted and forwarded:
            return forwarded.split(",")[0].strip(), True
        return peer, trusted

    def identify(self, env: dict[str, Any], envelope: Any) -> Caller:
        remote, via_proxy = self.remote(env)
        if self.open:
            return Caller(ANONYMOUS.name, None, remote)
        client = self._by_certificate(env) if via_proxy else None
        if client is None:
            client = self._by_username_token(envelope)
        if not client.allows(remote):
            raise AccessDenied("Client.Forbidden", f"клиенту {client.name} не разрешены вызовы с этого адреса")
        if not client.take():
            raise AccessDenied("Client.RateLimited", f"превышен лимит {client.rate_per_second:g} запросов в секунду "
                                                     f"для клиента {client.name}; повторите запрос позже")
        return Caller(client.name, frozenset(client.mos) if client.mos is not None else None, remote)

    def trusted(self, peer: str | None) -> bool:
        """Whether ``peer`` is one of the proxies whose forwarding headers count."""
        return self._trusted(peer)

    def _trusted(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def _by_certificate(self, env: dict[str, Any]) -> Client | None:
        escaped = env.get("HTTP_X_SSL_CLIENT_CERT")
        if not escaped:
            return None
        try:
            certificate = x509.load_pem_x509_certificate(unquote(escaped).encode())
        except ValueError:
            raise AccessDenied("Client.Authentication", "сертификат клиента не читается") from None
        fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
        client = self._by_cert.get(fingerprint)
        if client is None:
            raise AccessDenied("Client.Authentication", "сертификат клиента не зарегистрирован в шлюзе")
        return client

    def _by_username_token(self, envelope: Any) -> Client:
        token = envelope.find(f"{{{_SOAP11}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise AccessDenied("Client.Authentication", "требуется аутентификация: WS-Security UsernameToken "
                                                        "(PasswordDigest) или клиентский сертификат TLS")
        username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
        password = token.find(f"{{{WSSE}}}Password")
        nonce_text = (token.findtext(f"{{{WSSE}}}Nonce") or "").strip()
        created = (token.findtext(f"{{{WSU}}}Created") or "").strip()
        if password is None or password.get("Type") != DIGEST:
            raise AccessDenied("Client.Authentication", "Password: принимается только PasswordDigest "
                                                        "(PasswordText передаёт пароль открытым текстом)")
        if not nonce_text or not created:
            raise AccessDenied("Client.Authentication", "UsernameToken: нужны Nonce и wsu:Created")
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
            moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            raise AccessDenied("Client.Authentication", "UsernameToken: Nonce или Created в неверном формате") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if abs(self._clock() - moment) > self._window:
            raise AccessDenied("Client.Authentication", "UsernameToken: метка Created вне допустимого окна "
                                                        f"({int(self._window.total_seconds())} с): сверьте часы")
        client = self._by_user.get(username)
        expected = password_digest(nonce, created, client.password or "") if client else "-"
        if client is None or not hmac.compare_digest(expected.encode(), (password.text or "").strip().encode()):
            raise AccessDenied("Client.Authentication", "неверное имя пользователя или пароль")
        self._first_use(nonce)
        return client

    def _first_use(self, nonce: bytes) -> None:
        if self._store is None:
            return
        digest = hashlib.sha256(nonce).hexdigest()
        now = self._clock()
        try:
            with self._store.engine.begin() as db:
                db.execute(_nonces.insert().values(nonce_hash=digest, seen_at=now))
        except IntegrityError:
            raise AccessDenied("Client.Authentication", "UsernameToken: этот Nonce уже использован "
                                                        "(повтор запроса): каждый вызов — новый Nonce") from None
        self._inserted += 1
        if self._inserted % 1000 == 0:
            with self._store.engine.begin() as db:
                db.execute(_nonces.delete().where(_nonces.c.seen_at < now - 2 * self._window))

