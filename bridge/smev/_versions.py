"""The message-exchange schema versions a СМЭВ node may run, and their namespaces.

The region's node runs one of them (the URL says it: ``…/smev/v1.2/ws``); the bridge speaks the one
configured. Namespaces as in the schemas (magpie-crow/mimic-smev3 ``schema/v1`` for 1.1, ``schema/v3``
for 1.3; 1.2 as in Smev3Sharp's recorded messages): ``urn://x-artefacts-smev-gov-ru/services/
message-exchange/{types,types/basic,types/faults}/<version>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FAULTS_PREFIX", "SOAP_ENV", "Namespaces", "SchemaVersion", "namespaces"]

SchemaVersion = Literal["1.1", "1.2", "1.3"]
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_BASE = "urn://x-artefacts-smev-gov-ru/services/message-exchange"
FAULTS_PREFIX = f"{_BASE}/types/faults/"


@dataclass(frozen=True)
class Namespaces:
    version: SchemaVersion
    service: str
    types: str
    basic: str
    faults: str


def namespaces(version: SchemaVersion) -> Namespaces:
    if version not in ("1.1", "1.2", "1.3"):
        raise ValueError(f"unknown СМЭВ message-exchange schema version {version!r} (1.1, 1.2 or 1.3)")
    return Namespaces(version, f"{_BASE}/{version}", f"{_BASE}/types/{version}", f"{_BASE}/types/basic/{version}",
                      f"{_BASE}/types/faults/{version}")
