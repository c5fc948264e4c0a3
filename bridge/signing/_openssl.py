"""The OpenSSL signer: ``openssl dgst`` and ``openssl cms`` with the GOST engine (esia.md §6.2)."""

from __future__ import annotations

from pathlib import Path

from asn1crypto import pem  # type: ignore[import-untyped]

from bridge.signing._asn1 import parse_public_key
from bridge.signing._certs import certificate_public_key, load_certificate
from bridge.signing._errors import SigningError
from bridge.signing._opensslcli import OpenSsl, check_gost_engine

__all__ = ["OpenSslSigner"]


class OpenSslSigner:
    """Signs by running ``openssl`` 3 with gost-engine; the key stays in its file.

    Each call writes an ``openssl.cnf`` enabling the engine into a private temporary directory and
    points ``OPENSSL_CONF`` at it; the data goes through stdin, the signature comes back on stdout,
    and a key password travels as ``-passin env:…``.
    """

    def __init__(
        self,
        key_file: Path,
        certificate_file: Path,
        password: str | None = None,
        *,
        openssl_path: str = "openssl",
    ) -> None:
        self.certificate_der = load_certificate(certificate_file)
        self._key_file = Path(key_file).resolve()
        self._password = password or None
        self._openssl = OpenSsl(openssl_path)
        if not self._key_file.is_file():
            raise SigningError(f"private key {key_file} does not exist")
        check_gost_engine(openssl_path)
        self._check_key_matches()

    def _check_key_matches(self) -> None:
        with self._openssl.workdir() as workdir:
            spki = self._openssl.run(
                workdir,
                ["pkey", "-in", str(self._key_file), "-pubout", "-outform", "DER"],
                what=f"reading {self._key_file} (openssl pkey; wrong password?)",
                password=self._password,
            )
        if parse_public_key(spki, what=str(self._key_file)) != certificate_public_key(self.certificate_der):
            raise SigningError("the certificate does not belong to the private key")

    def sign_raw(self, data: bytes) -> bytes:
        """``openssl dgst -md_gost12_256 -sign key``: 64 bytes, ``s || r``."""
        with self._openssl.workdir() as workdir:
            signature = self._openssl.run(
                workdir,
                ["dgst", "-md_gost12_256", "-sign", str(self._key_file)],
                what="openssl dgst -sign",
                stdin=data,
                password=self._password,
            )
        if len(signature) != 64:
            raise SigningError(f"openssl dgst -sign returned {len(signature)} bytes, expected 64")
        return signature

    def sign_cms_detached(self, data: bytes) -> bytes:
        """``openssl cms -sign -binary -noattr -outform DER -md md_gost12_256``, certificate included."""
        with self._openssl.workdir() as workdir:
            certificate = workdir / "signer.pem"
            certificate.write_bytes(pem.armor("CERTIFICATE", self.certificate_der))
            return self._openssl.run(
                workdir,
                [
                    *["cms", "-sign", "-binary", "-noattr", "-outform", "DER", "-md", "md_gost12_256"],
                    *("-signer", str(certificate), "-inkey", str(self._key_file)),
                ],
                what="openssl cms -sign",
                stdin=data,
                password=self._password,
            )

    def __repr__(self) -> str:
        return f"OpenSslSigner(key_file={str(self._key_file)!r})"
