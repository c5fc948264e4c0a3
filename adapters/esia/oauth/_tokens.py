"""Verifying ЕСИА's tokens: signature (RS256 or GOST3410_2012_256), time, issuer, client.

PyJWT does the parsing and the registered-claim checks; ЕСИА's GOST algorithm is registered
with it once, verifying through bridge.signing (OpenSSL layout s||r over ``header.payload``).
ЕСИА rotates its certificates, so every configured certificate of the token's kind is tried.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import Algorithm

from bridge.signing import verify_raw

GOST_ALG = "GOST3410_2012_256"
ALGORITHMS = ("RS256", GOST_ALG)
_RSA_OID = "1.2.840.113549.1.1.1"
_GOST_OIDS = ("1.2.643.7.1.1.1.1",)


class TokenInvalid(Exception):
    """The token is not one to trust; ``reason`` is safe to show (no token content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _GostAlgorithm(Algorithm):
    """JWS algorithm GOST3410_2012_256 for PyJWT; the key is the signer's DER certificate."""

    def prepare_key(self, key: Any) -> Any:
        """A DER certificate to verify with, or a bridge.signing.Signer to sign with."""
        if isinstance(key, bytes) or hasattr(key, "sign_raw"):
            return key
        raise TypeError("GOST key must be a DER certificate or a Signer")

    def sign(self, msg: bytes, key: Any) -> bytes:
        sign_raw = getattr(key, "sign_raw", None)
        if sign_raw is None:
            raise TypeError("signing needs a bridge.signing.Signer")
        signature: bytes = sign_raw(msg)
        return signature

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        return bool(verify_raw(key, msg, sig))

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:  # pragma: no cover - not used
        raise NotImplementedError("ЕСИА publishes certificates, not JWKs: keys come from esia_certificates")

    @staticmethod
    def from_jwk(jwk: Any) -> Any:  # pragma: no cover - not used
        raise NotImplementedError("ЕСИА publishes certificates, not JWKs: keys come from esia_certificates")


_jws = jwt.PyJWS()
_jws.register_algorithm(GOST_ALG, _GostAlgorithm())


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    oid: int
    algorithm: str
    issuer: str
    scopes: tuple[str, ...]
    expires_at: int
    claims: dict[str, Any] = field(repr=False)


def _key_kind(certificate_der: bytes) -> str:
    cert = x509.load_der_x509_certificate(certificate_der)
    oid = cert.public_key_algorithm_oid.dotted_string
    if oid == _RSA_OID:
        return "RS256"
    if oid in _GOST_OIDS:
        return GOST_ALG
    return "unknown"


def _key_for(certificate_der: bytes, alg: str) -> Any:
    if alg == "RS256":
        public = x509.load_der_x509_certificate(certificate_der).public_key()
        if not isinstance(public, RSAPublicKey):
            raise TypeError("not an RSA certificate")
        return public
    return certificate_der


def verify_token(
    token: str,
    certificates: list[bytes],
    *,
    issuer: str,
    client_id: str,
    kind: str = "access",
    leeway: int = 60,
) -> VerifiedToken:
    """Check an ЕСИА access token (``kind='access'``) or id_token (``kind='id'``)."""
    try:
        header = _jws.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenInvalid("маркер ЕСИА повреждён или не является JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise TokenInvalid(f"алгоритм подписи маркера не поддерживается: {str(alg)[:32]}")
    if header.get("sbt", kind) != kind:
        raise TokenInvalid(f"ожидался маркер типа {kind}")
    candidates = [c for c in certificates if _key_kind(c) == alg]
    if not candidates:
        raise TokenInvalid(f"нет сертификата ЕСИА для алгоритма {alg}")
    payload: bytes | None = None
    for certificate in candidates:
        try:
            payload = _jws.decode(token, key=_key_for(certificate, alg), algorithms=[alg])
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise TokenInvalid("маркер ЕСИА повреждён") from None
    if payload is None:
        raise TokenInvalid("подпись маркера не проверяется ни одним сертификатом ЕСИА")
    try:
        claims = json.loads(payload)
    except ValueError:
        raise TokenInvalid("маркер ЕСИА повреждён") from None
    if not isinstance(claims, dict):
        raise TokenInvalid("маркер ЕСИА повреждён")
    return _check_claims(claims, issuer=issuer, client_id=client_id, kind=kind, leeway=leeway, alg=alg)


def _check_claims(
    claims: dict[str, Any], *, issuer: str, client_id: str, kind: str, leeway: int, alg: str
) -> VerifiedToken:
    now = time.time()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, (int, float)) or exp + leeway < now:
        raise TokenInvalid("срок действия маркера ЕСИА истёк")
    if isinstance(nbf, (int, float)) and nbf - leeway > now:
        raise TokenInvalid("маркер ЕСИА ещё не действителен")
    if claims.get("iss") != issuer:
        raise TokenInvalid("маркер выдан не той ЕСИА (iss)")
    audience = claims.get("client_id") if kind == "access" else claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise TokenInvalid("маркер выдан другой системе (client_id)")
    subject = claims.get("urn:esia:sbj_id") if kind == "access" else claims.get("sub")
    try:
        oid = int(subject)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TokenInvalid("в маркере нет идентификатора пользователя (urn:esia:sbj_id)") from None
    scopes = tuple(str(claims.get("scope", "")).split())
    return VerifiedToken(oid=oid, algorithm=alg, issuer=issuer, scopes=scopes, expires_at=int(exp), claims=claims)


def sign_token(claims: dict[str, Any], *, alg: str, key: Any, kind: str = "access") -> str:
    """Issue a token the way ЕСИА does (used by the sandbox): RS256 with an RSA private key,
    GOST3410_2012_256 with a bridge.signing.Signer."""
    headers = {"ver": 1, "typ": "JWT", "sbt": kind, "alg": alg}
    body = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    return _jws.encode(body, key, algorithm=alg, headers=headers)
