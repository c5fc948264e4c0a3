"""Choosing and building a signer from configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from bridge.signing._cryptopro import CryptoProSigner
from bridge.signing._errors import SigningError
from bridge.signing._openssl import OpenSslSigner
from bridge.signing._protocol import Signer
from bridge.signing._python import PythonSigner

__all__ = ["SignerConfig", "SignerKind", "load_signer"]

SignerKind = Literal["python", "openssl", "cryptopro"]


@dataclass(frozen=True)
class SignerConfig:
    """Which signer to use and where its key and certificate are.

    - ``python``: ``key_file`` (PKCS#8 PEM/DER, encrypted needs ``key_password``), ``certificate_file``.
    - ``openssl``: the same files, plus ``openssl_path``.
    - ``cryptopro``: ``container`` (CSP container name), ``certificate_file``, optional ``key_password``
      (the container PIN), ``csptest_path`` and ``cryptcp_path``.
    """

    kind: SignerKind
    key_file: Path | None = None
    key_password: SecretStr | str | None = field(default=None, repr=False)
    certificate_file: Path | None = None
    container: str | None = None
    csptest_path: str = "csptest"
    openssl_path: str = "openssl"
    cryptcp_path: str = "cryptcp"

    def password(self) -> str | None:
        """The key password or PIN in clear (``None`` when unset or empty)."""
        value = self.key_password
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return value or None


def _required(value: Path | None, name: str, kind: str) -> Path:
    if value is None:
        raise SigningError(f"signer kind {kind!r} needs {name}")
    return value


def load_signer(config: SignerConfig) -> Signer:
    """Build the signer ``config.kind`` names; its files are read (and the key checked) now."""
    certificate = _required(config.certificate_file, "certificate_file", config.kind)
    if config.kind == "python":
        key = _required(config.key_file, "key_file", config.kind)
        return PythonSigner.from_files(key, certificate, config.password(), openssl_path=config.openssl_path)
    if config.kind == "openssl":
        key = _required(config.key_file, "key_file", config.kind)
        return OpenSslSigner(key, certificate, config.password(), openssl_path=config.openssl_path)
    if config.kind == "cryptopro":
        if not config.container:
            raise SigningError("signer kind 'cryptopro' needs container")
        return CryptoProSigner(
            config.container,
            certificate,
            config.password(),
            csptest_path=config.csptest_path,
            cryptcp_path=config.cryptcp_path,
        )
    raise SigningError(f"unknown signer kind {config.kind!r}; one of python, openssl, cryptopro")
