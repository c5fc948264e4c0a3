"""``bridge serve --sandbox`` for ЕСИА: one sandbox app plays both upstreams, and the bridge
gets a client key registered with it and trusts its certificates."""

from __future__ import annotations

from pathlib import Path

from adapters.esia.oauth._client import DEFAULT_SCOPES
from adapters.esia.sandbox._app import create_sandbox_app
from adapters.esia.sandbox._keys import SandboxKeys
from adapters.esia.sandbox._oauth import SandboxClient, SandboxOAuth
from bridge.adapters import SandboxPeers
from bridge.signing import generate_test_key, load_certificate

CLIENT_ID = "MISBRIDGE"
DEMO_PORTAL = "/esia/demo-portal"


def _client_key(directory: Path) -> tuple[Path, Path]:
    """The bridge's GOST test key and certificate, made once and kept."""
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = directory / "client-key.pem", directory / "client-cert.pem"
    if not (key.exists() and certificate.exists()):
        key_pem, certificate_pem = generate_test_key(subject="/CN=MIS Bridge sandbox client/C=RU")
        key.write_bytes(key_pem)
        key.chmod(0o600)
        certificate.write_bytes(certificate_pem)
    return key, certificate


def sandbox_peers(workdir: Path, bridge_url: str) -> SandboxPeers:
    key, certificate = _client_key(workdir / "client")
    keys = SandboxKeys.load_or_create(workdir / "esia-keys")
    trusted = keys.write_certificates(workdir / "esia-trust")
    callback = f"{bridge_url}/esia/callback"
    portal_return = f"{bridge_url}{DEMO_PORTAL}/return"
    client = SandboxClient(CLIENT_ID, load_certificate(certificate), (callback, portal_return),
                           scopes=DEFAULT_SCOPES, token_alg="GOST3410_2012_256")
    oauth = SandboxOAuth(keys, [client])
    app = create_sandbox_app(oauth=oauth)
    login = {
        "client_id": CLIENT_ID,
        "esia_certificates": [str(trusted.rsa), str(trusted.gost)],
        "signer": {"kind": "python", "key_file": str(key), "certificate_file": str(certificate)},
        "return_urls": [portal_return],
        "callback_url": callback,
        "portal_url": f"{bridge_url}{DEMO_PORTAL}",
        "demo_portal": True,
    }
    return SandboxPeers(apps={"esia": app, "esia-oauth": app}, adapter_settings={"login": login})
