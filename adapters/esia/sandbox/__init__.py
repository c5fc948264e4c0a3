"""The sandbox ЕСИА: plays the upstream on loopback for development, demos and tests."""

from adapters.esia.sandbox._accounts import AccountStore
from adapters.esia.sandbox._app import create_sandbox_app
from adapters.esia.sandbox._consent import consent
from adapters.esia.sandbox._keys import SandboxCertificates, SandboxKeys
from adapters.esia.sandbox._oauth import DEFAULT_ISSUER, DEFAULT_SCOPES, SandboxClient, SandboxOAuth
from adapters.esia.sandbox._peers import DEMO_PORTAL, sandbox_peers
from adapters.esia.sandbox._people import PEOPLE, Person
from adapters.esia.sandbox._reg_service import RegService

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_SCOPES",
    "DEMO_PORTAL",
    "PEOPLE",
    "AccountStore",
    "Person",
    "RegService",
    "SandboxCertificates",
    "SandboxClient",
    "SandboxKeys",
    "SandboxOAuth",
    "consent",
    "create_sandbox_app",
    "sandbox_peers",
]
