"""``bridge serve --sandbox`` for ЕСИА: one sandbox app plays both ЕСИА upstreams (OAuth and the person API,
with the control API of its people store), a sandbox СМЭВ node plays ``smev`` with ЕСИА's reg_service
behind it over the same people store; the bridge gets a client key registered with both (its ЭП-ОВ for
СМЭВ) and trusts their certificates (ЭП-СМЭВ: the node's own key)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.esia.oauth._client import DEFAULT_SCOPES
from adapters.esia.sandbox._accounts import AccountStore
from adapters.esia.sandbox._app import create_sandbox_app
from adapters.esia.sandbox._keys import SandboxKeys
from adapters.esia.sandbox._oauth import SandboxClient, SandboxOAuth
from adapters.esia.sandbox._reg_service import RegService
from bridge.adapters import SandboxPeers
from bridge.signing import SignerConfig, generate_test_key, load_certificate, load_signer
from bridge.smev import SchemaVersion, namespaces
from bridge.smev.sandbox import SandboxNode, create_smev_sandbox_app

CLIENT_ID = "MISBRIDGE"
DEMO_PORTAL = "/esia/demo-portal"
SMEV_UPSTREAM = "smev"
SMEV_SCHEMA: SchemaVersion = "1.2"
SMEV_ENDPOINT = "/smev/v1.2/ws"
REG_SERVICE_DELAY_SECONDS = 1.0  # ЕСИА checks the data in БГИР before it answers; PUT /_sandbox/reg-service to change


def _client_key(directory: Path, subject: str = "/CN=MIS Bridge sandbox client/C=RU") -> tuple[Path, Path]:
    """A GOST test key and certificate, made once and kept."""
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = directory / "client-key.pem", directory / "client-cert.pem"
    if not (key.exists() and certificate.exists()):
        key_pem, certificate_pem = generate_test_key(subject=subject)
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
    accounts = AccountStore()
    reg_service = RegService(accounts, delay_seconds=REG_SERVICE_DELAY_SECONDS)
    app = create_sandbox_app(accounts, oauth=oauth, reg_service=reg_service)
    smev_key, smev_certificate = _client_key(workdir / "smev-node", "/CN=Sandbox SMEV 3 node/C=RU")
    node = SandboxNode(providers={}, registered={load_certificate(certificate)}, clock=lambda: datetime.now(UTC))
    schemas = reg_service.schemas()
    for kind, provider in reg_service.providers().items():
        node.serve(kind, provider, schemas.get(kind))
    smev = create_smev_sandbox_app(
        node, namespaces(SMEV_SCHEMA),
        load_signer(SignerConfig(kind="python", key_file=smev_key, certificate_file=smev_certificate)), SMEV_ENDPOINT,
        also={f"/smev/v{version}/ws": namespaces(version) for version in ("1.1", "1.3")})
    login = {
        "client_id": CLIENT_ID,
        "esia_certificates": [str(trusted.rsa), str(trusted.gost)],
        "signer": {"kind": "python", "key_file": str(key), "certificate_file": str(certificate)},
        "return_urls": [portal_return],
        "callback_url": callback,
        "portal_url": f"{bridge_url}{DEMO_PORTAL}",
        "demo_portal": True,
    }
    smev_node = {
        "upstream": SMEV_UPSTREAM, "schema_version": SMEV_SCHEMA, "endpoint": SMEV_ENDPOINT,
        "signer": {"kind": "python", "key_file": str(key), "certificate_file": str(certificate)},
        "smev_certificates": [str(smev_certificate)],
    }
    return SandboxPeers(apps={"esia": app, "esia-oauth": app, SMEV_UPSTREAM: smev},
                        adapter_settings={"login": login, "smev": smev_node})
