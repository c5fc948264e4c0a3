"""The СМЭВ node's settings as an adapter's configuration section holds them (docs/smev.md, «Настройки»).

An adapter that speaks СМЭВ puts a :class:`SmevNodeSettings` in its own section (e.g.
``adapter_settings.<adapter>.smev``) and calls :func:`bridge.smev.open_exchange`; the core names no peer.
The node's URL is the upstream's ``base_url`` (``upstreams.<upstream>``, default ``smev``), so timeouts,
retries, the breaker and TLS are set where every upstream's are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, Field

from bridge.signing import SignerConfig
from bridge.smev._client import SmevSettings
from bridge.smev._exchange import ExchangeSettings

__all__ = ["SmevNodeSettings", "SmevSignerSettings"]


class SmevSignerSettings(BaseModel):
    """The organisation's ЭП-ОВ key (docs/signing.md): which signer, and its files or container."""

    model_config = {"extra": "forbid"}

    kind: Literal["python", "openssl", "cryptopro"] = "python"
    key_file: Path | None = None
    key_password_file: Path | None = None
    certificate_file: Path | None = None
    container: str | None = None

    def to_config(self) -> SignerConfig:
        password = self.key_password_file.read_text().strip() if self.key_password_file else None
        return SignerConfig(kind=self.kind, key_file=self.key_file, key_password=password,
                            certificate_file=self.certificate_file, container=self.container)


class SmevNodeSettings(BaseModel):
    model_config = {"extra": "forbid"}

    upstream: str = Field(default="smev", description="the upstream whose base_url is the region's СМЭВ node")
    schema_version: Literal["1.1", "1.2", "1.3"] = "1.2"
    endpoint: str = Field(default="/smev/v1.2/ws", description="path of the message-exchange service on the node")
    signer: SmevSignerSettings = Field(default_factory=SmevSignerSettings)
    smev_certificates: list[Path] = Field(
        default_factory=list, description="ЭП-СМЭВ certificates (DER or PEM); an answer signed otherwise is refused")
    test_message: bool = Field(default=False, description="mark requests as TestMessage (the test contour)")
    node_id: str | None = None
    check_validity: bool = True
    answer_keep_seconds: float = Field(default=3600.0, ge=0)
    dead_after_seconds: float = Field(default=86400.0, gt=0)
    send_lease_seconds: float = Field(default=30.0, gt=0)
    resend_pause_seconds: float = Field(default=5.0, ge=0)
    store_poll_seconds: float = Field(default=0.2, gt=0, le=5)
    get_response_pause_seconds: float = Field(default=1.0, gt=0, le=60)
    lease_seconds: float = Field(default=15.0, ge=2)
    retry_after_seconds: int = Field(default=30, ge=1, le=3600)
    purge_after_days: float = Field(default=30.0, gt=0)

    def client_settings(self) -> SmevSettings:
        return SmevSettings(schema_version=self.schema_version, endpoint=self.endpoint,
                            trusted_certificates=tuple(_der(path) for path in self.smev_certificates),
                            test_message=self.test_message, node_id=self.node_id, check_validity=self.check_validity)

    def exchange_settings(self) -> ExchangeSettings:
        return ExchangeSettings(
            answer_keep_seconds=self.answer_keep_seconds, dead_after_seconds=self.dead_after_seconds,
            send_lease_seconds=self.send_lease_seconds, resend_pause_seconds=self.resend_pause_seconds,
            store_poll_seconds=self.store_poll_seconds, get_response_pause_seconds=self.get_response_pause_seconds,
            lease_seconds=self.lease_seconds, retry_after_seconds=self.retry_after_seconds,
            purge_after_days=self.purge_after_days)


def _der(path: Path) -> bytes:
    """A certificate file's DER bytes (a PEM file is decoded)."""
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data
