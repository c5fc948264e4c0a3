"""GOST R 34.10-2012 (256) signing for any upstream that authenticates the bridge by it: three
interchangeable signers and pure-Python checks. The core names no peer; the formats below are the
ones an adapter needs (the ЕСИА adapter's OAuth client is the first user: its recipes are cited as
esia.md §…, the reference they come from), and nothing here knows which adapter asks.

An adapter uses::

    signer = load_signer(SignerConfig(kind="python", key_file=Path("key.pem"), certificate_file=Path("cert.pem")))
    secret = base64url(signer.sign_raw(message.encode()))             # a raw s||r signature (ЕСИА v2/ac, v3/te)
    fingerprint = certificate_hash(signer.certificate_der)             # Streebog-256 of the certificate, hex
    detached = base64url(signer.sign_cms_detached(message.encode()))  # detached CMS (ЕСИА v1 /aas/oauth2/ac)

Signers: :class:`PythonSigner` (gostcrypto, in-process), :class:`OpenSslSigner` (openssl + gost-engine),
:class:`CryptoProSigner` (csptest/cryptcp; the certified CSP production needs). All return raw
signatures in OpenSSL's layout, ``s || r`` big-endian. See docs/signing.md.
"""

from bridge.signing._certs import (
    certificate_hash,
    certificate_not_after,
    certificate_subject,
    load_certificate,
    verify_raw,
)
from bridge.signing._cms import verify_cms_detached
from bridge.signing._config import SignerConfig, SignerKind, load_signer
from bridge.signing._cryptopro import CryptoProSigner
from bridge.signing._errors import SigningError
from bridge.signing._gost import base64url, streebog256
from bridge.signing._metrics import observe_certificate
from bridge.signing._openssl import OpenSslSigner
from bridge.signing._opensslcli import check_gost_engine, generate_test_key
from bridge.signing._permissions import key_file_warnings, secret_files
from bridge.signing._protocol import Signer
from bridge.signing._python import PythonSigner

__all__ = [
    "CryptoProSigner",
    "OpenSslSigner",
    "PythonSigner",
    "Signer",
    "SignerConfig",
    "SignerKind",
    "SigningError",
    "base64url",
    "certificate_hash",
    "certificate_not_after",
    "certificate_subject",
    "check_gost_engine",
    "generate_test_key",
    "key_file_warnings",
    "load_certificate",
    "load_signer",
    "observe_certificate",
    "secret_files",
    "streebog256",
    "verify_cms_detached",
    "verify_raw",
]
