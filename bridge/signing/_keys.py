"""Reading GOST private key files: PKCS#8, PEM or DER, plain or password-protected.

Plain keys are parsed in pure Python. An encrypted PKCS#8 (PBES2) is decrypted by ``openssl pkcs8``
with the GOST engine into memory: OpenSSL's default is AES-256-CBC and gost-engine's own choices are
Kuznyechik/Magma in CTR-ACPKM mode or GOST 28147-89, none of which the pure-Python stack here
(gostcrypto, asn1crypto, hashlib) can decrypt. The password reaches openssl through an environment
variable, never the command line; the decrypted key never touches the disk.
"""

from __future__ import annotations

from pathlib import Path

from asn1crypto import keys, pem  # type: ignore[import-untyped]

from bridge.signing._asn1 import GostPrivateKey, parse_private_key
from bridge.signing._errors import SigningError
from bridge.signing._opensslcli import OpenSsl

__all__ = ["load_private_key"]


def _is_encrypted_der(der: bytes) -> bool:
    try:
        info = keys.EncryptedPrivateKeyInfo.load(der, strict=True)
        _ = info["encryption_algorithm"]["algorithm"].native
        return isinstance(info["encrypted_data"].native, bytes)
    except (ValueError, TypeError, KeyError):
        return False


def _decrypt_with_openssl(path: Path, der: bytes, password: str, openssl_path: str) -> bytes:
    openssl = OpenSsl(openssl_path)
    with openssl.workdir() as workdir:
        decrypted = openssl.run(
            workdir,
            ["pkcs8", "-inform", "DER", "-outform", "DER"],
            what=f"decrypting {path} (openssl pkcs8; wrong password?)",
            stdin=der,
            password=password,
        )
    return decrypted


def load_private_key(path: Path, password: str | None = None, *, openssl_path: str = "openssl") -> GostPrivateKey:
    """Read a GOST R 34.10-2012 (256) private key from a PKCS#8 file (PEM or DER, optionally encrypted)."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read private key {path}: {exc.strerror}") from None
    kind = "PRIVATE KEY"
    if pem.detect(content):
        try:
            kind, _headers, content = pem.unarmor(content)
        except ValueError as exc:
            raise SigningError(f"{path}: malformed PEM") from exc
        if kind not in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
            raise SigningError(f"{path}: PEM block is {kind!r}; expected a PKCS#8 PRIVATE KEY")
    elif _is_encrypted_der(content):
        kind = "ENCRYPTED PRIVATE KEY"
    if kind == "ENCRYPTED PRIVATE KEY":
        if not password:
            raise SigningError(f"{path}: the private key is encrypted and no key_password is configured")
        content = _decrypt_with_openssl(path, bytes(content), password, openssl_path)
    return parse_private_key(bytes(content), what=str(path))
