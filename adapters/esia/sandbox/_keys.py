"""The sandbox ЕСИА's own key material: what it signs its tokens with, and what the bridge must trust.

Like the real ЕСИА (reference/esia.md §1.5) it has an RSA key (tokens in RS256) and a GOST R 34.10-2012
key (tokens in GOST3410_2012_256), each with a certificate. The bridge is configured to trust the two
certificates, which :meth:`SandboxKeys.write_certificates` writes as DER files (like ``RSA_TEST.cer``
and ``ГОСТ_TEST.cer`` in ЕСИА's ``esia.zip``).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from adapters.esia.oauth._tokens import GOST_ALG
from bridge.signing import Signer, SignerConfig, generate_test_key, load_signer

__all__ = ["SandboxCertificates", "SandboxKeys"]

_RSA_KEY = "esia_rsa_key.pem"
_RSA_CERT = "esia_rsa.cer"
_GOST_KEY = "esia_gost_key.pem"
_GOST_CERT = "esia_gost.cer"


class SandboxCertificates(NamedTuple):
    """Paths of the sandbox ЕСИА's certificates, DER."""

    rsa: Path
    gost: Path


def _rsa_certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox ESIA RSA"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MIS Bridge sandbox"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
    ])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _write_private(path: Path, data: bytes) -> None:
    """A key file readable by its owner only, from the first byte."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _gost_signer(key_pem: bytes, cert_pem: bytes) -> Signer:
    with tempfile.TemporaryDirectory(prefix="sandbox-esia-") as workdir:
        key_file, cert_file = Path(workdir) / "key.pem", Path(workdir) / "cert.pem"
        _write_private(key_file, key_pem)
        cert_file.write_bytes(cert_pem)
        return load_signer(SignerConfig(kind="python", key_file=key_file, certificate_file=cert_file))


class SandboxKeys:
    """An RSA key with its self-signed certificate, and a GOST signer (key + certificate)."""

    def __init__(
        self,
        rsa_key: rsa.RSAPrivateKey,
        rsa_certificate_der: bytes,
        gost_signer: Signer,
        *,
        gost_key_pem: bytes | None = None,
    ) -> None:
        self.rsa_key = rsa_key
        self.rsa_certificate_der = rsa_certificate_der
        self.gost_signer = gost_signer
        self._gost_key_pem = gost_key_pem

    def __repr__(self) -> str:
        return "SandboxKeys(RS256, GOST3410_2012_256)"

    @property
    def gost_certificate_der(self) -> bytes:
        return self.gost_signer.certificate_der

    @property
    def certificates(self) -> list[bytes]:
        """Both certificates, DER: what ``verify_token`` needs to check the sandbox's tokens."""
        return [self.rsa_certificate_der, self.gost_certificate_der]

    def signing_key(self, alg: str) -> Any:
        """What ``sign_token`` signs with for ``alg`` (RS256 or GOST3410_2012_256)."""
        if alg == "RS256":
            return self.rsa_key
        if alg == GOST_ALG:
            return self.gost_signer
        raise ValueError(f"unsupported token algorithm {alg!r}")

    @classmethod
    def generate(cls) -> SandboxKeys:
        """Fresh keys, in memory only (needs OpenSSL with the GOST engine for the GOST key)."""
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_pem, cert_pem = generate_test_key("A", subject="/CN=Sandbox ESIA GOST/O=MIS Bridge sandbox/C=RU",
                                              days=3650)
        return cls(rsa_key, _rsa_certificate(rsa_key), _gost_signer(key_pem, cert_pem), gost_key_pem=key_pem)

    @classmethod
    def load_or_create(cls, directory: Path) -> SandboxKeys:
        """Keys kept in ``directory`` (created on first use), so restarts keep the bridge's trust valid."""
        directory = Path(directory)
        paths = [directory / name for name in (_RSA_KEY, _RSA_CERT, _GOST_KEY, _GOST_CERT)]
        if not all(path.exists() for path in paths):
            keys = cls.generate()
            keys._save(directory)
            return keys
        loaded = serialization.load_pem_private_key((directory / _RSA_KEY).read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{directory / _RSA_KEY} is not an RSA private key")
        signer = load_signer(SignerConfig(kind="python", key_file=directory / _GOST_KEY,
                                          certificate_file=directory / _GOST_CERT))
        return cls(loaded, (directory / _RSA_CERT).read_bytes(), signer,
                   gost_key_pem=(directory / _GOST_KEY).read_bytes())

    def _save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        rsa_pem = self.rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(directory / _RSA_KEY, rsa_pem)
        (directory / _RSA_CERT).write_bytes(self.rsa_certificate_der)
        if self._gost_key_pem is None:
            raise ValueError("these sandbox keys were built from a signer; the GOST key cannot be saved")
        _write_private(directory / _GOST_KEY, self._gost_key_pem)
        self.write_certificates(directory)

    def write_certificates(self, directory: Path) -> SandboxCertificates:
        """Write both certificates as DER files into ``directory``; the bridge trusts these."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        rsa_path, gost_path = directory / _RSA_CERT, directory / _GOST_CERT
        rsa_path.write_bytes(self.rsa_certificate_der)
        gost_path.write_bytes(self.gost_certificate_der)
        return SandboxCertificates(rsa=rsa_path, gost=gost_path)

