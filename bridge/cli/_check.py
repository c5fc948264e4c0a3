"""`bridge check`: every problem in config, mappings and WSDL, each with where it is."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bridge.adapters import load_adapter
from bridge.cli._contracts import drift
from bridge.cli._serve import with_sandbox_upstreams
from bridge.config import ConfigError, Settings, upstream_url_hint
from bridge.delivery import TlsSetupError
from bridge.delivery._tls import check_chain, ssl_context
from bridge.mapping import check_directory
from bridge.signing import key_file_warnings, secret_files
from bridge.yamlfile import YamlDocument, load_yaml


def _where(doc: YamlDocument | None, path: tuple[str, ...]) -> str:
    """``file:line: `` of a setting in the YAML file, when it is there."""
    if doc is None:
        return ""
    line = doc.line_of(path) or doc.line_of(path[:2])
    return f"{doc.file}:{line}: " if line else ""


def check_all(settings: Settings, config_file: Path | None = None) -> list[str]:
    problems: list[str] = []
    doc = load_yaml(config_file) if config_file is not None and config_file.exists() else None
    if settings.sandbox:   # check what `serve --sandbox` would run: the sandboxes' settings merged in
        try:
            settings = with_sandbox_upstreams(settings)[0]
        except ConfigError as exc:   # an adapter that cannot be loaded: nothing more to check
            return exc.problems
    for name in settings.adapters:
        try:
            adapter = load_adapter(name)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        section = settings.adapter_settings.get(name, {})
        for problem in adapter.check_settings(section):
            field = problem.split(":", 1)[0]
            where = _where(doc, ("adapter_settings", name, *field.split(".")))
            problems.append(f"{where}adapter_settings.{name}.{problem}")
        if not settings.sandbox:
            for upstream in adapter.required_upstreams(section):
                if upstream not in settings.upstreams:
                    problems.append(f"upstreams.{upstream}.base_url: required by adapter '{name}': set it in "
                                    f"{upstream_url_hint(upstream)}, or use the sandbox peers "
                                    "(`bridge serve --sandbox`; check that with BRIDGE_SANDBOX=true)")
    problems.extend(f"{_where(doc, ('database_url',))}{p}" for p in store_problems(settings.database_url))
    if not settings.sandbox:
        problems.extend(_tls_problems(settings))
    problems.extend(str(p) for p in check_directory(settings.mappings_dir))
    if not problems:
        problems.extend(drift(settings))
    return problems


def _tls_problems(settings: Settings) -> list[str]:
    """TLS files that cannot be used (a CA file that is no certificate, a key that is not the certificate's)."""
    problems = []
    for name, upstream in settings.upstreams.items():
        trust = upstream.tls_trust()
        if trust is not None:
            try:
                ssl_context(trust, name)
            except TlsSetupError as exc:
                problems.append(str(exc))
    return problems


def store_problems(url: str) -> list[str]:
    """What keeps the store from opening at start-up: a SQLite file's directory that cannot be
    made or written, a server that does not answer (within 5 s) or refuses the user."""
    parsed = make_url(url)   # the settings parsed it already
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return []
        folder = Path(parsed.database).resolve().parent
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            return [f"database_url: cannot create or write the SQLite file's directory {folder} "
                    f"({existing} is not a writable directory)"]
        return []
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return [f"database_url: {parsed.render_as_string(hide_password=True)} cannot be used: {reason}"]
    finally:
        engine.dispose()
    return []


def check_warnings(settings: Settings, connect: bool = True) -> list[str]:
    """What is allowed but unsafe in production: said, not failed.

    With ``connect``, every https upstream is reached once to see that its certificate chain can be
    built with the trust it is configured with (``ca_file``, the default bundle, its proxy).
    """

    tree = settings.model_dump()
    named = secret_files(tree)
    for name, upstream in settings.upstreams.items():       # the upstreams' client keys, by their setting
        if upstream.client_key is not None:
            named[f"upstreams.{name}.client_key"] = upstream.client_key
    warnings = key_file_warnings(named)
    if connect and not settings.sandbox:
        for name, upstream in settings.upstreams.items():
            problem = check_chain(name, upstream.base_url, upstream.tls_trust(), upstream.connect_timeout + 3)
            if problem is not None:
                warnings.append(problem)
    if not settings.sandbox:
        if not settings.clients:
            warnings.append("clients: no МИС clients configured: the SOAP faces accept any caller as 'anonymous' "
                            "(docs/security.md)")
        if settings.metrics_token_value() is None:
            warnings.append("metrics_token_file: not set: /metrics is readable by anyone who reaches the bridge")
    return warnings
