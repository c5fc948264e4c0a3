"""GOST keys in ASN.1: PKCS#8 private keys and SubjectPublicKeyInfo, which asn1crypto cannot parse itself.

asn1crypto knows no GOST OIDs (``keys.PrivateKeyInfo`` raises ``KeyError`` on them), so these are
small structures of our own. Byte order (gost-engine ``gost_ameth.c``): the private key is a
little-endian scalar, the public key an OCTET STRING holding ``X_le || Y_le``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from asn1crypto import core  # type: ignore[import-untyped]

from bridge.signing._errors import SigningError
from bridge.signing._gost import CURVE_NAMES, SIZE, curve_order

__all__ = [
    "GOST2012_256",
    "GOST2012_512",
    "GOST3411_2012_256",
    "SIGN_WITH_DIGEST_2012_256",
    "GostPrivateKey",
    "GostPublicKey",
    "parse_private_key",
    "parse_public_key",
]

GOST2012_256 = "1.2.643.7.1.1.1.1"
GOST2012_512 = "1.2.643.7.1.1.1.2"
GOST3411_2012_256 = "1.2.643.7.1.1.2.2"
SIGN_WITH_DIGEST_2012_256 = "1.2.643.7.1.1.3.2"


class _KeyParameters(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class _Algorithm(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("private_key_algorithm", _Algorithm),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
        ("public_key", core.Any, {"implicit": 1, "optional": True}),
    ]


class _PublicKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [("algorithm", _Algorithm), ("public_key", core.OctetBitString)]


@dataclass(frozen=True)
class GostPublicKey:
    """A GOST R 34.10-2012 (256) public point on the curve named by ``curve_oid``."""

    curve_oid: str
    x: int
    y: int


@dataclass(frozen=True)
class GostPrivateKey:
    """A GOST R 34.10-2012 (256) private scalar; its repr never shows the scalar."""

    curve_oid: str
    scalar: int = field(repr=False)


def _curve_of(algorithm: _Algorithm, what: str) -> str:
    oid = algorithm["algorithm"].dotted
    if oid == GOST2012_512:
        raise SigningError(f"{what}: GOST R 34.10-2012 512-bit keys are not supported (ЕСИА uses 256-bit keys)")
    if oid != GOST2012_256:
        raise SigningError(f"{what}: not a GOST R 34.10-2012 (256) key (algorithm {oid})")
    parameters = algorithm["parameters"]
    if parameters.contents is None:
        raise SigningError(f"{what}: the key has no GOST parameter set")
    try:
        params = parameters.parse(_KeyParameters)
        curve = str(params["public_key_param_set"].dotted)
        digest = params["digest_param_set"]
        digest_oid = None if isinstance(digest, core.Void) else str(digest.dotted)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{what}: malformed GOST key parameters") from exc
    if digest_oid not in (None, GOST3411_2012_256):
        raise SigningError(f"{what}: unsupported digest parameter set {digest_oid}")
    if curve not in CURVE_NAMES:
        raise SigningError(f"{what}: unsupported GOST parameter set {curve}")
    return curve


def _private_scalar(octets: bytes, what: str) -> int:
    if len(octets) == SIZE:  # gost-engine's current form: the raw little-endian scalar
        return int.from_bytes(octets, "little")
    try:
        inner = core.load(octets)
    except ValueError as exc:
        raise SigningError(f"{what}: unrecognised GOST private key encoding") from exc
    if isinstance(inner, core.OctetString) and len(inner.native) == SIZE:  # older form: nested, little-endian
        return int.from_bytes(inner.native, "little")
    if isinstance(inner, core.Integer):  # oldest form: a big-endian INTEGER
        return int(inner.native)
    raise SigningError(f"{what}: unsupported GOST private key encoding (a masked CryptoPro key cannot be read here)")


def parse_private_key(der: bytes, what: str = "private key") -> GostPrivateKey:
    """Read an unencrypted PKCS#8 GOST R 34.10-2012 (256) private key (DER)."""
    try:
        info = _PrivateKeyInfo.load(der, strict=True)
        algorithm = info["private_key_algorithm"]
        octets = bytes(info["private_key"].native)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{what}: not a PKCS#8 private key") from exc
    curve = _curve_of(algorithm, what)
    scalar = _private_scalar(octets, what)
    if not 0 < scalar < curve_order(curve):
        raise SigningError(f"{what}: the private key is out of range for its curve")
    return GostPrivateKey(curve, scalar)


def parse_public_key(spki_der: bytes, what: str = "certificate") -> GostPublicKey:
    """Read a GOST R 34.10-2012 (256) SubjectPublicKeyInfo (DER)."""
    try:
        info = _PublicKeyInfo.load(spki_der, strict=True)
        algorithm = info["algorithm"]
        bits = bytes(info["public_key"].native)
        point = bytes(core.OctetString.load(bits, strict=True).native)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{what}: malformed GOST public key") from exc
    curve = _curve_of(algorithm, what)
    if len(point) != 2 * SIZE:
        raise SigningError(f"{what}: a GOST R 34.10-2012 (256) public key is 64 bytes")
    return GostPublicKey(curve, int.from_bytes(point[:SIZE], "little"), int.from_bytes(point[SIZE:], "little"))
