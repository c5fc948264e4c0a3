"""Settings of one bridge instance.

Precedence, highest first: BRIDGE_* environment variables (nested with ``__``, e.g.
``BRIDGE_UPSTREAMS__ESIA__BASE_URL``), the YAML file named by ``--config`` or
``BRIDGE_CONFIG``, then defaults. Secrets (``*_file`` settings) are read from files so
they never sit in the YAML or the repository.
"""

from __future__ import annotations

import difflib
import importlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from bridge.clock import Clock, FileClock, system_clock
from bridge.delivery import RetryPolicy, Timeouts, TlsTrust, UpstreamConfig
from bridge.yamlfile import YamlDocument, YamlFileError, load_yaml

ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """Configuration that cannot be used; ``problems`` lists file:line: field: reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UpstreamSettings(BaseModel):
    model_config = {"extra": "forbid"}

    base_url: str
    connect_timeout: float = Field(2.0, gt=0)
    read_timeout: float = Field(10.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_initial: float = Field(0.1, ge=0)
    backoff_max: float = Field(2.0, ge=0)
    retry_budget_seconds: float = Field(15.0, gt=0)
    circuit_fail_max: int = Field(5, ge=1)
    circuit_reset_seconds: float = Field(30.0, gt=0)
    max_connections: int = Field(50, ge=1)
    # TLS trust and egress (docs/operations.md, "TLS trust per upstream"): files, read when the upstream is made.
    ca_file: Path | None = None                 # PEM CA(s), added to the default bundle…
    ca_file_only: bool = False                  # …or trusted alone
    client_certificate: Path | None = None      # PEM certificate (+ chain) presented to the upstream
    client_key: Path | None = None              # its PEM private key (chmod 600)
    client_key_password_file: Path | None = None
    proxy: str | None = None                    # egress proxy URL, http://host:port (no password in it)
    proxy_password_file: Path | None = None     # the password of the proxy URL's user

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> UpstreamSettings:
        if (self.client_certificate is None) != (self.client_key is None):
            raise ValueError("client_certificate and client_key go together")
        if self.ca_file_only and self.ca_file is None:
            raise ValueError("ca_file_only needs ca_file")
        for setting in ("ca_file", "client_certificate", "client_key", "client_key_password_file",
                        "proxy_password_file"):
            path = getattr(self, setting)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{setting}: {path}: no such file")
        return self

    def tls_trust(self) -> TlsTrust | None:
        if (self.ca_file is None and self.client_certificate is None and self.proxy is None):
            return None
        return TlsTrust(ca_file=self.ca_file, ca_file_only=self.ca_file_only,
                        client_certificate=self.client_certificate, client_key=self.client_key,
                        client_key_password_file=self.client_key_password_file, proxy=self.proxy,
                        proxy_password_file=self.proxy_password_file)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def to_upstream_config(self, name: str) -> UpstreamConfig:
        return UpstreamConfig(
            name=name,
            base_url=self.base_url,
            timeouts=Timeouts(connect=self.connect_timeout, read=self.read_timeout),
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                backoff_initial=self.backoff_initial,
                backoff_max=self.backoff_max,
                budget_seconds=self.retry_budget_seconds,
            ),
            circuit_fail_max=self.circuit_fail_max,
            circuit_reset_seconds=self.circuit_reset_seconds,
            max_connections=self.max_connections,
            tls=self.tls_trust(),
        )


class ClientSettings(BaseModel):
    """A МИС allowed to call the SOAP faces (docs/security.md)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    username: str | None = None                      # WS-Security UsernameToken
    password: SecretStr | None = None
    password_file: Path | None = None
    certificate_sha256: str | None = Field(None, pattern=r"^[0-9A-Fa-f:]{64,95}$")   # TLS client certificate
    allow_ips: list[str] = Field(default_factory=list)  # CIDRs; empty: any address
    mos: list[str] | None = None                      # MO OIDs it acts for; None: all the bridge serves
    rate_per_second: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _credentials(self) -> ClientSettings:
        if self.username is None and self.certificate_sha256 is None:
            raise ValueError("give username (+ password_file) or certificate_sha256")
        if self.username is not None and self.password is None and self.password_file is None:
            raise ValueError("username needs password_file (or password)")
        for network in self.allow_ips:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"allow_ips: {network!r} is not an address or CIDR") from None
        return self

    @field_validator("password_file")
    @classmethod
    def _password_file_readable(cls, value: Path | None) -> Path | None:
        return _readable_file(value)

    def password_value(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password.get_secret_value() if self.password is not None else None


def _default_adapters() -> list[str]:
    """What runs when the configuration names no adapters: the list the ``adapters`` package declares."""
    return list(getattr(importlib.import_module("adapters"), "DEFAULT", ()))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    log_level: str = "INFO"
    database_url: str = "sqlite:///var/bridge.db"
    wsdl_dir: Path = ROOT / "wsdl"
    mappings_dir: Path = ROOT / "mappings"
    adapters: list[str] = Field(default_factory=_default_adapters)
    upstreams: dict[str, UpstreamSettings] = Field(default_factory=dict)
    # Per-adapter settings, validated by each adapter's own model.
    adapter_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Key for pseudonyms of identifiers kept in the store (HMAC), never the identifiers.
    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path | None = None
    outbox_workers: int = Field(2, ge=0, le=32, description="delivery workers per instance (0: none)")
    outbox_max_attempts: int = Field(12, ge=1, le=100)
    outbox_backoff_initial: float = Field(1.0, gt=0)
    outbox_backoff_max: float = Field(300.0, gt=0)
    scheduler: bool = Field(True, description="run scheduled jobs on this instance")
    shutdown_seconds: float = Field(10.0, gt=0, description="how long to wait on SIGTERM for the deliveries under way")
    # SOAP calls in flight per worker (docs/operations.md "Capacity"): threads started as needed, up to
    # soap_threads; when all are busy, at most soap_waiting calls queue, the next gets Server.Busy.
    soap_threads: int = Field(64, ge=1, le=4096, description="most SOAP calls running at once per worker")
    soap_waiting: int = Field(1024, ge=0, le=100_000, description="most SOAP calls queued per worker, all threads busy")
    # A call waiting for a СМЭВ answer parks (bridge/parking.py): it holds no thread while it waits.
    soap_parked: int = Field(4096, ge=0, le=100_000,
                             description="most SOAP calls per worker parked on an upstream's answer without a "
                                         "thread (0: none park); beyond it a call waits in its thread")
    sandbox: bool = False
    sandbox_host: str = "127.0.0.1"
    # The sandbox peers' first port (each further peer one up); unset: free ports the system picks,
    # logged as sandbox.peer and written into the upstreams the bridge uses (docs/operations.md).
    sandbox_base_port: int | None = Field(None, ge=1, le=65500)
    sandbox_dir: Path = Path("var") / "sandbox"   # sandbox keys and certificates
    # Who may call: МИС clients (none: anyone — development only), proxies whose forwarding headers count.
    clients: list[ClientSettings] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    ws_security_window_seconds: int = Field(300, ge=30, le=3600)
    # Admin API (/admin/*) and /metrics: a bearer token each; without one, admin answers loopback only.
    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None
    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None
    audit_retention_days: int = Field(365, ge=1, le=3650)
    # Tests only: shift the bridge's clock by the offset in this file (bridge.clock.FileClock).
    test_clock_file: Path | None = None

    @model_validator(mode="after")
    def _test_clock_only_against_sandboxes(self) -> Settings:
        if self.test_clock_file is None or self.sandbox:   # serve --sandbox points every upstream at a sandbox
            return self
        remote = sorted(name for name, up in self.upstreams.items()
                        if urlsplit(up.base_url).hostname not in ("127.0.0.1", "localhost", "::1"))
        if remote:
            raise ValueError("test_clock_file: a shifted clock is for tests against loopback sandboxes only; "
                             f"upstreams not on loopback: {', '.join(remote)}")
        return self

    def admin_token_value(self) -> str | None:
        return _secret_value(self.admin_token, self.admin_token_file)

    def metrics_token_value(self) -> str | None:
        return _secret_value(self.metrics_token, self.metrics_token_file)

    def clock(self) -> Clock:
        return system_clock if self.test_clock_file is None else FileClock(self.test_clock_file)

    @field_validator("pseudonym_key_file", "admin_token_file", "metrics_token_file")
    @classmethod
    def _secret_file_readable(cls, value: Path | None) -> Path | None:
        return _readable_file(value)

    @field_validator("database_url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        """A URL SQLAlchemy can parse and has a dialect for (the store opens it at start-up)."""
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL; expected e.g. sqlite:///var/bridge.db or "
                             "postgresql://user@host:5432/name") from None
        if url.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite:/// or postgresql://")
        try:
            url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(f"no driver for {url.drivername!r}: use sqlite:/// or postgresql://") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the YAML file, which comes in as init values.
        return (env_settings, init_settings, file_secret_settings)

    def pseudonym_secret(self) -> bytes:
        """The HMAC key for pseudonyms: from the file, the setting, or a dev key in var/."""
        if self.pseudonym_key_file is not None:
            return self.pseudonym_key_file.read_bytes().strip()
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        dev_key = Path("var") / "pseudonym.key"  # beside the default SQLite store
        if not dev_key.exists():
            dev_key.parent.mkdir(parents=True, exist_ok=True)
            dev_key.write_bytes(os.urandom(32).hex().encode())
            dev_key.chmod(0o600)
        return dev_key.read_bytes().strip()

    def upstream(self, name: str) -> UpstreamConfig:
        if name not in self.upstreams:
            raise ConfigError([f"upstreams.{name}.base_url: not set; set it in "
                               f"{upstream_url_hint(name)}, or use the sandbox peers "
                               "(`bridge serve --sandbox`, BRIDGE_SANDBOX=true)"])
        return self.upstreams[name].to_upstream_config(name)


def config_file_from_env() -> Path | None:
    return Path(os.environ["BRIDGE_CONFIG"]) if "BRIDGE_CONFIG" in os.environ else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the YAML file (if any) and the environment.

    Raises ConfigError whose lines name the file, the line and the field.
    """
    config_file = config_file or config_file_from_env()
    values: dict[str, Any] = {}
    doc = None
    if config_file is not None:
        try:
            doc = load_yaml(config_file)
        except YamlFileError as exc:
            raise ConfigError([str(exc)]) from None
        except OSError as exc:
            raise ConfigError([f"{config_file}: {exc.strerror or exc} (the file named by --config or "
                               "BRIDGE_CONFIG)"]) from None
        if doc.data is not None and not isinstance(doc.data, dict):
            raise ConfigError([f"{config_file}:1: the file must be a mapping of settings"])
        values.update(doc.data or {})
    values.update(overrides)
    secrets_dir = os.environ.get("BRIDGE_SECRETS_DIR")
    if secrets_dir:
        # Files named like the environment variables (bridge_pseudonym_key), as Docker/K8s secrets.
        values["_secrets_dir"] = secrets_dir
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field_name = ".".join(str(p) for p in loc)
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = _not_a_setting(str(loc[-1]))
            problems.append(f"{_origin(loc, config_file, doc, overrides)}: {field_name}: {reason}")
        raise ConfigError(problems) from None


def _not_a_setting(name: str) -> str:
    """What to say of an unknown key: a typo of a setting, most often."""
    known = {*Settings.model_fields, *UpstreamSettings.model_fields, *ClientSettings.model_fields}
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"not a setting; did you mean {close[0]}?" if close else "not a setting of the bridge"


def _env_name(loc: tuple[Any, ...]) -> str:
    return "BRIDGE_" + "__".join(str(part).upper() for part in loc)


_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def upstream_url_hint(name: str) -> str:
    """Where to set ``upstreams.<name>.base_url``: the file, or a variable an ops engineer can export.

    pydantic-settings reads ``BRIDGE_UPSTREAMS__ESIA-OAUTH__BASE_URL``, but no POSIX shell can export
    a name with a dash (nor can systemd's ``Environment=``): for such an upstream the hint names the
    JSON form of the whole ``upstreams`` setting, which pydantic-settings merges with the file's."""
    variable = _env_name(("upstreams", name, "base_url"))
    if _SHELL_NAME.fullmatch(variable):
        return f"the config file or {variable}"
    return (f"the config file (upstreams: {name}: base_url: …) or, as no shell can export a variable "
            f"named with '{name}', BRIDGE_UPSTREAMS='{{\"{name}\": {{\"base_url\": \"https://…\"}}}}'")


def _origin(loc: tuple[Any, ...], config_file: Path | None, doc: YamlDocument | None,
            overrides: dict[str, Any]) -> str:
    """Where a setting's value came from, in the precedence order: the environment variable,
    the command line, the YAML file (file:line), else the default."""
    for depth in range(len(loc), 0, -1):
        if _env_name(loc[:depth]) in os.environ:
            return f"environment {_env_name(loc[:depth])}"
    if loc and loc[0] in overrides:
        return f"command line --{str(loc[0]).replace('_', '-')}"
    if doc is not None and config_file is not None:
        line = doc.line_of(loc) or doc.line_of(loc[:1])
        if line is not None:
            return f"{config_file}:{line}"
    return "default"


def _readable_file(path: Path | None) -> Path | None:
    """A secret file must be there when the bridge starts (it is read then, not at the first call)."""
    if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
        raise ValueError(f"{path} is not a readable file")
    return path


def _secret_value(value: SecretStr | None, path: Path | None) -> str | None:
    if path is not None:
        return path.read_text(encoding="utf-8").strip() or None
    return value.get_secret_value() if value is not None else None
