"""Settings of the ЕСИА adapter (section ``adapter_settings.esia`` of the config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from adapters.esia._client import Routing
from adapters.esia.oauth._client import DEFAULT_SCOPES
from bridge.signing import SignerConfig
from bridge.smev import SmevNodeSettings


class SignerSettings(BaseModel):
    """Which GOST signer makes the client_secret (docs/signing.md)."""

    model_config = {"extra": "forbid"}

    kind: Literal["python", "openssl", "cryptopro"] = "python"
    key_file: Path | None = None
    key_password_file: Path | None = None
    certificate_file: Path | None = None
    container: str | None = None           # CryptoPro container name

    def to_config(self) -> SignerConfig:
        password = self.key_password_file.read_text().strip() if self.key_password_file else None
        return SignerConfig(kind=self.kind, key_file=self.key_file, key_password=password,
                            certificate_file=self.certificate_file, container=self.container)


class LoginSettings(BaseModel):
    """ЕСИА login (OAuth 2.0 / OIDC) for the МИС and the portal."""

    model_config = {"extra": "forbid"}

    client_id: str = Field(min_length=1, description="the ИС mnemonic registered in ЕСИА")
    issuer: str = "http://esia-portal1.test.gosuslugi.ru/"
    esia_url: str | None = Field(None, description="ЕСИА as browsers reach it; default: upstreams.esia-oauth")
    esia_certificates: list[Path] = Field(min_length=1, description="ЕСИА's certificates to verify tokens")
    signer: SignerSettings = Field(default_factory=SignerSettings)
    scopes: list[str] = Field(default_factory=lambda: list(DEFAULT_SCOPES))
    scope_org: str = ""
    access_type: Literal["online", "offline"] = "offline"
    person_filter: str | None = None
    permissions: list[dict[str, Any]] | None = Field(None, description="digital-profile consents, esia.md §3.3")
    legacy_v1: bool = False
    return_urls: list[str] = Field(default_factory=list, description="return URLs the МИС may ask for")
    callback_url: str | None = Field(None, description="public URL of this bridge's /esia/callback")
    portal_url: str | None = Field(None, description="where the browser goes with its ticket")
    demo_portal: bool = Field(False, description="serve /esia/demo-portal, a stand-in portal (sandbox only)")
    state_ttl_seconds: int = Field(600, ge=30, le=3600)
    ticket_ttl_seconds: int = Field(120, ge=10, le=900)

    def allowed_return_urls(self) -> tuple[str, ...]:
        return tuple(self.return_urls) + ((self.callback_url,) if self.callback_url else ())


class EsiaSettings(BaseModel):
    model_config = {"extra": "forbid"}

    routing_code: str = Field("DEV", description="СМЭВ EnvType: DEV, UAT, TESIA, TCOD or PROD")
    # The service-centre operator's SNILS (xxx-xxx-xxx xx) and the centre's ЕСИА oid.
    # The default is the ЕСИА test stand's operator from public СМЭВ samples.
    operator_snils: SecretStr = SecretStr("000-000-600 06")
    ra: int = Field(1000000001, gt=0)
    answer_wait_seconds: float = Field(
        20.0, gt=0, le=300, description="how long a МИС call waits for ЕСИА's answer before «повторите через N с»")
    smev: SmevNodeSettings | None = Field(
        None, description="the СМЭВ 3 node the account operations go through (docs/smev.md)")
    login: LoginSettings | None = None

    @field_validator("routing_code")
    @classmethod
    def _routing(cls, value: str) -> str:
        if value not in {"DEV", "UAT", "TESIA", "TCOD", "PROD"}:
            raise ValueError("must be one of DEV, UAT, TESIA, TCOD, PROD")
        return value

    def routing(self) -> Routing:
        return Routing(self.routing_code, self.operator_snils.get_secret_value(), self.ra)

