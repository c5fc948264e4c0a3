"""Token verification: only ЕСИА's, only for us, only while valid."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from adapters.esia.oauth._tokens import TokenInvalid, sign_token, verify_token
from adapters.esia.sandbox import SandboxKeys

ISSUER = "http://esia-portal1.test.gosuslugi.ru/"


@pytest.fixture(scope="module")
def keys() -> SandboxKeys:
    return SandboxKeys.generate()


@pytest.fixture(scope="module")
def stranger() -> SandboxKeys:
    return SandboxKeys.generate()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"nbf": now, "iat": now, "exp": now + 3600, "iss": ISSUER, "client_id": "MISBRIDGE",
            "scope": "openid fullname?oid=1000900101", "urn:esia:sbj_id": 1000900101}
    base.update(overrides)
    return base


def token(keys: SandboxKeys, alg: str, **overrides: Any) -> str:
    return sign_token(claims(**overrides), alg=alg, key=keys.signing_key(alg))


def verify(keys: SandboxKeys, value: str, **kwargs: Any) -> Any:
    return verify_token(value, list(keys.certificates), issuer=ISSUER, client_id="MISBRIDGE", **kwargs)


@pytest.mark.parametrize("alg", ["RS256", "GOST3410_2012_256"])
def test_a_good_token_gives_the_oid_and_scopes(keys: SandboxKeys, alg: str) -> None:
    verified = verify(keys, token(keys, alg))
    assert verified.oid == 1000900101 and verified.algorithm == alg
    assert verified.scopes == ("openid", "fullname?oid=1000900101")


@pytest.mark.parametrize("alg", ["RS256", "GOST3410_2012_256"])
def test_a_token_signed_by_someone_else_is_refused(keys: SandboxKeys, stranger: SandboxKeys, alg: str) -> None:
    with pytest.raises(TokenInvalid, match="подпись"):
        verify(keys, token(stranger, alg))


# The times are taken when the test runs, not when it is collected: a slow suite reaches these
# tests more than ten minutes after collection, which once made "600 s in the future" the past.
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (lambda now: {"exp": now - 120}, "истёк"),
        (lambda now: {"nbf": now + 600}, "ещё не действителен"),
        (lambda now: {"iss": "http://esia.evil/"}, "iss"),
        (lambda now: {"client_id": "OTHER"}, "client_id"),
        (lambda now: {"urn:esia:sbj_id": None}, "sbj_id"),
    ],
)
def test_claims_are_checked(keys: SandboxKeys, overrides: Callable[[int], dict[str, Any]], message: str) -> None:
    with pytest.raises(TokenInvalid, match=message):
        verify(keys, token(keys, "GOST3410_2012_256", **overrides(int(time.time()))))


def test_tampered_payload_is_refused(keys: SandboxKeys) -> None:
    header, _payload, signature = token(keys, "GOST3410_2012_256").split(".")
    forged = token(keys, "GOST3410_2012_256", **{"urn:esia:sbj_id": 1}).split(".")[1]
    with pytest.raises(TokenInvalid):
        verify(keys, f"{header}.{forged}.{signature}")


def test_alg_none_and_hs256_are_refused(keys: SandboxKeys) -> None:
    import jwt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hs = jwt.encode(claims(), "secret", algorithm="HS256")
    with pytest.raises(TokenInvalid, match="алгоритм"):
        verify(keys, hs)
    _header, payload, _ = token(keys, "RS256").split(".")
    with pytest.raises(TokenInvalid):
        verify(keys, f"eyJhbGciOiJub25lIn0.{payload}.")


def test_an_id_token_is_not_an_access_token(keys: SandboxKeys) -> None:
    value = sign_token({**claims(), "aud": "MISBRIDGE", "sub": 1000900101}, alg="GOST3410_2012_256",
                       key=keys.gost_signer, kind="id")
    with pytest.raises(TokenInvalid, match="access"):
        verify(keys, value)
    assert verify(keys, value, kind="id").oid == 1000900101


def test_garbage_is_refused(keys: SandboxKeys) -> None:
    with pytest.raises(TokenInvalid):
        verify(keys, "not-a-token")
