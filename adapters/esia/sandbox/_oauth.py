"""The sandbox ЕСИА's OAuth 2.0 / OIDC side: registered clients, authorization codes, tokens.

It checks what the real ЕСИА checks (reference/esia.md §1.2–§1.6) and refuses with its error shapes:
``{"error": …, "error_description": "ESIA-0070xx: …", "state": …}`` as JSON (HTTP 400) or as query
parameters on a redirect to the client's ``redirect_uri``. The HTTP faces are in ``_oauth_ac`` (v2/ac,
v1 ac, the consent page, logout), ``_oauth_te`` (v3/te, v1 te) and ``_person_api`` (/rs/prns), joined in
``_routes``; they import this module, never the other way round.

Use::

    oauth = SandboxOAuth(SandboxKeys.generate())
    oauth.register(SandboxClient("MISBRIDGE", certificate_der, ("http://127.0.0.1:8080/esia/callback",)))
    app = create_sandbox_app(oauth=oauth)
    oauth.keys.write_certificates(directory)   # the certificates the bridge must trust

Client secrets, codes and tokens are never logged.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]

from adapters.esia.oauth._protocol import ERRORS, parse_timestamp
from adapters.esia.oauth._tokens import ALGORITHMS, sign_token
from adapters.esia.sandbox._keys import SandboxKeys
from adapters.esia.sandbox._people import PEOPLE, Person
from bridge.signing import certificate_hash, verify_cms_detached, verify_raw

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_SCOPES",
    "EsiaError",
    "SandboxClient",
    "SandboxOAuth",
]

DEFAULT_ISSUER = "http://esia-portal1.test.gosuslugi.ru/"
DEFAULT_SCOPES: tuple[str, ...] = (
    "openid", "fullname", "birthdate", "gender", "snils", "inn", "birthplace", "id_doc", "medical_doc",
    "email", "mobile", "contacts", "addresses",
    "kid_fullname", "kid_birthdate", "kid_gender", "kid_snils", "kid_inn", "kid_birth_cert_doc", "kid_medical_doc",
)
PERSON_FILTERS = ("conf_acc", "acc_kid", "acc_not_kid")

# The OAuth ``error`` ЕСИА pairs with each of its codes.
_OAUTH_ERROR = {
    "ESIA-007002": "unauthorized_client",
    "ESIA-007003": "invalid_request",
    "ESIA-007004": "access_denied",
    "ESIA-007005": "unauthorized_client",
    "ESIA-007006": "invalid_scope",
    "ESIA-007009": "unsupported_grant_type",
    "ESIA-007011": "invalid_grant",
    "ESIA-007012": "unsupported_grant_type",
    "ESIA-007013": "invalid_scope",
    "ESIA-007014": "invalid_request",
    "ESIA-007015": "invalid_request",
    "ESIA-007019": "access_denied",
    "ESIA-007023": "invalid_request",
    "ESIA-007053": "access_denied",
    "ESIA-007055": "access_denied",
}


class EsiaError(Exception):
    """A refusal as ЕСИА words it: ``code`` (ESIA-0070xx), OAuth ``error`` and ``description``."""

    def __init__(self, code: str, detail: str | None = None, *, text: str | None = None) -> None:
        self.code = code
        self.error = _OAUTH_ERROR.get(code, "invalid_request")
        body = text if text is not None else ERRORS.get(code, "")
        if detail:
            body = f"{body} ({detail})" if body else detail
        self.description = f"{code}: {body}"
        super().__init__(self.description)

    @classmethod
    def missing(cls, names: Iterable[str]) -> EsiaError:
        listed = ", ".join(names)
        return cls("ESIA-007014", text=f"The request doesn't contain the mandatory parameter [{listed}]")

    def body(self, state: str | None) -> dict[str, str]:
        answer = {"error": self.error, "error_description": self.description}
        if state:
            answer["state"] = state
        return answer


@dataclass(frozen=True, slots=True)
class SandboxClient:
    """An information system registered with the sandbox ЕСИА (what the tech portal would hold)."""

    client_id: str
    certificate_der: bytes = field(repr=False)
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    token_alg: str = "RS256"

    def __post_init__(self) -> None:
        if self.token_alg not in ALGORITHMS:
            raise ValueError(f"token_alg must be one of {ALGORITHMS}")
        if isinstance(self.redirect_uris, str):
            raise TypeError("redirect_uris is a tuple of URIs, not one string")

    @property
    def certificate_hash(self) -> str:
        return certificate_hash(self.certificate_der)


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """An accepted /ac request waiting for the user's decision on the consent page."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    scope_org: str
    state: str
    access_type: str
    person_filter: str | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class Grant:
    """What a code or a refresh token stands for."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    oid: int
    access_type: str
    expires_at: float


def decode_secret(value: str) -> bytes | None:
    """base64url, with or without padding; the standard alphabet is tolerated too (esia.md §1.3)."""
    text = value.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def scope_names(scope: str) -> tuple[str, ...]:
    """``openid fullname?oid=1`` → ``("openid", "fullname")`` (first occurrence order, no duplicates)."""
    names: list[str] = []
    for item in scope.split():
        name = item.split("?", 1)[0]
        if name not in names:
            names.append(name)
    return tuple(names)


class SandboxOAuth:
    """The sandbox ЕСИА's authorization server and the people it knows."""

    def __init__(
        self,
        keys: SandboxKeys | None = None,
        clients: Iterable[SandboxClient] = (),
        people: Iterable[Person] = PEOPLE,
        *,
        issuer: str = DEFAULT_ISSUER,
        clock: Callable[[], float] = time.time,
        code_ttl: float = 60.0,
        token_ttl: int = 3600,
        request_ttl: float = 600.0,
        refresh_ttl: float = 30 * 24 * 3600.0,
        timestamp_window: float = 300.0,
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.clock = clock
        self.code_ttl, self.token_ttl, self.request_ttl = code_ttl, token_ttl, request_ttl
        self.refresh_ttl, self.timestamp_window = refresh_ttl, timestamp_window
        self.people: dict[int, Person] = {person.oid: person for person in people}
        self._clients: dict[str, SandboxClient] = {}
        self._requests: dict[str, AuthRequest] = {}
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._lock = threading.Lock()
        for client in clients:
            self.register(client)

    @property
    def keys(self) -> SandboxKeys:
        """The sandbox's own keys; generated on first use when none were given."""
        with self._lock:
            if self._keys is None:
                self._keys = SandboxKeys.generate()
            return self._keys

    def __repr__(self) -> str:
        return f"SandboxOAuth(issuer={self.issuer!r}, clients={sorted(self._clients)})"

    # -- clients -------------------------------------------------------------------------------------

    def register(self, client: SandboxClient) -> SandboxClient:
        with self._lock:
            self._clients[client.client_id] = client
        return client

    def client(self, client_id: str) -> SandboxClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def reset(self) -> None:
        """Forget pending requests, codes and refresh tokens (clients and people stay)."""
        with self._lock:
            self._requests.clear()
            self._codes.clear()
            self._refresh.clear()

    # -- client authentication -----------------------------------------------------------------------

    def known_client(self, client_id: str) -> SandboxClient:
        client = self.client(client_id)
        if client is None:
            raise EsiaError("ESIA-007002", "unknown client_id")
        return client

    def check_timestamp(self, stamp: str) -> None:
        try:
            moment = parse_timestamp(stamp).timestamp()
        except ValueError:
            raise EsiaError("ESIA-007015", "timestamp format is yyyy.MM.dd HH:mm:ss Z") from None
        if abs(moment - self.clock()) > self.timestamp_window:
            raise EsiaError("ESIA-007015")

    def authenticate_v2(self, client: SandboxClient, certificate_hash_: str, stamp: str, secret: str,
                        signed: str) -> None:
        """v2/v3: the registered certificate's hash, the time, the raw GOST signature over ``signed``."""
        if certificate_hash_.strip().upper() != client.certificate_hash:
            raise EsiaError("ESIA-007002", "client_certificate_hash")
        self.check_timestamp(stamp)
        signature = decode_secret(secret)
        if signature is None or len(signature) != 64 or not _verify_raw(client.certificate_der, signed, signature):
            raise EsiaError("ESIA-007053", text="OAuthErrorEnum.clientSecretWrong")

    def authenticate_v1(self, client: SandboxClient, stamp: str, secret: str, signed: str) -> None:
        """v1: the time, a detached CMS over ``signed`` carrying (only) the registered certificate."""
        self.check_timestamp(stamp)
        cms_der = decode_secret(secret)
        if cms_der is None or _cms_certificates(cms_der) != {client.certificate_der}:
            raise EsiaError("ESIA-007053", text="OAuthErrorEnum.clientSecretWrong")
        if not verify_cms_detached(cms_der, signed.encode("utf-8")):
            raise EsiaError("ESIA-007053", text="OAuthErrorEnum.clientSecretWrong")

    def check_scopes(self, client: SandboxClient, scope: str, scope_org: str = "") -> tuple[str, ...]:
        names = scope_names(scope)
        if not names:
            raise EsiaError("ESIA-007013")
        unknown = [name for name in (*names, *scope_names(scope_org)) if name not in client.scopes]
        if unknown:
            raise EsiaError("ESIA-007006", ", ".join(unknown)[:200])
        return names

    # -- the authorization request, the code ---------------------------------------------------------

    def open_request(self, client: SandboxClient, redirect_uri: str, scopes: tuple[str, ...], scope_org: str,
                     state: str, access_type: str, person_filter: str | None) -> AuthRequest:
        request = AuthRequest(uuid.uuid4().hex, client.client_id, redirect_uri, scopes, scope_org, state,
                              access_type, person_filter, self.clock() + self.request_ttl)
        with self._lock:
            self._purge()
            self._requests[request.id] = request
        return request

    def pending(self, request_id: str) -> AuthRequest | None:
        with self._lock:
            request = self._requests.get(request_id)
        if request is None or request.expires_at < self.clock():
            return None
        return request

    def close_request(self, request_id: str) -> None:
        with self._lock:
            self._requests.pop(request_id, None)

    def issue_code(self, request: AuthRequest, oid: int) -> str:
        code = secrets.token_urlsafe(48)
        grant = Grant(request.client_id, request.redirect_uri, request.scopes, oid, request.access_type,
                      self.clock() + self.code_ttl)
        with self._lock:
            self._requests.pop(request.id, None)
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str, scope: str) -> Grant:
        """Single use: the code is gone after the first presentation, whatever its outcome."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None:
            raise EsiaError("ESIA-007011", "unknown or already used code")
        if grant.expires_at < self.clock():
            raise EsiaError("ESIA-007011", "code expired")
        if grant.client_id != client_id:
            raise EsiaError("ESIA-007011", "code issued to another client")
        if grant.redirect_uri != redirect_uri:
            raise EsiaError("ESIA-007011", "redirect_uri differs from the authorization request")
        if set(scope_names(scope)) != set(grant.scopes):
            raise EsiaError("ESIA-007011", "scope differs from the authorization request")
        return grant

    def redeem_refresh(self, refresh_token: str, client_id: str, scope: str) -> Grant:
        """Refresh tokens rotate: each is good for one refresh."""
        with self._lock:
            grant = self._refresh.pop(refresh_token, None)
        if grant is None or grant.expires_at < self.clock():
            raise EsiaError("ESIA-007011", "unknown, used or expired refresh_token")
        if grant.client_id != client_id:
            raise EsiaError("ESIA-007011", "refresh_token issued to another client")
        wanted = scope_names(scope)
        if not set(wanted) <= set(grant.scopes):
            raise EsiaError("ESIA-007006", "scope wider than granted")
        return Grant(grant.client_id, grant.redirect_uri, wanted, grant.oid, grant.access_type, grant.expires_at)

    # -- tokens --------------------------------------------------------------------------------------

    def issue_tokens(self, client: SandboxClient, grant: Grant, state: str) -> dict[str, Any]:
        now = int(self.clock())
        oid = grant.oid
        scope = " ".join(name if name == "openid" else f"{name}?oid={oid}" for name in grant.scopes)
        key = self.keys.signing_key(client.token_alg)
        access = {
            "nbf": now, "scope": scope, "iss": self.issuer, "urn:esia:sid": str(uuid.uuid4()),
            "urn:esia:sbj_id": oid, "exp": now + self.token_ttl, "iat": now, "client_id": client.client_id,
        }
        answer: dict[str, Any] = {
            "access_token": sign_token(access, alg=client.token_alg, key=key, kind="access"),
        }
        if "openid" in grant.scopes:
            identity = {
                "nbf": now, "iss": self.issuer, "aud": client.client_id, "sub": oid, "exp": now + self.token_ttl,
                "iat": now, "urn:esia:sbj": {"urn:esia:sbj:typ": "P", "urn:esia:sbj:oid": oid},
                "urn:esia:sid": access["urn:esia:sid"],
            }
            answer["id_token"] = sign_token(identity, alg=client.token_alg, key=key, kind="id")
        if grant.access_type == "offline":
            refresh = str(uuid.uuid4())
            with self._lock:
                self._refresh[refresh] = Grant(client.client_id, grant.redirect_uri, grant.scopes, oid,
                                               grant.access_type, self.clock() + self.refresh_ttl)
            answer["refresh_token"] = refresh
        answer.update({"state": state, "token_type": "Bearer", "expires_in": self.token_ttl})
        return answer

    def _purge(self) -> None:
        now = self.clock()
        for store in (self._requests, self._codes, self._refresh):
            for key in [k for k, v in store.items() if v.expires_at < now]:
                del store[key]


def _verify_raw(certificate_der: bytes, signed: str, signature: bytes) -> bool:
    try:
        return bool(verify_raw(certificate_der, signed.encode("utf-8"), signature))
    except Exception:  # a malformed signature is a wrong one
        return False


def _cms_certificates(cms_der: bytes) -> set[bytes]:
    try:
        content_info = cms.ContentInfo.load(cms_der, strict=True)
        certificates = content_info["content"]["certificates"]
        return {bytes(choice.chosen.dump()) for choice in certificates}
    except (ValueError, TypeError, KeyError, AttributeError):
        return set()
