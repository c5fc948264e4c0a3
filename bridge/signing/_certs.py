"""X.509 certificates: loading, the ЕСИА ``client_certificate_hash``, expiry, and raw-signature checks."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from asn1crypto import pem, x509  # type: ignore[import-untyped]

from bridge.signing._asn1 import GostPublicKey, parse_public_key
from bridge.signing._errors import SigningError
from bridge.signing._gost import streebog256, verify_digest

__all__ = [
    "certificate_hash",
    "certificate_not_after",
    "certificate_public_key",
    "certificate_subject",
    "certificate_thumbprint",
    "load_certificate",
    "parse_certificate",
    "verify_raw",
]


def parse_certificate(certificate_der: bytes) -> x509.Certificate:
    """Parse a DER certificate (fields are read lazily; GOST keys go through :func:`certificate_public_key`)."""
    try:
        certificate = x509.Certificate.load(certificate_der, strict=True)
        _ = certificate["tbs_certificate"]["validity"]["not_after"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise SigningError("not an X.509 certificate") from exc
    return certificate


def load_certificate(path: Path) -> bytes:
    """Read a certificate file, PEM or DER, and return the DER bytes."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read certificate {path}: {exc.strerror}") from None
    if pem.detect(content):
        try:
            kind, _headers, content = pem.unarmor(content)
        except ValueError as exc:
            raise SigningError(f"{path}: malformed PEM") from exc
        if kind not in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            raise SigningError(f"{path}: PEM block is {kind!r}, not CERTIFICATE")
    try:
        parse_certificate(content)
    except SigningError as exc:
        raise SigningError(f"{path}: {exc}") from None
    return bytes(content)


def certificate_hash(certificate_der: bytes) -> str:
    """ЕСИА ``client_certificate_hash``: Streebog-256 of the DER certificate, uppercase hex."""
    return streebog256(certificate_der).hex().upper()


def certificate_thumbprint(certificate_der: bytes) -> str:
    """SHA-1 of the DER certificate, lowercase hex (how CryptoPro's ``-thumbprint`` names a certificate)."""
    return hashlib.sha1(certificate_der, usedforsecurity=False).hexdigest()


def certificate_not_after(certificate_der: bytes) -> datetime:
    """The end of the certificate's validity (timezone-aware, UTC)."""
    not_after = parse_certificate(certificate_der)["tbs_certificate"]["validity"]["not_after"].native
    if not isinstance(not_after, datetime):
        raise SigningError("certificate validity has no end date")
    return not_after


def certificate_subject(certificate_der: bytes) -> str:
    """The subject, human readable (for operators' eyes: it may contain names)."""
    return str(parse_certificate(certificate_der).subject.human_friendly)


def certificate_public_key(certificate_der: bytes) -> GostPublicKey:
    """The certificate's GOST R 34.10-2012 (256) public key."""
    spki = parse_certificate(certificate_der)["tbs_certificate"]["subject_public_key_info"]
    return parse_public_key(bytes(spki.dump()))


def verify_raw(certificate_der: bytes, data: bytes, signature: bytes) -> bool:
    """Check a raw OpenSSL-layout (``s || r``) GOST R 34.10-2012 signature of ``data`` with the certificate's key.

    Pure Python. A CryptoPro-layout signature (the same bytes reversed) does not verify: reverse it first.
    A certificate without a GOST R 34.10-2012 (256) key raises :class:`SigningError`.
    """
    key = certificate_public_key(certificate_der)
    return verify_digest(key.curve_oid, (key.x, key.y), streebog256(data), bytes(signature))
