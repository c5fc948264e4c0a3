"""The pure-Python signer: gostcrypto for the arithmetic, asn1crypto for the CMS."""

from __future__ import annotations

from pathlib import Path

from bridge.signing._asn1 import GostPrivateKey
from bridge.signing._certs import certificate_public_key, load_certificate
from bridge.signing._cms import build_detached
from bridge.signing._errors import SigningError
from bridge.signing._gost import public_key_from_private, sign_digest, streebog256
from bridge.signing._keys import load_private_key

__all__ = ["PythonSigner"]


class PythonSigner:
    """Signs in-process with a key read from a PKCS#8 file (see :func:`bridge.signing.load_signer`).

    No external tool is needed for plain keys; an encrypted key file is decrypted once, at load,
    by ``openssl pkcs8``. gostcrypto gives no constant-time guarantee: fine for tests and the ЕСИА
    test contour, not a certified cryptographic provider (docs/signing.md).
    """

    def __init__(self, private_key: GostPrivateKey, certificate_der: bytes) -> None:
        public = certificate_public_key(certificate_der)
        if public.curve_oid != private_key.curve_oid or (public.x, public.y) != public_key_from_private(
            private_key.curve_oid, private_key.scalar
        ):
            raise SigningError("the certificate does not belong to the private key")
        self.certificate_der = certificate_der
        self._key = private_key

    @classmethod
    def from_files(
        cls,
        key_file: Path,
        certificate_file: Path,
        password: str | None = None,
        *,
        openssl_path: str = "openssl",
    ) -> PythonSigner:
        """Load a PKCS#8 key file (PEM/DER, plain or encrypted) and its certificate (PEM/DER)."""
        certificate = load_certificate(certificate_file)
        key = load_private_key(key_file, password, openssl_path=openssl_path)
        return cls(key, certificate)

    def sign_raw(self, data: bytes) -> bytes:
        """64 bytes ``s || r`` over Streebog-256 of ``data`` (esia.md §6.3 recipe)."""
        return sign_digest(self._key.curve_oid, self._key.scalar, streebog256(data))

    def sign_cms_detached(self, data: bytes) -> bytes:
        """Detached CMS SignedData without signed attributes (like ``openssl cms -sign -noattr``)."""
        return build_detached(self.certificate_der, data, self.sign_raw)

    def __repr__(self) -> str:
        return f"PythonSigner(curve={self._key.curve_oid})"
