"""What every signer offers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Signer"]


@runtime_checkable
class Signer(Protocol):
    """A GOST R 34.10-2012 (256) key with its certificate, whichever tool holds the key."""

    certificate_der: bytes
    """The signer's X.509 certificate, DER."""

    def sign_raw(self, data: bytes) -> bytes:
        """64 bytes, OpenSSL layout (``s || r``, big-endian) over Streebog-256 of ``data``.

        What ЕСИА v2/v3 ``client_secret`` is, before base64url.
        """
        ...

    def sign_cms_detached(self, data: bytes) -> bytes:
        """DER CMS SignedData, detached, carrying the certificate: the legacy v1 ``client_secret``."""
        ...
