"""The bridge as ЕСИА's OAuth client: authorization URL, code exchange, refresh, logout URL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.esia.oauth import _protocol as p
from adapters.esia.oauth._tokens import TokenInvalid, VerifiedToken, verify_token
from bridge.delivery import Upstream, UpstreamRejected
from bridge.signing import Signer, base64url, certificate_hash

# Seed 001: the scopes the appointment portal registers in ЕСИА.
DEFAULT_SCOPES = (
    "openid", "fullname", "birthdate", "gender", "snils", "inn", "id_doc", "birthplace", "medical_doc",
    "drivers_licence_doc", "birth_cert_doc", "email", "mobile", "contacts", "usr_org", "kid_fullname",
    "kid_birthdate", "kid_gender", "kid_snils", "kid_inn", "kid_birth_cert_doc", "kid_medical_doc",
)


class OAuthError(Exception):
    """ЕСИА refused (``code`` is ESIA-0070xx when it said one) or answered something untrustworthy."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    client_id: str
    base_url: str                       # ЕСИА as the browser reaches it
    issuer: str                         # iss of ЕСИА's tokens (http://esia-portal1.test.gosuslugi.ru/)
    certificates: tuple[bytes, ...] = field(repr=False)   # ЕСИА's certificates (DER) to verify tokens
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    scope_org: str = ""
    access_type: str = "offline"
    person_filter: str | None = None    # e.g. "conf_acc": confirmed accounts only
    # Digital-profile consents (reference/esia.md §3.3), sent base64url-encoded; absent when None —
    # ЕСИА fails on `permissions=bnVsbA` (base64url of "null").
    permissions: tuple[dict[str, Any], ...] | None = None
    legacy_v1: bool = False


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    id_token: str | None = field(repr=False)
    expires_in: int
    token: VerifiedToken


class EsiaOAuthClient:
    def __init__(
        self, upstream: Upstream, signer: Signer, config: OAuthConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._upstream = upstream
        self._signer = signer
        self._config = config
        self._clock = clock
        self._certificate_hash = certificate_hash(signer.certificate_der)

    @property
    def scope(self) -> str:
        return " ".join(self._config.scopes)

    def _secret(self, text: str) -> str:
        raw = self._signer.sign_cms_detached(text.encode()) if self._config.legacy_v1 else self._signer.sign_raw(
            text.encode())
        return base64url(raw)

    def authorization_url(self, state: str, redirect_uri: str) -> str:
        c = self._config
        stamp = p.timestamp(self._clock())
        params = {"client_id": c.client_id, "scope": self.scope, "response_type": "code", "state": state,
                  "timestamp": stamp, "access_type": c.access_type, "redirect_uri": redirect_uri}
        if c.legacy_v1:
            params["client_secret"] = self._secret(p.v1_string(self.scope, stamp, c.client_id, state))
            return f"{c.base_url}{p.AC_V1}?{p.query(params)}"
        params["scope_org"] = c.scope_org
        params["client_certificate_hash"] = self._certificate_hash
        params["client_secret"] = self._secret(
            p.ac_string(c.client_id, self.scope, c.scope_org, stamp, state, redirect_uri))
        if c.person_filter:
            params["person_filter"] = base64url(c.person_filter.encode())
        if c.permissions:
            params["permissions"] = base64url(
                json.dumps(list(c.permissions), ensure_ascii=False, separators=(",", ":")).encode())
        return f"{c.base_url}{p.AC_V2}?{p.query(params)}"

    def logout_url(self, redirect_url: str) -> str:
        params = {"client_id": self._config.client_id, "redirect_url": redirect_url}
        return f"{self._config.base_url}{p.LOGOUT}?{p.query(params)}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        c = self._config
        state, stamp = str(uuid.uuid4()), p.timestamp(self._clock())
        form = {"client_id": c.client_id, "code": code, "grant_type": "authorization_code", "state": state,
                "redirect_uri": redirect_uri, "scope": self.scope, "timestamp": stamp, "token_type": "Bearer"}
        if c.legacy_v1:
            form["client_secret"] = self._secret(p.v1_string(self.scope, stamp, c.client_id, state))
            return self._token_request(p.TE_V1, form)
        form["scope_org"] = c.scope_org
        form["client_certificate_hash"] = self._certificate_hash
        form["client_secret"] = self._secret(
            p.te_code_string(c.client_id, self.scope, c.scope_org, stamp, state, redirect_uri, code))
        return self._token_request(p.TE_V3, form)

    def refresh(self, refresh_token: str, redirect_uri: str) -> TokenSet:
        c = self._config
        state, stamp = str(uuid.uuid4()), p.timestamp(self._clock())
        form = {"client_id": c.client_id, "refresh_token": refresh_token, "grant_type": "refresh_token",
                "state": state, "redirect_uri": redirect_uri, "scope": self.scope, "scope_org": c.scope_org,
                "timestamp": stamp, "token_type": "Bearer", "client_certificate_hash": self._certificate_hash}
        form["client_secret"] = self._secret(
            p.te_refresh_string(c.client_id, self.scope, c.scope_org, stamp, state, redirect_uri))
        return self._token_request(p.TE_V3, form)

    def _token_request(self, endpoint: str, form: dict[str, str]) -> TokenSet:
        try:
            response = self._upstream.request("POST", endpoint, data=form)
        except UpstreamRejected as exc:
            raise _oauth_error(exc.body) from None
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            raise OAuthError("invalid_response", "ЕСИА вернула не JSON") from None
        if answer.get("state") != form["state"]:
            raise OAuthError("state_mismatch", "ЕСИА вернула другой state в ответе на обмен кода")
        access = answer.get("access_token")
        if not isinstance(access, str):
            raise OAuthError("invalid_response", "в ответе ЕСИА нет access_token")
        try:
            verified = verify_token(access, list(self._config.certificates), issuer=self._config.issuer,
                                    client_id=self._config.client_id)
        except TokenInvalid as exc:
            raise OAuthError("token_invalid", exc.reason) from None
        return TokenSet(
            access_token=access,
            refresh_token=answer.get("refresh_token"),
            id_token=answer.get("id_token"),
            expires_in=int(answer.get("expires_in") or 3600),   # seen both as a string and a number
            token=verified,
        )


def _oauth_error(body: bytes) -> OAuthError:
    try:
        answer = json.loads(body)
    except ValueError:
        return OAuthError("invalid_response", "ЕСИА отклонила запрос")
    description = str(answer.get("error_description") or answer.get("error") or "")
    code = p.error_code(description) or str(answer.get("error") or "error")
    return OAuthError(code, p.PLAIN.get(code, p.ERRORS.get(code, description[:200])))
